//! What `wgnn bench` measures: the device's own ceilings, and for a model, the first and steady
//! training steps, inference, peak GPU memory, and a per-kernel table from GPU timestamps.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::autograd::Graph;
use crate::error::Result;
use crate::gpu::{Gpu, KernelTiming, Tuning};
use crate::models::{Architecture, Model, UpsamplingInit};
use crate::nn::{Context, Entry, collect_grads};
use crate::ops::conv2d::{self, Conv2dArgs};
use crate::ops::matmul;
use crate::optimizer::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;

/// The device's measured ceilings, so every other figure can be read as a fraction of them.
#[derive(Clone, Debug, Serialize)]
pub struct Ceilings {
    /// GFLOP/s of a 1024^3 matrix product with wgnn's matmul kernel.
    pub matmul_gflops: f64,
    /// GFLOP/s of wgnn's fastest dense kernel: the better of that matmul and the convolution
    /// kernel of a 3x3 convolution 64 -> 64 channels at 32x32, batch 32 (from GPU timestamps
    /// when the device has them, so weight packing and padding are left out as in the step's
    /// kernel table).
    pub compute_gflops: f64,
    /// GB/s of a 256 MiB buffer-to-buffer copy (bytes read plus bytes written).
    pub copy_gbps: f64,
}

/// One kernel's part of a profiled training step (the median over the profiled steps).
#[derive(Clone, Debug, Serialize)]
pub struct KernelRow {
    pub kernel: String,
    pub calls: usize,
    pub milliseconds: f64,
    /// None where the kernel's operations are not counted (memory-bound kernels).
    pub gflops: Option<f64>,
    /// Bytes of the bound buffers per second: an upper bound on traffic touched once.
    pub gbps: f64,
    /// Fraction of the step's kernel time.
    pub share: f64,
}

/// A model's training and inference speed.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub model: String,
    pub batch: usize,
    pub size: usize,
    /// The training steps' update: "sgd" or "adam".
    pub optimizer: String,
    /// The first training step: pipelines built, buffers allocated.
    pub first_step_seconds: f64,
    /// Median of the steady training steps.
    pub step_seconds: f64,
    pub train_images_per_second: f64,
    pub inference_images_per_second: f64,
    /// Buffer-pool high-water mark over the steps.
    pub peak_pool_bytes: u64,
    /// Bytes of the textures that hold the batched products' operand copies, beside the pool.
    pub texture_copy_bytes: u64,
    /// Bytes of the tensors a training step's forward leaves alive for backward (activations
    /// saved by the tape and the loss), at their exact sizes: what any implementation of this
    /// graph must hold at once, beside the weights below.
    pub saved_activation_bytes: u64,
    /// Bytes of the weights, running statistics and optimiser state.
    pub model_state_bytes: u64,
    /// Kernels of a training step (medians over as many profiled steps as steps timed), slowest
    /// first.
    pub kernels: Vec<KernelRow>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of `f` followed by a full sync.
fn timed(gpu: &Gpu, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    gpu.sync()?;
    let start = Instant::now();
    f()?;
    gpu.sync()?;
    Ok(start.elapsed().as_secs_f64())
}

pub fn ceilings(gpu: &Gpu) -> Result<Ceilings> {
    let n = 1024;
    let a = Tensor::zeros(gpu, &[n, n]);
    let matmul_secs = median(
        (0..3)
            .map(|_| timed(gpu, || matmul::linear(gpu, &a, &a, None).map(drop)))
            .collect::<Result<_>>()?,
    );
    let bytes = 256u64 << 20;
    let src = Tensor::zeros(gpu, &[(bytes / 4) as usize]);
    let dst = Tensor::zeros(gpu, &[(bytes / 4) as usize]);
    let copy_secs = median(
        (0..3)
            .map(|_| {
                timed(gpu, || {
                    gpu.with_encoder(|e| {
                        e.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes)
                    });
                    Ok(())
                })
            })
            .collect::<Result<_>>()?,
    );
    let x = Tensor::zeros(gpu, &[32, 64, 32, 32]);
    let w = Tensor::zeros(gpu, &[64, 64, 3, 3]);
    let same = Conv2dArgs {
        stride: [1, 1],
        padding: [1, 1],
    };
    let conv = || conv2d::conv2d(gpu, &x, &w, None, same).map(drop);
    let conv_flops = 2.0 * (32 * 64 * 1024 * 64 * 9) as f64;
    let conv_gflops = if gpu.start_profiling().is_ok() {
        for _ in 0..3 {
            conv()?;
        }
        gpu.sync()?;
        let timings = gpu.stop_profiling()?;
        timings
            .iter()
            .filter(|t| t.flops > 0.0)
            .map(|t| t.flops / t.seconds / 1e9)
            .fold(0.0, f64::max)
    } else {
        let secs = median((0..3).map(|_| timed(gpu, conv)).collect::<Result<_>>()?);
        conv_flops / secs / 1e9
    };
    let matmul_gflops = 2.0 * (n * n * n) as f64 / matmul_secs / 1e9;
    Ok(Ceilings {
        matmul_gflops,
        compute_gflops: matmul_gflops.max(conv_gflops),
        copy_gbps: 2.0 * bytes as f64 / copy_secs / 1e9,
    })
}

/// One kernel's launches over the profiled steps.
#[derive(Default)]
struct Tally {
    calls: usize,
    flops: f64,
    bytes: f64,
    /// Seconds in each step.
    seconds: Vec<f64>,
}

/// Each kernel's timings added up per profiled step, then the median over the steps (calls,
/// operations and bytes are the same every step), slowest first: one step's table on a shared
/// machine is one sample of its noise.
pub fn kernel_table(steps: &[Vec<KernelTiming>]) -> Vec<KernelRow> {
    let mut by_kernel: HashMap<&str, Tally> = HashMap::new();
    for (i, timings) in steps.iter().enumerate() {
        for t in timings {
            let e = by_kernel.entry(&t.kernel).or_insert_with(|| Tally {
                seconds: vec![0.0; steps.len()],
                ..Tally::default()
            });
            e.calls += 1;
            e.flops += t.flops;
            e.bytes += t.bytes;
            e.seconds[i] += t.seconds;
        }
    }
    let n = steps.len().max(1);
    let medians: Vec<(&str, Tally, f64)> = by_kernel
        .into_iter()
        .map(|(kernel, mut tally)| {
            let secs = median(std::mem::take(&mut tally.seconds));
            (kernel, tally, secs)
        })
        .collect();
    let total: f64 = medians.iter().map(|m| m.2).sum();
    let mut rows: Vec<KernelRow> = medians
        .into_iter()
        .map(|(kernel, tally, secs)| {
            let (flops, bytes) = (tally.flops / n as f64, tally.bytes / n as f64);
            KernelRow {
                kernel: kernel.to_owned(),
                calls: tally.calls / n,
                milliseconds: secs * 1e3,
                gflops: (flops > 0.0).then(|| flops / secs.max(1e-12) / 1e9),
                gbps: bytes / secs.max(1e-12) / 1e9,
                share: secs / total.max(1e-12),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.milliseconds.total_cmp(&a.milliseconds));
    rows
}

/// A model training on one fixed batch (mean cross-entropy).
struct Trainee {
    model: Model,
    optimizer: Optimizer,
    x: Tensor,
    targets: Tensor,
}

impl Trainee {
    /// One training step; the live tensor bytes before the forward and after it (before backward).
    fn step(&mut self, gpu: &Gpu, step: u64) -> Result<(u64, u64)> {
        let before = gpu.pool_stats().live_tensor_bytes;
        let g = Graph::training(gpu)?;
        let x = g.input(self.x.clone());
        let logits = self.model.forward(&g, &x, &Context::train(step))?;
        let loss = g.cross_entropy(&logits, &self.targets, None)?;
        let after_forward = gpu.pool_stats().live_tensor_bytes;
        let mut grads = g.backward(&loss)?;
        collect_grads(self.model.net.as_mut(), &mut grads);
        self.optimizer.step(gpu, self.model.net.as_mut())?;
        loss.value.to_f32(gpu)?;
        Ok((before, after_forward))
    }
}

/// Training (updating with `optimizer`) and inference speed of `arch` at `batch` images of `size`
/// x `size`.
pub fn model_report(
    gpu: &Gpu,
    arch: Architecture,
    [batch, size]: [usize; 2],
    steps: usize,
    optimizer: OptimizerConfig,
) -> Result<ModelReport> {
    let classes = arch.homework_classes();
    let model = Model::new(gpu, arch, classes, 0, UpsamplingInit::Bilinear)?;
    let pixels = batch * 3 * size * size;
    let x = Tensor::from_f32(
        gpu,
        &[batch, 3, size, size],
        &(0..pixels)
            .map(|i| ((i % 255) as f32 / 127.0) - 1.0)
            .collect::<Vec<_>>(),
    )?;
    let (target_shape, count) = if arch.is_segmentation() {
        (vec![batch, size, size], batch * size * size)
    } else {
        (vec![batch], batch)
    };
    let labels: Vec<i32> = (0..count).map(|i| (i % classes) as i32).collect();
    let targets = Tensor::from_i32(gpu, &target_shape, &labels)?;
    let mut t = Trainee {
        model,
        optimizer: Optimizer::new(optimizer),
        x,
        targets,
    };
    gpu.reset_pool_high_water();
    let first = timed(gpu, || t.step(gpu, 0).map(drop))?;
    let mut step_times = Vec::new();
    for step in 1..=steps.max(1) as u64 {
        step_times.push(timed(gpu, || t.step(gpu, step).map(drop))?);
    }
    let mut profiled = Vec::new();
    let mut sizes = (0, 0);
    for step in 0..steps.max(1) as u64 {
        gpu.start_profiling()?;
        sizes = t.step(gpu, 100 + step)?;
        profiled.push(gpu.stop_profiling()?);
    }
    let (before, after_forward) = sizes;
    let kernels = kernel_table(&profiled);
    // At their exact sizes: the optimiser's flat buffers also hold alignment gaps, which a
    // leaner layout would not need.
    let mut model_state_bytes = 0;
    let state_per_param = t.optimizer.state_names().len() as u64;
    t.model.net.visit("", &mut |_, entry| {
        model_state_bytes += match entry {
            Entry::Param(p) => p.value.numel() as u64 * 4 * (1 + state_per_param),
            Entry::Buffer(b) => b.numel() as u64 * 4,
            Entry::Count(_) => 8,
        };
    });
    let mut infer_times = Vec::new();
    for _ in 0..steps.max(1) {
        infer_times.push(timed(gpu, || {
            let g = Graph::inference(gpu);
            t.model
                .forward(&g, &g.input(t.x.clone()), &Context::eval())?
                .value
                .to_f32(gpu)
                .map(drop)
        })?);
    }
    let step_seconds = median(step_times);
    Ok(ModelReport {
        model: arch.name().to_owned(),
        batch,
        size,
        optimizer: match optimizer {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
        }
        .to_owned(),
        first_step_seconds: first,
        step_seconds,
        train_images_per_second: batch as f64 / step_seconds,
        inference_images_per_second: batch as f64 / median(infer_times),
        peak_pool_bytes: gpu.pool_stats().high_water_bytes,
        texture_copy_bytes: gpu.texture_copy_bytes(),
        saved_activation_bytes: after_forward - before,
        model_state_bytes,
        kernels,
    })
}

/// `wgnn bench`'s shape for `arch` unless told otherwise: a batch and image size that take seconds
/// a step on a CPU device (32 images of 32x32 for vgg16bn, 2 tiles of 128x128 for the FCNs).
pub fn default_shape(arch: Architecture) -> (usize, usize) {
    if arch.is_segmentation() {
        (2, 128)
    } else {
        (32, 32)
    }
}

/// The heading of the tables: the adapter, the kernels that run, and the device's ceilings.
pub fn print_ceilings(adapter: &str, tuning: &Tuning, ceilings: &Ceilings) {
    println!("wgnn bench on {adapter}");
    println!("kernel family: {tuning}");
    println!(
        "device ceilings: compute {:.2} GFLOP/s (matmul 1024^3 {:.2}), buffer copy {:.2} GB/s",
        ceilings.compute_gflops, ceilings.matmul_gflops, ceilings.copy_gbps
    );
}

/// A model's speeds, memory and kernel table, each row also as a share of its ceiling: GFLOP/s of
/// the compute one where operations are counted, else GB/s of the copy.
pub fn report_text(r: &ModelReport, ceilings: &Ceilings) -> String {
    let mib = |b: u64| b as f64 / 1048576.0;
    // As wide as the longest kernel name, so the columns line up.
    let width = r
        .kernels
        .iter()
        .map(|k| k.kernel.len())
        .fold(46, usize::max);
    let mut lines = vec![
        format!(
            "{} batch {} at {}x{}: train {:.2} images/s ({}; step {:.2} s, first step {:.2} s), inference {:.2} images/s",
            r.model,
            r.batch,
            r.size,
            r.size,
            r.train_images_per_second,
            r.optimizer,
            r.step_seconds,
            r.first_step_seconds,
            r.inference_images_per_second,
        ),
        format!(
            "  peak GPU memory {:.0} MiB (+ {:.0} MiB of texture copies); strictly needed: {:.0} MiB of activations saved for backward + {:.0} MiB of weights and optimiser state",
            mib(r.peak_pool_bytes),
            mib(r.texture_copy_bytes),
            mib(r.saved_activation_bytes),
            mib(r.model_state_bytes)
        ),
        format!(
            "  {:<width$} {:>6} {:>10} {:>9} {:>7} {:>8} {:>6}",
            "kernel or copy (median training step)",
            "calls",
            "total ms",
            "GFLOP/s",
            "of max",
            "GB/s",
            "share"
        ),
    ];
    for k in &r.kernels {
        let (gflops, of_max) = match k.gflops {
            Some(g) => (
                format!("{g:.2}"),
                format!("{:.0}%", 100.0 * g / ceilings.compute_gflops),
            ),
            // Memory-bound rows: their bytes against the copy's, as the optimisers' target reads.
            None => (
                "-".into(),
                format!("{:.0}%", 100.0 * k.gbps / ceilings.copy_gbps),
            ),
        };
        lines.push(format!(
            "  {:<width$} {:>6} {:>10.1} {:>9} {:>7} {:>8.2} {:>5.1}%",
            k.kernel,
            k.calls,
            k.milliseconds,
            gflops,
            of_max,
            k.gbps,
            100.0 * k.share
        ));
    }
    lines.join("\n")
}

/// Everything measured, as `wgnn bench --json` prints it.
pub fn json(
    adapter: &str,
    tuning: &Tuning,
    ceilings: &Ceilings,
    reports: &[ModelReport],
) -> String {
    let out = serde_json::json!({
        "adapter": adapter,
        "kernel_family": tuning.family.name(),
        "kernels": tuning.to_string(),
        "ceilings": ceilings,
        "models": reports,
    });
    serde_json::to_string_pretty(&out).expect("bench results serialise")
}
