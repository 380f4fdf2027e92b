//! Optimiser updates in place (optim.wgsl, and optim_operands_words.wgsl's entry points where the
//! device loads 64-bit words): SGD with momentum and weight decay, and Adam, both with PyTorch's
//! semantics.

use std::ops::Range;

use super::u32_of;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader, Slot, TEXELS_PER_ROW, View};
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
    /// optim.wgsl's parameters of `sgd` (and of `sgd_words`).
    struct SgdParams {
        len: u32, off: u32, first_step: u32, units_ok: u32, lr: f32, momentum: f32,
        weight_decay: f32, region: u32,
    }
}

kernel_params! {
    /// optim.wgsl's parameters of `adam` (and of `adam_words`).
    struct AdamParams {
        len: u32, off: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
        bias1: f32, sqrt_bias2: f32, units_ok: u32, region: u32, _pad2: f32,
    }
}

slots! {
    /// optim.wgsl's storage bindings.
    mod slot {
        WEIGHT: weight = 1, GRAD: grad = 2, MOMENT1: moment1 = 3, MOMENT2: moment2 = 4,
        WEIGHT4: weight4 = 5, GRAD4: grad4 = 6, MOMENT1_4: moment1_4 = 7, MOMENT2_4: moment2_4 = 8,
    }
}

slots! {
    /// optim.wgsl's storage bindings when its vec4 path reads texture copies (bound at
    /// WEIGHT_GRAD_TEXELS and MOMENT_TEXELS): the gradient's vec4s are not bound.
    mod texture_slot {
        WEIGHT: weight = 1, GRAD: grad = 2, MOMENT1: moment1 = 3, MOMENT2: moment2 = 4,
        WEIGHT4: weight4 = 5, MOMENT1_4: moment1_4 = 7, MOMENT2_4: moment2_4 = 8,
    }
}

slots! {
    /// optim.wgsl's storage bindings with optim_operands_words.wgsl: the words entry points bind the
    /// four scalar arrays (for the elements past the words) and the four arrays of words.
    mod words_slot {
        WEIGHT: weight = 1, GRAD: grad = 2, MOMENT1: moment1 = 3, MOMENT2: moment2 = 4,
        WEIGHT4: weight4 = 5, GRAD4: grad4 = 6, MOMENT1_4: moment1_4 = 7, MOMENT2_4: moment2_4 = 8,
        WEIGHT8: weight8 = 11, GRAD8: grad8 = 12, MOMENT1_8: moment1_8 = 13,
        MOMENT2_8: moment2_8 = 14,
    }
}

/// optim_operands_textures.wgsl's two textures: the weight and gradient stacked, the moments
/// stacked.
const WEIGHT_GRAD_TEXELS: u32 = 9;
const MOMENT_TEXELS: u32 = 10;

/// Rows of an operand texture each operand of an update takes at most where the device reads
/// texture copies: 8 MiB, so a chunk of 2 M parameters copies its two or four operands into the
/// textures without growing them past what VGG16-bn's products already hold (72 MiB the two).
const REGION_ROWS: u64 = 128;

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

/// Vec4s an invocation of optim.wgsl updates (its override VEC4S, which every launch sets); even,
/// so an invocation of the words entry points takes whole words.
const VEC4S: usize = 4;
const _: () = assert!(VEC4S >= 2 && VEC4S.is_multiple_of(2));
/// The values launches give optim.wgsl's own overrides (for tests/shaders).
pub(crate) const OVERRIDES: &[(&str, &[f64])] = &[("VEC4S", &[VEC4S as f64])];

/// Invocations of an update over `len` elements in units of `width` floats, 4 (vec4s) or 8
/// (words), each invocation taking VEC4S vec4s' worth (see optim.wgsl's `slot`).
fn invocations(len: usize, units_ok: u32, width: usize) -> usize {
    if units_ok == 1 {
        (len / width).div_ceil(4 * VEC4S / width) + len % width
    } else {
        len
    }
}

/// How an update reads its operands over `len` elements: the ranges it launches over, and the
/// rows each operand takes in a texture where it reads texture copies (None: the buffers).
fn update_ranges(gpu: &Gpu, len: usize) -> (Vec<Range<usize>>, Option<u64>) {
    gpu.tuning()
        .reads_texture_copies()
        .then(|| gpu.stacked_ranges(len, REGION_ROWS, 2))
        .flatten()
        .map_or_else(
            || (gpu.range_chunks(len), None),
            |(ranges, rows)| (ranges, Some(rows)),
        )
}

/// An update kernel's parameters: `units_ok` says the views' shift lets the kernel read whole
/// units (vec4s or words), `region` how far apart its texture reads find the two operands stacked
/// in one texture (optim_operands_textures.wgsl).
trait UpdateParams: bytemuck::Pod {
    fn with(self, units_ok: bool, region: u32) -> Self;
}

impl UpdateParams for SgdParams {
    fn with(self, units_ok: bool, region: u32) -> Self {
        let units_ok = u32::from(units_ok);
        SgdParams {
            units_ok,
            region,
            ..self
        }
    }
}

impl UpdateParams for AdamParams {
    fn with(self, units_ok: bool, region: u32) -> Self {
        let units_ok = u32::from(units_ok);
        AdamParams {
            units_ok,
            region,
            ..self
        }
    }
}

/// One launch of an update over one range: `operands` are the views of the weight, the gradient
/// and the moments (SGD's velocity alone, with `moments_read` false where momentum is 0 and the
/// kernel does not use it), `len` elements long; `entry` and `words_entry` its entry points in
/// optim.wgsl and in optim_operands_words.wgsl.
struct Update<'a, P: UpdateParams> {
    entry: &'static str,
    words_entry: &'static str,
    params: P,
    operands: &'a [View<'a>],
    len: usize,
    moments_read: bool,
    bytes: f64,
}

impl<P: UpdateParams> Update<'_, P> {
    /// Runs the launch: by vec4s reading texture copies of the operands, `rows_each` rows apart,
    /// where that is given and the views' shift allows vec4s; else by 64-bit words where the
    /// device updates by words and the shift allows them; else by vec4s (or elements, where the
    /// shift allows no vec4s) from the buffers.
    fn run(&self, gpu: &Gpu, rows_each: Option<u64>) -> Result<()> {
        let (shift, len) = (self.operands[0].shift, self.len);
        // The operands bound as floats (for the elements past the units) and as `units`.
        let bound = |units: [Slot; 4]| -> Vec<(Slot, &View)> {
            let scalar = [slot::WEIGHT, slot::GRAD, slot::MOMENT1, slot::MOMENT2];
            (scalar.into_iter().zip(self.operands))
                .chain(units.into_iter().zip(self.operands))
                .collect()
        };
        let buffers = bound([slot::WEIGHT4, slot::GRAD4, slot::MOMENT1_4, slot::MOMENT2_4]);
        let constants = [("VEC4S", VEC4S as f64)];
        let vec4_ok = shift.is_multiple_of(4);
        let from_buffers = || {
            Launch::new(
                Shader::Optim,
                self.entry,
                &self.params.with(vec4_ok, 0),
                &buffers,
            )
            .bytes(self.bytes)
            .constants(&constants)
            .run(gpu, invocations(len, u32::from(vec4_ok), 4))
        };
        if let Some(rows_each) = rows_each.filter(|_| vec4_ok) {
            let region = rows_each * u64::from(TEXELS_PER_ROW);
            let params = self.params.with(true, u32_of(region as usize));
            let stored: Vec<(Slot, &View)> = buffers
                .iter()
                .filter(|(s, _)| s.binding != slot::GRAD4.binding)
                .copied()
                .collect();
            let (weight_grad, moments) = self.operands.split_at(2);
            let weight_grad: Vec<&View> = weight_grad.iter().collect();
            let moments: Vec<&View> = moments.iter().filter(|_| self.moments_read).collect();
            return gpu.with_stacked_copies([&weight_grad, &moments], rows_each, |textures| {
                let Some([weight_grad, moments]) = textures else {
                    return from_buffers();
                };
                Launch::new(Shader::OptimTextures, self.entry, &params, &stored)
                    .bytes(self.bytes)
                    .constants(&constants)
                    .textures(&[
                        (WEIGHT_GRAD_TEXELS, &weight_grad),
                        (MOMENT_TEXELS, &moments),
                    ])
                    .variant("texture copies")
                    .run(gpu, invocations(len, 1, 4))
            });
        }
        // Words need every binding 32-byte aligned, and devices may align storage bindings to as
        // little as 4 bytes.
        let words_ok = shift.is_multiple_of(8)
            && (self.operands.iter())
                .all(|v| v.binding.offset.is_multiple_of(32) && v.shift == shift);
        if gpu.tuning().updates_by_words() && words_ok {
            let words = bound([
                words_slot::WEIGHT8,
                words_slot::GRAD8,
                words_slot::MOMENT1_8,
                words_slot::MOMENT2_8,
            ]);
            return Launch::new(
                Shader::OptimWords,
                self.words_entry,
                &self.params.with(true, 0),
                &words,
            )
            .bytes(self.bytes)
            .constants(&constants)
            .run(gpu, invocations(len, 1, 8));
        }
        from_buffers()
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
    let (ranges, rows_each) = update_ranges(gpu, weight.numel());
    for r in ranges {
        let views = [weight, grad, velocity].map(|t| gpu.view(t, r.start, r.len()));
        let params = SgdParams {
            len: u32_of(r.len()),
            off: views[0].shift,
            first_step: u32::from(first_step),
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            ..SgdParams::default()
        };
        Update {
            entry: "sgd",
            words_entry: "sgd_words",
            params,
            operands: &views,
            len: r.len(),
            moments_read: cfg.momentum != 0.0,
            // Reads weight, gradient and velocity; writes the weight, and the velocity with momentum.
            bytes: (4 * r.len() * if cfg.momentum == 0.0 { 4 } else { 5 }) as f64,
        }
        .run(gpu, rows_each)?;
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
    let (ranges, rows_each) = update_ranges(gpu, weight.numel());
    for r in ranges {
        let views = [weight, grad, m, v].map(|t| gpu.view(t, r.start, r.len()));
        let params = AdamParams {
            len: u32_of(r.len()),
            off: views[0].shift,
            lr: cfg.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            bias1: bias1 as f32,
            sqrt_bias2: bias2.sqrt() as f32,
            ..AdamParams::default()
        };
        Update {
            entry: "adam",
            words_entry: "adam_words",
            params,
            operands: &views,
            len: r.len(),
            moments_read: true,
            // Reads all four tensors, writes all but the gradient.
            bytes: (4 * r.len() * 7) as f64,
        }
        .run(gpu, rows_each)?;
    }
    Ok(())
}
