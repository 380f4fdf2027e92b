//! Optimiser updates in place (optim.wgsl): SGD with momentum and weight decay, and Adam, both with
//! PyTorch's semantics.

use super::u32_of;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::Tensor;

/// torch.optim.SGD hyper-parameters (dampening 0, no Nesterov).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

/// torch.optim.Adam hyper-parameters (L2 weight decay, not AdamW; no AMSGrad).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

/// `wgnn train`'s defaults: a learning rate of 1e-4 (VGG's classifier sees each 1x1 feature 49
/// times on 32x32 inputs, and 1e-3 diverges there) and weight decay 5e-4, the homework's.
impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-4,
            momentum: 0.9,
            weight_decay: 5e-4,
        }
    }
}

/// `wgnn train`'s defaults: PyTorch's betas and eps, and the learning rate and weight decay of
/// `SgdConfig::default`.
impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 5e-4,
        }
    }
}

kernel_params! {
    /// optim.wgsl's parameters of `sgd`.
    struct SgdParams {
        len: u32, off: u32, first_step: u32, vec4_ok: u32, lr: f32, momentum: f32,
        weight_decay: f32, _pad2: f32,
    }
}

kernel_params! {
    /// optim.wgsl's parameters of `adam`.
    struct AdamParams {
        len: u32, off: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
        bias1: f32, sqrt_bias2: f32, vec4_ok: u32, _pad1: f32, _pad2: f32,
    }
}

slots! {
    /// optim.wgsl's storage bindings.
    mod slot {
        WEIGHT: weight = 1, GRAD: grad = 2, MOMENT1: moment1 = 3, MOMENT2: moment2 = 4,
        WEIGHT4: weight4 = 5, GRAD4: grad4 = 6, MOMENT1_4: moment1_4 = 7, MOMENT2_4: moment2_4 = 8,
    }
}

fn check(weight: &Tensor, others: &[(&str, &Tensor)]) -> Result<()> {
    for (name, t) in others {
        crate::ensure_shape!(
            t.shape() == weight.shape(),
            "optimizer: {name} {:?} does not match parameter {:?}",
            t.shape(),
            weight.shape()
        );
    }
    Ok(())
}

/// Vec4s an invocation of optim.wgsl updates (its override VEC4S, which every launch sets).
const VEC4S: usize = 4;
/// The values launches give optim.wgsl's own overrides (for tests/shaders).
pub(crate) const OVERRIDES: &[(&str, &[f64])] = &[("VEC4S", &[VEC4S as f64])];

/// Invocations of an update over `len` elements (see optim.wgsl).
fn invocations(len: usize, vec4_ok: u32) -> usize {
    if vec4_ok == 1 {
        (len / 4).div_ceil(VEC4S) + len % 4
    } else {
        len
    }
}

/// One SGD step on `weight` with gradient `grad`; `velocity` is the momentum buffer (unused when
/// momentum is 0). `first_step` makes velocity = gradient, as PyTorch's first step does.
pub fn sgd_step(
    gpu: &Gpu,
    weight: &Tensor,
    grad: &Tensor,
    velocity: &Tensor,
    first_step: bool,
    cfg: SgdConfig,
) -> Result<()> {
    check(weight, &[("gradient", grad), ("momentum buffer", velocity)])?;
    for r in gpu.range_chunks(weight.numel()) {
        let (wv, gv, vv) = (
            gpu.view(weight, r.start, r.len()),
            gpu.view(grad, r.start, r.len()),
            gpu.view(velocity, r.start, r.len()),
        );
        let params = SgdParams {
            len: u32_of(r.len()),
            off: wv.shift,
            vec4_ok: u32::from(wv.shift.is_multiple_of(4)),
            first_step: u32::from(first_step),
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            ..SgdParams::default()
        };
        Launch::new(
            Shader::Optim,
            "sgd",
            &params,
            &[
                (slot::WEIGHT, &wv),
                (slot::GRAD, &gv),
                (slot::MOMENT1, &vv),
                (slot::WEIGHT4, &wv),
                (slot::GRAD4, &gv),
                (slot::MOMENT1_4, &vv),
            ],
        )
        // Reads weight, gradient and velocity; writes the weight, and the velocity with momentum.
        .bytes((4 * r.len() * if cfg.momentum == 0.0 { 4 } else { 5 }) as f64)
        .constants(&[("VEC4S", VEC4S as f64)])
        .run(gpu, invocations(r.len(), params.vec4_ok))?;
    }
    Ok(())
}

/// One Adam step; `step` counts from 1 (the bias corrections use it). `m` and `v` are the moments.
pub fn adam_step(
    gpu: &Gpu,
    weight: &Tensor,
    grad: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: u64,
    cfg: AdamConfig,
) -> Result<()> {
    check(
        weight,
        &[
            ("gradient", grad),
            ("first moment", m),
            ("second moment", v),
        ],
    )?;
    crate::ensure_shape!(step >= 1, "adam: steps count from 1, got {step}");
    let t = i32::try_from(step).unwrap_or(i32::MAX);
    let bias1 = 1.0 - f64::from(cfg.beta1).powi(t);
    let bias2 = 1.0 - f64::from(cfg.beta2).powi(t);
    for r in gpu.range_chunks(weight.numel()) {
        let views = [weight, grad, m, v].map(|t| gpu.view(t, r.start, r.len()));
        let params = AdamParams {
            len: u32_of(r.len()),
            off: views[0].shift,
            vec4_ok: u32::from(views[0].shift.is_multiple_of(4)),
            lr: cfg.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            bias1: bias1 as f32,
            sqrt_bias2: bias2.sqrt() as f32,
            ..AdamParams::default()
        };
        Launch::new(
            Shader::Optim,
            "adam",
            &params,
            &[
                (slot::WEIGHT, &views[0]),
                (slot::GRAD, &views[1]),
                (slot::MOMENT1, &views[2]),
                (slot::MOMENT2, &views[3]),
                (slot::WEIGHT4, &views[0]),
                (slot::GRAD4, &views[1]),
                (slot::MOMENT1_4, &views[2]),
                (slot::MOMENT2_4, &views[3]),
            ],
        )
        // Reads all four tensors, writes all but the gradient.
        .bytes((4 * r.len() * 7) as f64)
        .constants(&[("VEC4S", VEC4S as f64)])
        .run(gpu, invocations(r.len(), params.vec4_ok))?;
    }
    Ok(())
}
