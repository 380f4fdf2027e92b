//! Gradient checks that run on whatever device is open: each backward kernel against central finite
//! differences of its own forward kernel, for the scalar loss L = sum(r * y) with random weights r.
//! The kernels are deterministic, so outputs a perturbation does not reach cancel exactly and the
//! differences are accurate even in f32. The optimisers, which have no backward, are checked against
//! their update formulas evaluated in f64.

mod optimizers;
mod relative_error;

pub use relative_error::rel_err;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::batch_norm::{self, BatchNormParams, BatchNormSaved, RunningStats};
use crate::ops::conv2d::{self, Conv2dArgs};
use crate::ops::pool::MaxPoolArgs;
use crate::ops::{conv_transpose2d, elementwise, loss, matmul, pool, reduce};
use crate::tensor::Tensor;
use optimizers::{adam_check, sgd_check};

/// Largest accepted ||finite difference - analytic|| / ||finite difference|| over the checked
/// elements. Central differences with step `STEP` on these small O(1) inputs agree to about 1e-4;
/// a wrong gradient is off by tens of percent.
pub const FD_TOLERANCE: f64 = 1e-2;
/// Largest accepted relative error of an optimiser step against its formula in f64.
pub const OPTIM_TOLERANCE: f64 = 1e-5;
/// Finite-difference step.
const STEP: f32 = 1e-2;
/// Elements of each input perturbed (all of them if the input is smaller).
const SAMPLES: usize = 24;

/// Outcome of one check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub name: &'static str,
    pub max_rel_err: f64,
    pub tolerance: f64,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.max_rel_err <= self.tolerance
    }
}

/// One gradient check: its name, the largest relative error it accepts, and how it runs.
pub struct Check {
    pub name: &'static str,
    pub tolerance: f64,
    run: fn(&Gpu, &mut StdRng) -> Result<f64>,
}

const fn check(
    name: &'static str,
    tolerance: f64,
    run: fn(&Gpu, &mut StdRng) -> Result<f64>,
) -> Check {
    Check {
        name,
        tolerance,
        run,
    }
}

/// Every check, in the order `run_all` runs them.
pub const CHECKS: &[Check] = &[
    check("conv2d", FD_TOLERANCE, conv2d_check),
    check("conv2d_winograd2x2", FD_TOLERANCE, |gpu, rng| {
        winograd_check(gpu, rng, [2, 64, 3, 2], 65)
    }),
    check("conv2d_winograd4x4", FD_TOLERANCE, |gpu, rng| {
        winograd_check(gpu, rng, [1, 64, 5, 7], 66)
    }),
    check("conv2d_winograd4x4_rows", FD_TOLERANCE, |gpu, rng| {
        winograd_check(gpu, rng, [1, 64, 4, 16], 66)
    }),
    check("conv_transpose2d", FD_TOLERANCE, conv_transpose2d_check),
    check("batch_norm2d_train", FD_TOLERANCE, |gpu, rng| {
        batch_norm_check(gpu, rng, true)
    }),
    check("batch_norm2d_eval", FD_TOLERANCE, |gpu, rng| {
        batch_norm_check(gpu, rng, false)
    }),
    check("batch_norm2d_relu_train", FD_TOLERANCE, |gpu, rng| {
        batch_norm_relu_check(gpu, rng, true)
    }),
    check("batch_norm2d_relu_eval", FD_TOLERANCE, |gpu, rng| {
        batch_norm_relu_check(gpu, rng, false)
    }),
    check("relu", FD_TOLERANCE, relu_check),
    check("max_pool2d", FD_TOLERANCE, |gpu, rng| {
        let args = MaxPoolArgs {
            kernel: [3, 2],
            stride: [2, 1],
            padding: [1, 1],
        };
        max_pool_check(gpu, rng, [2, 3, 7, 5], args)
    }),
    check("max_pool2d_2x2", FD_TOLERANCE, |gpu, rng| {
        max_pool_check(gpu, rng, [2, 3, 4, 8], MaxPoolArgs::square(2))
    }),
    check("adaptive_avg_pool2d", FD_TOLERANCE, adaptive_pool_check),
    check("linear", FD_TOLERANCE, linear_check),
    check("dropout2d", FD_TOLERANCE, dropout_check),
    check("add", FD_TOLERANCE, add_check),
    check("softmax_cross_entropy", FD_TOLERANCE, |gpu, rng| {
        cross_entropy_check(gpu, rng, &[6, 10])
    }),
    check("softmax_cross_entropy_2d", FD_TOLERANCE, |gpu, rng| {
        cross_entropy_check(gpu, rng, &[2, 7, 5, 3])
    }),
    check("sgd", OPTIM_TOLERANCE, sgd_check),
    check("adam", OPTIM_TOLERANCE, adam_check),
];

/// Runs every check.
pub fn run_all(gpu: &Gpu) -> Result<Vec<CheckResult>> {
    CHECKS.iter().map(|c| run(gpu, c.name)).collect()
}

/// Runs the check called `name` (one of `CHECKS`), each from the same seed.
pub fn run(gpu: &Gpu, name: &str) -> Result<CheckResult> {
    let Some(check) = CHECKS.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        return Err(crate::shape_err!(
            "unknown check {name:?}; checks: {}",
            names.join(", ")
        ));
    };
    let mut rng = StdRng::seed_from_u64(0x5eed);
    Ok(CheckResult {
        name: check.name,
        max_rel_err: (check.run)(gpu, &mut rng)?,
        tolerance: check.tolerance,
    })
}

/// A differentiable input of a check: its shape and host values.
pub struct Input {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Input {
    /// Uniform values in [-1, 1).
    pub fn random(rng: &mut StdRng, shape: &[usize]) -> Input {
        let n = shape.iter().product();
        Input {
            shape: shape.to_vec(),
            data: (0..n).map(|_| rng.random_range(-1.0..1.0)).collect(),
        }
    }

    fn upload(&self, gpu: &Gpu) -> Result<Tensor> {
        Tensor::from_f32(gpu, &self.shape, &self.data)
    }
}

/// sum(r * y) in f64.
fn weighted_sum(y: &[f32], r: &[f32]) -> f64 {
    y.iter()
        .zip(r)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Forward: the op's output from uploaded inputs.
pub type Forward<'a> = dyn Fn(&Gpu, &[Tensor]) -> Result<Tensor> + 'a;
/// Backward: one gradient per input, for the given upstream gradient.
pub type Backward<'a> = dyn Fn(&Gpu, &[Tensor], &Tensor) -> Result<Vec<Tensor>> + 'a;

/// Compares `backward` (gradients of every input for upstream gradient r) with central differences
/// of `forward` on sampled elements of each input; returns the worst input's relative error.
pub fn finite_difference(
    gpu: &Gpu,
    rng: &mut StdRng,
    inputs: &mut [Input],
    forward: &Forward,
    backward: &Backward,
) -> Result<f64> {
    let tensors = inputs
        .iter()
        .map(|i| i.upload(gpu))
        .collect::<Result<Vec<_>>>()?;
    let y = forward(gpu, &tensors)?;
    let r: Vec<f32> = (0..y.numel())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let dy = Tensor::from_f32(gpu, y.shape(), &r)?;
    let grads = backward(gpu, &tensors, &dy)?
        .iter()
        .map(|g| g.to_f32(gpu))
        .collect::<Result<Vec<_>>>()?;
    let mut worst = 0.0f64;
    for i in 0..inputs.len() {
        let mut indices: Vec<usize> = (0..inputs[i].data.len()).collect();
        indices.shuffle(rng);
        indices.truncate(SAMPLES);
        let (mut numeric, mut analytic) = (Vec::new(), Vec::new());
        for &j in &indices {
            let original = inputs[i].data[j];
            let mut loss_at = |value: f32| -> Result<f64> {
                inputs[i].data[j] = value;
                let mut perturbed = tensors.clone();
                perturbed[i] = inputs[i].upload(gpu)?;
                Ok(weighted_sum(&forward(gpu, &perturbed)?.to_f32(gpu)?, &r))
            };
            let plus = loss_at(original + STEP)?;
            let minus = loss_at(original - STEP)?;
            inputs[i].data[j] = original;
            // The step actually taken, after f32 rounding of original +- STEP.
            let taken = f64::from(original + STEP) - f64::from(original - STEP);
            numeric.push((plus - minus) / taken);
            analytic.push(f64::from(grads[i][j]));
        }
        worst = worst.max(rel_err(&numeric, &analytic));
    }
    Ok(worst)
}

fn conv2d_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let args = Conv2dArgs {
        stride: [2, 1],
        padding: [1, 2],
    };
    conv2d_check_of(gpu, rng, [[2, 3, 7, 6], [4, 3, 3, 2]], args)
}

/// A 3x3 stride-1 convolution of x [n, 64, h, w] into `c_out` channels, whose every pass the cpu
/// family takes by Winograd: on 3x2 planes by F(2x2, 3x3), on 5x7 planes by F(4x4, 3x3) (its
/// products multiply less there), on 4x16 planes by F(4x4, 3x3) reading rows of vec4s
/// (`input_transform_rows`, four tiles a row; where the device reads texture copies, the weight
/// gradient's `input_by_tile_rows` and `grad_transform_rows` too); the gpu family by its tiled
/// kernels.
fn winograd_check(gpu: &Gpu, rng: &mut StdRng, x: [usize; 4], c_out: usize) -> Result<f64> {
    let args = Conv2dArgs {
        stride: [1, 1],
        padding: [1, 1],
    };
    conv2d_check_of(gpu, rng, [x, [c_out, x[1], 3, 3]], args)
}

/// conv2d's input, weight and bias gradients for an input and a weight of the given shapes.
fn conv2d_check_of(
    gpu: &Gpu,
    rng: &mut StdRng,
    [x, w]: [[usize; 4]; 2],
    args: Conv2dArgs,
) -> Result<f64> {
    let mut inputs = [
        Input::random(rng, &x),
        Input::random(rng, &w),
        Input::random(rng, &[w[0]]),
    ];
    finite_difference(
        gpu,
        rng,
        &mut inputs,
        &|gpu, t| conv2d::conv2d(gpu, &t[0], &t[1], Some(&t[2]), args),
        &|gpu, t, dy| {
            Ok(vec![
                conv2d::conv2d_input_grad(gpu, dy, &t[1], [x[2], x[3]], args)?,
                conv2d::conv2d_weight_grad(gpu, &t[0], dy, [w[2], w[3]], args)?,
                reduce::channel_sums(gpu, dy)?,
            ])
        },
    )
}

fn conv_transpose2d_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let args = Conv2dArgs {
        stride: [2, 3],
        padding: [1, 0],
    };
    let mut inputs = [
        Input::random(rng, &[2, 3, 4, 5]),
        Input::random(rng, &[3, 2, 3, 4]),
        Input::random(rng, &[2]),
    ];
    finite_difference(
        gpu,
        rng,
        &mut inputs,
        &|gpu, t| conv_transpose2d::conv_transpose2d(gpu, &t[0], &t[1], Some(&t[2]), args),
        &|gpu, t, dy| {
            Ok(vec![
                conv_transpose2d::conv_transpose2d_input_grad(gpu, dy, &t[1], args)?,
                conv_transpose2d::conv_transpose2d_weight_grad(gpu, &t[0], dy, [3, 4], args)?,
                reduce::channel_sums(gpu, dy)?,
            ])
        },
    )
}

fn batch_norm_check(gpu: &Gpu, rng: &mut StdRng, training: bool) -> Result<f64> {
    let c = 4;
    let inputs = [
        Input::random(rng, &[3, c, 5, 3]),
        Input::random(rng, &[c]),
        Input::random(rng, &[c]),
    ];
    let mean: Vec<f32> = (0..c).map(|_| rng.random_range(-0.5..0.5)).collect();
    let var: Vec<f32> = (0..c).map(|_| rng.random_range(0.5..2.0)).collect();
    let running = [mean, var];
    batch_norm_fd(gpu, rng, inputs, &running, training, false)
}

/// batch_norm2d with the fused ReLU. Every output stays well clear of the ReLU's kink under the
/// perturbations: x = +-(1 + |u|) alternating (so each channel has both signs and a mean near 0),
/// |gamma| >= 0.5 and |beta| <= 0.1, so |gamma * xhat| exceeds |beta| by more than a step moves it.
fn batch_norm_relu_check(gpu: &Gpu, rng: &mut StdRng, training: bool) -> Result<f64> {
    let c = 4;
    // Planes of 6 vec4s: the cpu family's vec4 kernels, two invocations a plane.
    let mut inputs = [
        Input::random(rng, &[2, c, 4, 6]),
        Input::random(rng, &[c]),
        Input::random(rng, &[c]),
    ];
    for (j, v) in inputs[0].data.iter_mut().enumerate() {
        *v = if j % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + v.abs());
    }
    for v in &mut inputs[1].data {
        *v = v.signum() * (0.5 + v.abs());
    }
    for v in &mut inputs[2].data {
        *v *= 0.1;
    }
    let running = [vec![0.0; c], vec![1.0; c]];
    batch_norm_fd(gpu, rng, inputs, &running, training, true)
}

/// The finite-difference check of batch_norm2d on inputs (x, gamma, beta) with running
/// statistics [mean, var].
fn batch_norm_fd(
    gpu: &Gpu,
    rng: &mut StdRng,
    mut inputs: [Input; 3],
    [mean, var]: &[Vec<f32>; 2],
    training: bool,
    relu: bool,
) -> Result<f64> {
    let c = mean.len();
    let running_mean = Tensor::from_f32(gpu, &[c], mean)?;
    let running_var = Tensor::from_f32(gpu, &[c], var)?;
    let forward = |gpu: &Gpu, t: &[Tensor]| {
        let p = BatchNormParams {
            gamma: &t[1],
            beta: &t[2],
            running: RunningStats {
                mean: &running_mean,
                var: &running_var,
                momentum: batch_norm::DEFAULT_MOMENTUM,
                eps: batch_norm::DEFAULT_EPS,
            },
            relu,
        };
        if training {
            batch_norm::batch_norm2d_train(gpu, &t[0], &p)
        } else {
            batch_norm::batch_norm2d_eval(gpu, &t[0], &p)
        }
    };
    finite_difference(
        gpu,
        rng,
        &mut inputs,
        &|gpu, t| Ok(forward(gpu, t)?.y),
        &|gpu, t, dy| {
            let out = forward(gpu, t)?;
            let saved = BatchNormSaved {
                x: &t[0],
                gamma: &t[1],
                stats: &out.stats,
                training,
                relu_output: relu.then_some(&out.y),
            };
            let g = batch_norm::batch_norm2d_backward(gpu, &saved, dy)?;
            Ok(vec![g.dx, g.dgamma, g.dbeta])
        },
    )
}

fn relu_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let mut x = Input::random(rng, &[2, 3, 5, 4]);
    // Keep every value at least 5 steps from the kink at 0.
    for v in &mut x.data {
        *v = v.signum() * (v.abs() + 5.0 * STEP);
    }
    finite_difference(
        gpu,
        rng,
        &mut [x],
        &|gpu, t| elementwise::relu(gpu, &t[0]),
        &|gpu, t, dy| {
            Ok(vec![elementwise::relu_backward(
                gpu,
                dy,
                &elementwise::relu(gpu, &t[0])?,
            )?])
        },
    )
}

/// max_pool2d on x of `shape`: overlapping padded windows (the general kernels) or 2x2 windows of
/// stride 2 over rows of whole vec4s (the vec4 kernels, `max_forward_halves` and halves4).
fn max_pool_check(
    gpu: &Gpu,
    rng: &mut StdRng,
    shape: [usize; 4],
    args: MaxPoolArgs,
) -> Result<f64> {
    let n: usize = shape.iter().product();
    // Distinct values 5 steps apart, so no perturbation changes which element is the maximum.
    let mut values: Vec<f32> = (0..n)
        .map(|i| (i as f32 - n as f32 / 2.0) * 5.0 * STEP)
        .collect();
    values.shuffle(rng);
    let mut x = Input {
        shape: shape.to_vec(),
        data: values,
    };
    finite_difference(
        gpu,
        rng,
        std::slice::from_mut(&mut x),
        &|gpu, t| Ok(pool::max_pool2d(gpu, &t[0], args)?.y),
        &|gpu, t, dy| {
            let out = pool::max_pool2d(gpu, &t[0], args)?;
            Ok(vec![pool::max_pool2d_backward(
                gpu,
                dy,
                &out.argmax,
                t[0].shape(),
                args,
            )?])
        },
    )
}

fn adaptive_pool_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let mut x = Input::random(rng, &[2, 3, 5, 3]);
    finite_difference(
        gpu,
        rng,
        std::slice::from_mut(&mut x),
        &|gpu, t| pool::adaptive_avg_pool2d(gpu, &t[0], [7, 2]),
        &|gpu, t, dy| {
            Ok(vec![pool::adaptive_avg_pool2d_backward(
                gpu,
                dy,
                t[0].shape(),
            )?])
        },
    )
}

fn linear_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let mut inputs = [
        Input::random(rng, &[5, 7]),
        Input::random(rng, &[3, 7]),
        Input::random(rng, &[3]),
    ];
    finite_difference(
        gpu,
        rng,
        &mut inputs,
        &|gpu, t| matmul::linear(gpu, &t[0], &t[1], Some(&t[2])),
        &|gpu, t, dy| {
            Ok(vec![
                matmul::linear_input_grad(gpu, dy, &t[1])?,
                matmul::linear_weight_grad(gpu, &t[0], dy)?,
                matmul::linear_bias_grad(gpu, dy)?,
            ])
        },
    )
}

fn dropout_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let (p, seed) = (0.4, 7);
    let mut x = Input::random(rng, &[3, 5, 4, 3]);
    finite_difference(
        gpu,
        rng,
        std::slice::from_mut(&mut x),
        &|gpu, t| Ok(elementwise::dropout2d(gpu, &t[0], p, seed)?.y),
        &|gpu, t, dy| {
            let mask = elementwise::dropout2d(gpu, &t[0], p, seed)?.mask;
            Ok(vec![elementwise::dropout2d_apply(gpu, dy, &mask)?])
        },
    )
}

fn add_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let mut inputs = [
        Input::random(rng, &[2, 3, 4, 5]),
        Input::random(rng, &[2, 3, 4, 5]),
    ];
    finite_difference(
        gpu,
        rng,
        &mut inputs,
        &|gpu, t| elementwise::add(gpu, &t[0], &t[1]),
        // The gradient of a + b is dy for both inputs.
        &|_, _, dy| Ok(vec![dy.clone(), dy.clone()]),
    )
}

fn cross_entropy_check(gpu: &Gpu, rng: &mut StdRng, shape: &[usize]) -> Result<f64> {
    let ignore = 255;
    let c = shape[1] as i32;
    let positions = shape[0] * shape[2..].iter().product::<usize>();
    // Every fourth target is the ignore index, so the check covers PyTorch's ignore semantics.
    let targets: Vec<i32> = (0..positions)
        .map(|i| {
            if i % 4 == 3 {
                ignore
            } else {
                rng.random_range(0..c)
            }
        })
        .collect();
    let target_shape: Vec<usize> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    let targets = Tensor::from_i32(gpu, &target_shape, &targets)?;
    let mut logits = Input::random(rng, shape);
    for v in &mut logits.data {
        *v *= 3.0;
    }
    finite_difference(
        gpu,
        rng,
        std::slice::from_mut(&mut logits),
        &|gpu, t| Ok(loss::cross_entropy(gpu, &t[0], &targets, Some(ignore))?.loss),
        &|gpu, t, dloss| {
            let out = loss::cross_entropy(gpu, &t[0], &targets, Some(ignore))?;
            Ok(vec![loss::cross_entropy_backward(
                gpu,
                &t[0],
                &targets,
                Some(ignore),
                &out,
                dloss,
            )?])
        },
    )
}
