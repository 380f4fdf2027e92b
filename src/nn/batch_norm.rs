//! BatchNorm2d, and Precise BN: its running statistics recomputed over training batches.

use super::layers::{nchw, upload};
use super::{Context, Entry, Module, Param};
use crate::autograd::{BatchNormArgs, Graph, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::batch_norm::RunningStats;
use crate::tensor::Tensor;

/// BatchNorm2d(C): affine, tracking running statistics, eps 1e-5, momentum 0.1.
pub struct BatchNorm2d {
    pub weight: Param,
    pub bias: Param,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub num_batches_tracked: i64,
    pub momentum: f32,
    pub eps: f32,
}

impl BatchNorm2d {
    /// gamma 1, beta 0, running mean 0, running variance 1, as PyTorch.
    pub fn new(gpu: &Gpu, c: usize) -> Result<BatchNorm2d> {
        let (ones, zeros) = (vec![1.0; c], vec![0.0; c]);
        Ok(BatchNorm2d {
            weight: upload(gpu, &[c], &ones)?,
            bias: upload(gpu, &[c], &zeros)?,
            running_mean: Tensor::from_f32(gpu, &[c], &zeros)?,
            running_var: Tensor::from_f32(gpu, &[c], &ones)?,
            num_batches_tracked: 0,
            momentum: crate::ops::batch_norm::DEFAULT_MOMENTUM,
            eps: crate::ops::batch_norm::DEFAULT_EPS,
        })
    }

    fn channels(&self) -> usize {
        self.weight.value.numel()
    }
}

impl BatchNorm2d {
    /// The layer, then a ReLU in the same passes when `relu`.
    fn run(&mut self, g: &Graph, x: &Var, ctx: &Context, relu: bool) -> Result<Var> {
        let (gamma, beta) = (self.weight.bind(g), self.bias.bind(g));
        if ctx.training {
            self.num_batches_tracked += 1;
        }
        g.batch_norm2d(
            x,
            &BatchNormArgs {
                gamma: &gamma,
                beta: &beta,
                running: RunningStats {
                    mean: &self.running_mean,
                    var: &self.running_var,
                    momentum: ctx.bn_momentum.unwrap_or(self.momentum),
                    eps: self.eps,
                },
                training: ctx.training,
                relu,
            },
        )
    }
}

impl Module for BatchNorm2d {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        self.run(g, x, ctx, false)
    }

    /// One pass for both: a separate ReLU pass and its gradient pass cost FCN16s at 512x512
    /// 0.5 s a step (PERFORMANCE.md 30).
    fn forward_then_relu(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        self.run(g, x, ctx, true)
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        f(&format!("{prefix}weight"), Entry::Param(&mut self.weight));
        f(&format!("{prefix}bias"), Entry::Param(&mut self.bias));
        f(
            &format!("{prefix}running_mean"),
            Entry::Buffer(&mut self.running_mean),
        );
        f(
            &format!("{prefix}running_var"),
            Entry::Buffer(&mut self.running_var),
        );
        f(
            &format!("{prefix}num_batches_tracked"),
            Entry::Count(&mut self.num_batches_tracked),
        );
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        nchw("BatchNorm2d", input, self.channels()).map(|s| s.to_vec())
    }

    fn describe(&self) -> String {
        format!(
            "BatchNorm2d({}, eps={:e}, momentum={}, affine=True, bias=True, track_running_stats=True)",
            self.channels(),
            self.eps,
            self.momentum
        )
        .replace("e-5", "e-05")
    }

    fn num_params(&self) -> usize {
        2 * self.channels()
    }
}

/// Precise BN: replaces the running statistics of every BatchNorm2d in `net`, which average the
/// last few batches of weights that kept changing, by the exact mean over `inputs` (training
/// batches, run with momentum 1/k for the k-th) of the current weights. Short runs from scratch
/// need it: their momentum averages lag so far behind that evaluation-mode outputs collapse
/// (PyTorch's too). The counters are kept. Nothing is read from `inputs` if `net` has no BN.
pub fn recompute_batch_norm_statistics(
    gpu: &Gpu,
    net: &mut dyn Module,
    inputs: &mut dyn Iterator<Item = Result<Tensor>>,
    seed: u64,
) -> Result<()> {
    let counts = counters(net);
    if counts.is_empty() {
        return Ok(());
    }
    let mut reset = Ok(());
    net.visit("", &mut |name, entry| {
        if let Entry::Buffer(t) = entry {
            let value = if name.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            match Tensor::from_f32(gpu, t.shape(), &vec![value; t.numel()]) {
                Ok(fresh) => *t = fresh,
                Err(e) => reset = Err(e),
            }
        }
    });
    reset?;
    for (k, input) in inputs.enumerate() {
        let g = Graph::inference(gpu);
        let x = g.input(input?);
        let ctx = Context {
            bn_momentum: Some(1.0 / (k + 1) as f32),
            ..Context::train(seed ^ k as u64)
        };
        net.forward(&g, &x, &ctx)?;
    }
    let mut restored = counts.into_iter();
    net.visit("", &mut |_, entry| {
        if let (Entry::Count(c), Some(v)) = (entry, restored.next()) {
            *c = v;
        }
    });
    Ok(())
}

fn counters(net: &mut dyn Module) -> Vec<i64> {
    let mut counts = Vec::new();
    net.visit("", &mut |_, entry| {
        if let Entry::Count(c) = entry {
            counts.push(*c);
        }
    });
    counts
}
