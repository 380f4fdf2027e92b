//! `cargo bench`: throughput of the kernels at the homework's shapes, wall-clock per call around a
//! full GPU sync (median of RUNS after one warm-up call). Set WGNN_BENCH_BATCH to change the batch
//! and WGNN_BENCH_FILTER to run only the kernels whose name contains it.

use std::time::Instant;

use wgnn::ops::conv2d::{self, Conv2dArgs};
use wgnn::ops::matmul;
use wgnn::{Gpu, GpuOptions, Tensor};

const RUNS: usize = 3;

/// Median seconds of `f` followed by a sync.
fn time(gpu: &Gpu, mut f: impl FnMut() -> wgnn::Result<Tensor>) -> f64 {
    f().and_then(|_| gpu.sync()).expect("warm-up");
    let mut secs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let out = f().expect("kernel");
            gpu.sync().expect("sync");
            drop(out);
            start.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    secs[RUNS / 2]
}

/// Times `f` and prints its line, unless WGNN_BENCH_FILTER excludes `name`.
fn report(gpu: &Gpu, name: &str, flops: f64, f: impl FnMut() -> wgnn::Result<Tensor>) {
    if std::env::var("WGNN_BENCH_FILTER").is_ok_and(|filter| !name.contains(&filter)) {
        return;
    }
    let secs = time(gpu, f);
    println!(
        "{name:<44} {:>9.2} ms {:>8.2} GFLOP/s",
        secs * 1e3,
        flops / secs / 1e9
    );
}

fn main() {
    let gpu = Gpu::new(&GpuOptions::default())
        .expect("a GPU adapter (apt-get install mesa-vulkan-drivers)");
    let batch: usize = std::env::var("WGNN_BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(32);
    println!(
        "wgnn kernels on {} (batch {batch}, median of {RUNS})",
        wgnn::gpu::describe(gpu.adapter_info())
    );

    let n = 1024;
    let a = Tensor::zeros(&gpu, &[n, n]);
    let b = Tensor::zeros(&gpu, &[n, n]);
    report(&gpu, "matmul 1024^3", 2.0 * (n * n * n) as f64, || {
        matmul::linear(&gpu, &a, &b, None)
    });

    let args = Conv2dArgs {
        stride: [1, 1],
        padding: [1, 1],
    };
    for (c_in, c_out, hw) in [
        (64, 64, 32),
        (128, 128, 16),
        (256, 256, 8),
        (512, 512, 4),
        (512, 512, 2),
    ] {
        let x = Tensor::zeros(&gpu, &[batch, c_in, hw, hw]);
        let w = Tensor::zeros(&gpu, &[c_out, c_in, 3, 3]);
        let bias = Tensor::zeros(&gpu, &[c_out]);
        let dy = Tensor::zeros(&gpu, &[batch, c_out, hw, hw]);
        let flops = 2.0 * (batch * c_out * hw * hw * c_in * 9) as f64;
        let shape = format!("{c_in}->{c_out} @{hw}x{hw}");
        report(&gpu, &format!("conv2d 3x3 forward {shape}"), flops, || {
            conv2d::conv2d(&gpu, &x, &w, Some(&bias), args)
        });
        report(
            &gpu,
            &format!("conv2d 3x3 input grad {shape}"),
            flops,
            || conv2d::conv2d_input_grad(&gpu, &dy, &w, [hw, hw], args),
        );
        report(
            &gpu,
            &format!("conv2d 3x3 weight grad {shape}"),
            flops,
            || conv2d::conv2d_weight_grad(&gpu, &x, &dy, [3, 3], args),
        );
        // A layer's share of a training step: forward, input gradient and weight gradient.
        report(
            &gpu,
            &format!("conv2d 3x3 fwd+bwd {shape}"),
            3.0 * flops,
            || {
                conv2d::conv2d(&gpu, &x, &w, Some(&bias), args)?;
                conv2d::conv2d_input_grad(&gpu, &dy, &w, [hw, hw], args)?;
                conv2d::conv2d_weight_grad(&gpu, &x, &dy, [3, 3], args)
            },
        );
    }
}
