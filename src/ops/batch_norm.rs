//! batch_norm2d (batch_norm.wgsl): training and evaluation forward, and backward for both, each
//! with or without a ReLU after it in the same passes.

use super::{nchw, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader, Slot, View, distinct_binding_bytes};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

/// PyTorch's defaults for BatchNorm2d.
pub const DEFAULT_EPS: f32 = 1e-5;
pub const DEFAULT_MOMENTUM: f32 = 0.1;

kernel_params! {
    /// batch_norm.wgsl's launch parameters.
    struct Params {
        n: u32, c: u32, hw: u32, n_base: u32, x_off: u32, dy_off: u32, out_off: u32,
        training: u32, momentum: f32, eps: f32, count: u32, segments: u32, seg_len: u32,
        vec4_ok: u32, plane_invocations: u32, y_off: u32,
    }
}

slots! {
    /// batch_norm.wgsl's storage bindings.
    mod slot {
        X: x = 1, PARTIALS: partials = 2, PARTIALS_IN: partials_in = 3,
        RUNNING_MEAN: running_mean = 4, RUNNING_VAR: running_var = 5, STATS: stats = 6,
        STATS_IN: stats_in = 7, GAMMA: gamma = 8, BETA: beta = 9, OUT: out = 10, DY: dy = 11,
        DGAMMA: dgamma = 12, DBETA: dbeta = 13, DGAMMA_IN: dgamma_in = 14, DBETA_IN: dbeta_in = 15,
        X4: x4 = 16, DY4: dy4 = 17, OUT4: out4 = 18, Y: y = 19, Y4: y4 = 20,
    }
}

slots! {
    /// batch_norm.wgsl's storage bindings when it reads x and dy as vec4s from texture copies,
    /// bound at slot::X4's and slot::DY4's binding numbers.
    mod texture_slot {
        X: x = 1, PARTIALS: partials = 2, PARTIALS_IN: partials_in = 3,
        RUNNING_MEAN: running_mean = 4, RUNNING_VAR: running_var = 5, STATS: stats = 6,
        STATS_IN: stats_in = 7, GAMMA: gamma = 8, BETA: beta = 9, OUT: out = 10, DY: dy = 11,
        DGAMMA: dgamma = 12, DBETA: dbeta = 13, DGAMMA_IN: dgamma_in = 14, DBETA_IN: dbeta_in = 15,
        OUT4: out4 = 18, Y: y = 19, Y4: y4 = 20,
    }
}

/// A launch of a batch_norm.wgsl kernel: with the fused ReLU on or off, and reading x (and dy)
/// as vec4s (bound at slot::X4 and slot::DY4) where its parameters' `vec4_ok` says.
struct BatchNormLaunch<'a> {
    entry: &'static str,
    params: &'a Params,
    buffers: &'a [(Slot, &'a View<'a>)],
    constants: &'a [(&'static str, f64)],
    relu: bool,
}

impl BatchNormLaunch<'_> {
    /// Runs `invocations` invocations, reading x and dy as vec4s from texture copies of their
    /// bindings where the device reads operands from textures, else from the buffers.
    fn run(&self, gpu: &Gpu, invocations: usize) -> Result<()> {
        let from_buffers = || {
            let launch = Launch::new(Shader::BatchNorm, self.entry, self.params, self.buffers);
            with_relu_variant(launch.constants(self.constants), self.relu).run(gpu, invocations)
        };
        if self.params.vec4_ok == 0 || !gpu.tuning().reads_texture_copies() {
            return from_buffers();
        }
        let find = |wanted: Slot| {
            self.buffers
                .iter()
                .find(|(s, _)| s.binding == wanted.binding)
                .map(|&(_, v)| v)
        };
        let others: Vec<(Slot, &View)> = self
            .buffers
            .iter()
            .filter(|(s, _)| ![slot::X4.binding, slot::DY4.binding].contains(&s.binding))
            .copied()
            .collect();
        let bytes = distinct_binding_bytes(self.buffers);
        let from_textures = |textures: &[(u32, &wgpu::TextureView)]| {
            let launch = Launch::new(Shader::BatchNormTextures, self.entry, self.params, &others)
                .constants(self.constants)
                .textures(textures)
                .bytes(bytes);
            let variant = if self.relu {
                "relu, texture copies"
            } else {
                "texture copies"
            };
            launch.variant(variant).run(gpu, invocations)
        };
        let x = find(slot::X4).expect("a vec4 launch binds x4");
        match find(slot::DY4) {
            Some(dy) => gpu.with_texture_copies([x, dy], |copies| match copies {
                Some([xt, dyt]) => {
                    from_textures(&[(slot::X4.binding, &xt), (slot::DY4.binding, &dyt)])
                }
                None => from_buffers(),
            }),
            None => gpu.with_texture_copy(x, |copy| match copy {
                Some(xt) => from_textures(&[(slot::X4.binding, &xt)]),
                None => from_buffers(),
            }),
        }
    }
}

/// Values per partial sum (batch_norm.wgsl's segments); a multiple of 4 for the vec4 loads.
const SEGMENT: usize = 1024;

/// Vec4s of one plane an invocation of apply_vec4 and backward_input_vec4 takes (their override
/// PLANE_VEC4S, which every launch of theirs sets).
const PLANE_VEC4S: u32 = 4;
/// The values launches give batch_norm.wgsl's own overrides (for tests/shaders).
pub(crate) const OVERRIDES: &[(&str, &[f64])] = &[
    ("RELU", &[0.0, 1.0]),
    ("PLANE_VEC4S", &[PLANE_VEC4S as f64]),
];

/// Whether planes and the views' element shifts are multiples of 4, so kernels may read vec4s.
fn vec4_ok(p: &Params) -> bool {
    [p.hw, p.x_off, p.dy_off, p.out_off, p.y_off]
        .iter()
        .all(|v| v.is_multiple_of(4))
}

/// Runs a per-element kernel (`scalar`) or, when `params` allows vec4s, its vec4 form (`vec4`,
/// PlaneShare's grid) over the n * c planes of `params`, with the fused ReLU on or off. Each
/// buffer comes with its slot in either form: (scalar slot, vec4 slot, view).
fn run_per_element(
    gpu: &Gpu,
    mut params: Params,
    (scalar, vec4): (&'static str, &'static str),
    relu: bool,
    buffers: &[(Slot, Slot, &View)],
) -> Result<()> {
    let planes = (params.n * params.c) as usize;
    params.vec4_ok = u32::from(vec4_ok(&params));
    let vec4_form = params.vec4_ok == 1;
    let (entry, invocations) = if vec4_form {
        params.plane_invocations = (params.hw / 4).div_ceil(PLANE_VEC4S);
        (vec4, planes * params.plane_invocations as usize)
    } else {
        (scalar, planes * params.hw as usize)
    };
    let bound: Vec<(Slot, &View)> = buffers
        .iter()
        .map(|&(s, s4, v)| (if vec4_form { s4 } else { s }, v))
        .collect();
    let constants = [
        ("RELU", f64::from(u8::from(relu))),
        ("PLANE_VEC4S", f64::from(PLANE_VEC4S)),
    ];
    BatchNormLaunch {
        entry,
        params: &params,
        buffers: &bound,
        constants: &constants,
        relu,
    }
    .run(gpu, invocations)
}

/// Names a launch that fuses the ReLU in the profiler's table.
fn with_relu_variant(launch: Launch, relu: bool) -> Launch {
    if relu { launch.variant("relu") } else { launch }
}

/// (segments per plane, segment length) for planes of `hw` values.
fn segments(hw: usize) -> (usize, usize) {
    let seg_len = hw.clamp(1, SEGMENT);
    (hw.div_ceil(seg_len), seg_len)
}

/// A BatchNorm2d's running statistics, each [C], and the hyper-parameters that update and use
/// them.
#[derive(Clone, Copy)]
pub struct RunningStats<'a> {
    pub mean: &'a Tensor,
    pub var: &'a Tensor,
    pub momentum: f32,
    pub eps: f32,
}

/// The affine parameters, each [C], and running statistics of one BatchNorm2d, and whether a
/// ReLU follows it in the same pass.
#[derive(Clone, Copy)]
pub struct BatchNormParams<'a> {
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
    pub running: RunningStats<'a>,
    /// y = max(batch_norm2d(x), 0): a ReLU after the layer, without a pass of its own.
    pub relu: bool,
}

/// Forward result: y (after the ReLU when fused), and the statistics used, [2, C] = (mean,
/// 1/sqrt(var + eps)), kept for backward.
pub struct BatchNormOutput {
    pub y: Tensor,
    pub stats: Tensor,
}

/// What batch_norm2d's backward needs from its forward.
#[derive(Clone, Copy)]
pub struct BatchNormSaved<'a> {
    /// The forward's input.
    pub x: &'a Tensor,
    pub gamma: &'a Tensor,
    /// `BatchNormOutput::stats`.
    pub stats: &'a Tensor,
    /// Which forward ran: in training the batch statistics depend on x; in evaluation they are
    /// constants.
    pub training: bool,
    /// The forward's output when it fused a ReLU: dy passes only where it is > 0.
    pub relu_output: Option<&'a Tensor>,
}

/// Gradients of batch_norm2d.
pub struct BatchNormGrads {
    pub dx: Tensor,
    pub dgamma: Tensor,
    pub dbeta: Tensor,
}

fn check(x: &Tensor, p: &BatchNormParams) -> Result<[usize; 4]> {
    let shape = nchw("batch_norm2d", "input", x.shape())?;
    let c = shape[1];
    for (name, t) in [
        ("weight", p.gamma),
        ("bias", p.beta),
        ("running_mean", p.running.mean),
        ("running_var", p.running.var),
    ] {
        crate::ensure_shape!(
            t.shape() == [c],
            "batch_norm2d: {name} must be [{c}] for input {:?}, got {:?}",
            x.shape(),
            t.shape()
        );
    }
    Ok(shape)
}

/// Which per-segment partial sums `plane_partials` computes.
#[derive(Clone, Copy)]
enum Partials {
    /// (mean, sum of squared deviations) of x.
    Stats,
    /// (sum dy, sum dy * xhat).
    Backward,
}

impl Partials {
    /// The kernel: one invocation per segment (CPU family) or one workgroup (GPU family).
    fn entry(self, family: KernelFamily) -> &'static str {
        match (self, family) {
            (Partials::Stats, KernelFamily::Cpu) => "stats_partials",
            (Partials::Stats, KernelFamily::Gpu) => "stats_partials_workgroup",
            (Partials::Backward, KernelFamily::Cpu) => "backward_partials",
            (Partials::Backward, KernelFamily::Gpu) => "backward_partials_workgroup",
        }
    }
}

/// Per-segment partial sums into a [N, segments, C, 2] tensor.
fn plane_partials(
    gpu: &Gpu,
    partial_sums: Partials,
    x: &Tensor,
    dy_and_relu_output: Option<(&Tensor, Option<&Tensor>)>,
    stats: Option<&Tensor>,
) -> Result<Tensor> {
    let [n, c, h, w] = nchw("batch_norm2d", "input", x.shape())?;
    let hw = h * w;
    let (segs, seg_len) = segments(hw);
    let partials = Tensor::uninit(gpu, &[n, segs, c, 2], DType::F32);
    let pv = gpu.whole(&partials, "batch_norm2d partial sums")?;
    let sv = stats
        .map(|s| gpu.whole(s, "batch_norm2d statistics"))
        .transpose()?;
    for chunk in gpu.batch_chunks(n, &[("batch_norm2d input", c * hw)])? {
        let xv = gpu.view(x, chunk.start * c * hw, chunk.len() * c * hw);
        let chunk_view = |t| gpu.view(t, chunk.start * c * hw, chunk.len() * c * hw);
        let dv = dy_and_relu_output.map(|(dy, _)| chunk_view(dy));
        // Without a ReLU the kernels read no output; dy stands in for the binding.
        let yv = dy_and_relu_output.map(|(dy, y)| chunk_view(y.unwrap_or(dy)));
        let mut params = Params {
            n: u32_of(chunk.len()),
            c: u32_of(c),
            hw: u32_of(hw),
            n_base: u32_of(chunk.start),
            x_off: xv.shift,
            dy_off: dv.as_ref().map_or(0, |v| v.shift),
            y_off: yv.as_ref().map_or(0, |v| v.shift),
            segments: u32_of(segs),
            seg_len: u32_of(seg_len),
            ..Params::default()
        };
        params.vec4_ok = u32::from(vec4_ok(&params));
        let mut buffers = vec![(slot::X, &xv), (slot::PARTIALS, &pv), (slot::X4, &xv)];
        if let Some(sv) = &sv {
            buffers.push((slot::STATS_IN, sv));
        }
        if let (Some(dv), Some(yv)) = (&dv, &yv) {
            buffers.extend([
                (slot::DY, dv),
                (slot::DY4, dv),
                (slot::Y, yv),
                (slot::Y4, yv),
            ]);
        }
        // Only the backward partial sums read RELU.
        let relu = dy_and_relu_output.is_some_and(|(_, y)| y.is_some());
        let constants = [("RELU", f64::from(u8::from(relu)))];
        let tuning = gpu.tuning();
        let per_segment = match tuning.family {
            KernelFamily::Cpu => 1,
            KernelFamily::Gpu => tuning.workgroup_size as usize,
        };
        BatchNormLaunch {
            entry: partial_sums.entry(tuning.family),
            params: &params,
            buffers: &buffers,
            constants: match partial_sums {
                Partials::Stats => &[],
                Partials::Backward => &constants,
            },
            relu,
        }
        .run(gpu, chunk.len() * c * segs * per_segment)?;
    }
    Ok(partials)
}

/// Training-mode batch_norm2d on x [N, C, H, W]: normalises with the batch statistics and updates
/// the running statistics in place (momentum, unbiased variance), as PyTorch does.
pub fn batch_norm2d_train(gpu: &Gpu, x: &Tensor, p: &BatchNormParams) -> Result<BatchNormOutput> {
    let [n, c, h, w] = check(x, p)?;
    crate::ensure_shape!(
        n * h * w > 1,
        "batch_norm2d: training needs more than one value per channel, input is {:?}",
        x.shape()
    );
    let partials = plane_partials(gpu, Partials::Stats, x, None, None)?;
    let (segs, seg_len) = segments(h * w);
    let params = Params {
        n: u32_of(n),
        c: u32_of(c),
        hw: u32_of(h * w),
        momentum: p.running.momentum,
        eps: p.running.eps,
        count: u32_of(n * h * w),
        segments: u32_of(segs),
        seg_len: u32_of(seg_len),
        ..Params::default()
    };
    let partials_v = gpu.whole(&partials, "batch_norm2d partial sums")?;
    let stats = statistics(
        gpu,
        "stats_finalize",
        &params,
        Some(&partials_v),
        &p.running,
    )?;
    let y = apply(gpu, x, &stats, p)?;
    Ok(BatchNormOutput { y, stats })
}

/// Evaluation-mode batch_norm2d: normalises with the running statistics, which stay unchanged.
pub fn batch_norm2d_eval(gpu: &Gpu, x: &Tensor, p: &BatchNormParams) -> Result<BatchNormOutput> {
    let [_, c, _, _] = check(x, p)?;
    let params = Params {
        c: u32_of(c),
        eps: p.running.eps,
        ..Params::default()
    };
    let stats = statistics(gpu, "stats_eval", &params, None, &p.running)?;
    let y = apply(gpu, x, &stats, p)?;
    Ok(BatchNormOutput { y, stats })
}

/// The [2, C] statistics `entry` computes (`stats_finalize` from the batch's partial sums, updating
/// the running statistics; `stats_eval` from the running statistics alone), one invocation per
/// channel.
fn statistics(
    gpu: &Gpu,
    entry: &'static str,
    params: &Params,
    partials: Option<&View>,
    running: &RunningStats,
) -> Result<Tensor> {
    let c = params.c as usize;
    let stats = Tensor::uninit(gpu, &[2, c], DType::F32);
    let rm = gpu.whole(running.mean, "batch_norm2d running_mean")?;
    let rv = gpu.whole(running.var, "batch_norm2d running_var")?;
    let sv = gpu.whole(&stats, "batch_norm2d statistics")?;
    let mut buffers = vec![
        (slot::RUNNING_MEAN, &rm),
        (slot::RUNNING_VAR, &rv),
        (slot::STATS, &sv),
    ];
    if let Some(partials) = partials {
        buffers.push((slot::PARTIALS_IN, partials));
    }
    Launch::new(Shader::BatchNorm, entry, params, &buffers).run(gpu, c)?;
    Ok(stats)
}

/// y = (x - mean) * invstd * gamma + beta (then max(y, 0) with a fused ReLU), chunked over the
/// batch.
fn apply(gpu: &Gpu, x: &Tensor, stats: &Tensor, p: &BatchNormParams) -> Result<Tensor> {
    let [n, c, h, w] = nchw("batch_norm2d", "input", x.shape())?;
    let per = c * h * w;
    let y = Tensor::uninit(gpu, x.shape(), DType::F32);
    let sv = gpu.whole(stats, "batch_norm2d statistics")?;
    let gv = gpu.whole(p.gamma, "batch_norm2d weight")?;
    let bv = gpu.whole(p.beta, "batch_norm2d bias")?;
    for chunk in gpu.batch_chunks(n, &[("batch_norm2d input", per)])? {
        let xv = gpu.view(x, chunk.start * per, chunk.len() * per);
        let yv = gpu.view(&y, chunk.start * per, chunk.len() * per);
        let params = Params {
            n: u32_of(chunk.len()),
            c: u32_of(c),
            hw: u32_of(h * w),
            x_off: xv.shift,
            out_off: yv.shift,
            ..Params::default()
        };
        run_per_element(
            gpu,
            params,
            ("apply", "apply_vec4"),
            p.relu,
            &[
                (slot::X, slot::X4, &xv),
                (slot::STATS_IN, slot::STATS_IN, &sv),
                (slot::GAMMA, slot::GAMMA, &gv),
                (slot::BETA, slot::BETA, &bv),
                (slot::OUT, slot::OUT4, &yv),
            ],
        )?;
    }
    Ok(y)
}

/// Gradients of batch_norm2d (and of the ReLU after it, when the forward fused one) for the
/// output gradient `dy`.
pub fn batch_norm2d_backward(
    gpu: &Gpu,
    saved: &BatchNormSaved,
    dy: &Tensor,
) -> Result<BatchNormGrads> {
    let BatchNormSaved {
        x,
        gamma,
        stats,
        training,
        relu_output,
    } = *saved;
    let [n, c, h, w] = nchw("batch_norm2d backward", "input", x.shape())?;
    crate::ensure_shape!(
        dy.shape() == x.shape()
            && gamma.shape() == [c]
            && stats.shape() == [2, c]
            && relu_output.is_none_or(|y| y.shape() == x.shape()),
        "batch_norm2d backward: dy {:?}, weight {:?}, stats {:?} and output {:?} do not match \
         input {:?}",
        dy.shape(),
        gamma.shape(),
        stats.shape(),
        relu_output.map(Tensor::shape),
        x.shape()
    );
    let partials = plane_partials(
        gpu,
        Partials::Backward,
        x,
        Some((dy, relu_output)),
        Some(stats),
    )?;
    let (segs, _) = segments(h * w);
    let dgamma = Tensor::uninit(gpu, &[c], DType::F32);
    let dbeta = Tensor::uninit(gpu, &[c], DType::F32);
    let partials_v = gpu.whole(&partials, "batch_norm2d partial sums")?;
    let dgv = gpu.whole(&dgamma, "batch_norm2d weight gradient")?;
    let dbv = gpu.whole(&dbeta, "batch_norm2d bias gradient")?;
    let params = Params {
        n: u32_of(n),
        c: u32_of(c),
        segments: u32_of(segs),
        ..Params::default()
    };
    Launch::new(
        Shader::BatchNorm,
        "backward_finalize",
        &params,
        &[
            (slot::PARTIALS_IN, &partials_v),
            (slot::DGAMMA, &dgv),
            (slot::DBETA, &dbv),
        ],
    )
    .run(gpu, c)?;
    let sv = gpu.whole(stats, "batch_norm2d statistics")?;
    let gv = gpu.whole(gamma, "batch_norm2d weight")?;
    let per = c * h * w;
    let dx = Tensor::uninit(gpu, x.shape(), DType::F32);
    for chunk in gpu.batch_chunks(n, &[("batch_norm2d input", per)])? {
        let xv = gpu.view(x, chunk.start * per, chunk.len() * per);
        let dv = gpu.view(dy, chunk.start * per, chunk.len() * per);
        let ov = gpu.view(&dx, chunk.start * per, chunk.len() * per);
        // Without a ReLU the kernels read no output; dy stands in for the binding.
        let yv = gpu.view(
            relu_output.unwrap_or(dy),
            chunk.start * per,
            chunk.len() * per,
        );
        let params = Params {
            n: u32_of(chunk.len()),
            c: u32_of(c),
            hw: u32_of(h * w),
            x_off: xv.shift,
            dy_off: dv.shift,
            out_off: ov.shift,
            y_off: yv.shift,
            training: u32::from(training),
            count: u32_of(n * h * w),
            ..Params::default()
        };
        run_per_element(
            gpu,
            params,
            ("backward_input", "backward_input_vec4"),
            relu_output.is_some(),
            &[
                (slot::X, slot::X4, &xv),
                (slot::STATS_IN, slot::STATS_IN, &sv),
                (slot::GAMMA, slot::GAMMA, &gv),
                (slot::OUT, slot::OUT4, &ov),
                (slot::DY, slot::DY4, &dv),
                (slot::DGAMMA_IN, slot::DGAMMA_IN, &dgv),
                (slot::DBETA_IN, slot::DBETA_IN, &dbv),
                (slot::Y, slot::Y4, &yv),
            ],
        )?;
    }
    Ok(BatchNormGrads { dx, dgamma, dbeta })
}
