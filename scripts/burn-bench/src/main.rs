//! burn's figures for the shapes of wgnn's `cargo bench`: matmul 1024^3 and conv2d 3x3 (batch 32,
//! stride 1, padding 1) forward, and forward + both gradients two ways (burn's autodiff through
//! `sum(y * dy)`, and the three module ops called directly). Wall-clock medians of 3 after 3
//! warm-up calls (burn autotunes in those), each around a device sync.

use std::time::Instant;

use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, DeviceKind, Distribution, Tensor};

const WARM_UP: usize = 3;
const RUNS: usize = 3;
const BATCH: usize = 32;

/// Median seconds of `f` followed by a sync of `device`.
fn time(device: &Device, mut f: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        f();
        device.sync().expect("sync");
    }
    let mut secs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            device.sync().expect("sync");
            start.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    secs[RUNS / 2]
}

fn report(name: &str, flops: f64, secs: f64) {
    println!(
        "burn {name:<40} {:>9.2} ms {:>8.2} GFLOP/s",
        secs * 1e3,
        flops / secs / 1e9
    );
}

fn main() {
    let filter = std::env::var("FILTER").unwrap_or_default();
    let device = Device::wgpu(DeviceKind::Cpu);
    let autodiff = device.clone().autodiff();
    let random4 =
        |shape: [usize; 4], d: &Device| Tensor::<4>::random(shape, Distribution::Default, d);

    if "matmul 1024^3".contains(&filter) {
        let n = 1024;
        let a = Tensor::<2>::random([n, n], Distribution::Default, &device);
        let b = Tensor::<2>::random([n, n], Distribution::Default, &device);
        let secs = time(&device, || drop(a.clone().matmul(b.clone())));
        report("matmul 1024^3", 2.0 * (n * n * n) as f64, secs);
    }
    let conv = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let transposed = ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1);
    for (c, hw) in [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)] {
        let shape = format!("{c}->{c} @{hw}x{hw}");
        if !shape.contains(&filter) {
            continue;
        }
        let flops = 2.0 * (BATCH * c * hw * hw * c * 9) as f64;
        let x = random4([BATCH, c, hw, hw], &device);
        let w = random4([c, c, 3, 3], &device);
        let b = Tensor::<1>::random([c], Distribution::Default, &device);
        let dy = random4([BATCH, c, hw, hw], &device);
        let secs = time(&device, || {
            drop(conv2d(x.clone(), w.clone(), Some(b.clone()), conv.clone()))
        });
        report(&format!("conv2d 3x3 forward {shape}"), flops, secs);

        let secs = time(&device, || {
            drop(conv2d(x.clone(), w.clone(), Some(b.clone()), conv.clone()));
            drop(conv_transpose2d(
                dy.clone(),
                w.clone(),
                None,
                transposed.clone(),
            ));
            drop(conv2d_weight_backward(
                x.clone(),
                w.clone(),
                dy.clone(),
                conv.clone(),
            ));
        });
        report(
            &format!("conv2d 3x3 fwd+bwd (ops) {shape}"),
            3.0 * flops,
            secs,
        );

        let (xa, wa, dya) = (
            random4([BATCH, c, hw, hw], &autodiff),
            random4([c, c, 3, 3], &autodiff),
            random4([BATCH, c, hw, hw], &autodiff),
        );
        let ba = Tensor::<1>::random([c], Distribution::Default, &autodiff);
        let secs = time(&autodiff, || {
            let (xr, wr) = (xa.clone().require_grad(), wa.clone().require_grad());
            let y = conv2d(xr.clone(), wr.clone(), Some(ba.clone()), conv.clone());
            let grads = (y * dya.clone()).sum().backward();
            drop((xr.grad(&grads), wr.grad(&grads)));
        });
        report(
            &format!("conv2d 3x3 fwd+bwd (autodiff) {shape}"),
            3.0 * flops,
            secs,
        );
    }
}
