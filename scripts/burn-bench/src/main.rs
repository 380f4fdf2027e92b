//! burn's figures for the shapes of wgnn's `cargo bench`: matmul 1024^3 and conv2d 3x3 (batch 32,
//! stride 1, padding 1) forward, and forward + both gradients two ways (burn's autodiff through
//! `sum(y * dy)`, and the three module ops called directly). Wall-clock medians of 3 after 3
//! warm-up calls (burn autotunes in those), each around a device sync.
//!
//! Then `wgnn bench`'s whole steps for VGG16-bn (batch 32 at 32x32, 50 classes) and FCN32s
//! (batch 2 at 128x128, 7 classes), in images/s: a training step (forward, mean cross-entropy on
//! random labels, backward, SGD update) and inference (forward without autodiff), medians of 3
//! after 2 warm-up steps, each followed by a device sync.

mod models;

use std::time::Instant;

use burn::nn::loss::CrossEntropyLoss;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, DeviceKind, Distribution, Int, Tensor};

use models::{Classifier, Fcn32s, Vgg16Bn};

const WARM_UP: usize = 3;
const MODEL_WARM_UP: usize = 2;
const RUNS: usize = 3;
const BATCH: usize = 32;
/// `wgnn bench`'s learning rate.
const LR: f64 = 1e-4;

/// Median seconds of `f` followed by a sync of `device`, after `warm_up` such calls.
fn time(device: &Device, warm_up: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm_up {
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

fn report_images(name: &str, batch: usize, secs: f64) {
    println!(
        "burn {name:<40} {:>9.2} ms/step {:>8.2} images/s",
        secs * 1e3,
        batch as f64 / secs
    );
}

/// SGD as `wgnn bench` (and PyTorch's `SGD(lr, momentum=0.9, weight_decay=5e-4)`) steps:
/// no dampening, the decay added to the gradient before momentum.
fn sgd() -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new().with_momentum(0.9).with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init()
}

/// `wgnn bench`'s training and inference speed of model `M` for `classes` classes at `batch`
/// random images of `size` x `size`: the lines whose name contains `filter`.
fn bench_model<M: Classifier>(
    device: &Device,
    filter: &str,
    name: &str,
    classes: usize,
    [batch, size]: [usize; 2],
) {
    let train_name = format!("{name} train batch {batch} @{size}x{size}");
    let inference_name = format!("{name} inference batch {batch} @{size}x{size}");
    if !train_name.contains(filter) && !inference_name.contains(filter) {
        return;
    }
    let autodiff = device.clone().autodiff();
    let mut model = M::new(&autodiff, classes);

    if train_name.contains(filter) {
        let x = Tensor::<4>::random([batch, 3, size, size], Distribution::Default, &autodiff);
        let labels_per_image = if M::PER_PIXEL { size * size } else { 1 };
        let labels = Tensor::<1, Int>::random(
            [batch * labels_per_image],
            Distribution::Uniform(0.0, classes as f64),
            &autodiff,
        );
        let cross_entropy = CrossEntropyLoss::new(None, &autodiff);
        let mut optimizer = sgd();
        // `step` takes the model by value and returns the updated one.
        let mut trained = Some(model);
        let secs = time(&autodiff, MODEL_WARM_UP, || {
            let model = trained
                .take()
                .expect("the model is put back after each step");
            let logits = M::logit_rows(model.forward(x.clone()));
            let loss = cross_entropy.forward(logits, labels.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            trained = Some(optimizer.step(LR, model, grads));
        });
        report_images(&train_name, batch, secs);
        model = trained.expect("the model is put back after each step");
    }
    if inference_name.contains(filter) {
        let model = model.valid();
        let x = Tensor::<4>::random([batch, 3, size, size], Distribution::Default, device);
        let secs = time(device, MODEL_WARM_UP, || drop(model.forward(x.clone())));
        report_images(&inference_name, batch, secs);
    }
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
        let secs = time(&device, WARM_UP, || drop(a.clone().matmul(b.clone())));
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
        let secs = time(&device, WARM_UP, || {
            drop(conv2d(x.clone(), w.clone(), Some(b.clone()), conv.clone()))
        });
        report(&format!("conv2d 3x3 forward {shape}"), flops, secs);

        let secs = time(&device, WARM_UP, || {
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
        let secs = time(&autodiff, WARM_UP, || {
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

    // `wgnn bench`'s defaults: wgnn's `bench::default_shape` and `Architecture::homework_classes`.
    bench_model::<Vgg16Bn>(&device, &filter, "vgg16bn", 50, [32, 32]);
    bench_model::<Fcn32s>(&device, &filter, "fcn32s", 7, [2, 128]);
}
