//! The weight gradient of a convolution (conv_weight_grad.wgsl's channels_last and
//! weight_grad_partial, summed by reduce.wgsl): conv2d's, and conv_transpose2d's with x and dy
//! exchanged. The channels-last copies go into storage buffers, or into the device's operand
//! textures where its `ProductOperands` says to read operands from textures.

use super::{Conv2dArgs, Params, VEC, check_args, geometry};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, ProductOperands, Shader, TEXEL_BYTES, texture_view};
use crate::ops::interface::slots;
use crate::ops::reduce::sum_columns_into;
use crate::ops::tiled;
use crate::ops::{nchw, u32_of};
use crate::tensor::{DType, Tensor};

slots! {
    /// conv_weight_grad.wgsl's storage bindings, its channels-last copies in storage buffers
    /// (weight, bias and y: conv_common.wgsl's, unused).
    mod slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, PARTIAL: partial = 6,
        X_LAST: x_last = 8, DY_LAST: dy_last = 9, OUT4: out4 = 11,
    }
}

slots! {
    /// conv_weight_grad.wgsl's storage bindings with its channels-last copies in textures, bound
    /// at slot::X_LAST's, slot::DY_LAST's and slot::OUT4's binding numbers.
    mod texture_slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, PARTIAL: partial = 6,
    }
}

/// Invocations a weight-gradient launch aims for; the reduction is cut into segments to reach it.
const WEIGHT_GRAD_INVOCATIONS: usize = 1 << 14;
/// `weight_grad_partial` computes GRAD_BLOCK output x GRAD_BLOCK input channels per invocation.
const GRAD_BLOCK: usize = 8;

/// channels_last's launch over items `items` of an NCHW tensor with [c, h, w] per item: its
/// parameters, the view of the items, and the vec4s of the copy.
fn channels_last_launch<'t>(
    gpu: &Gpu,
    t: &'t Tensor,
    items: &std::ops::Range<usize>,
    [c, h, w]: [usize; 3],
) -> (Params, crate::gpu::View<'t>, usize) {
    let per = c * h * w;
    let src = gpu.view(t, items.start * per, items.len() * per);
    let params = Params {
        n: u32_of(items.len()),
        c_in: u32_of(c),
        h: u32_of(h),
        w: u32_of(w),
        x_off: src.shift,
        ..Params::default()
    };
    (params, src, items.len() * h * w * c.div_ceil(VEC))
}

/// Items `items` of an NCHW tensor with [c, h, w] per item, as a new [items, h, w, c padded to 4].
fn channels_last(
    gpu: &Gpu,
    t: &Tensor,
    items: &std::ops::Range<usize>,
    dims: [usize; 3],
) -> Result<Tensor> {
    let (params, src, vec4s) = channels_last_launch(gpu, t, items, dims);
    let [c, h, w] = dims;
    let out = Tensor::uninit(gpu, &[items.len(), h, w, c.div_ceil(VEC) * VEC], DType::F32);
    let dst = gpu.whole(&out, "channels-last copy")?;
    Launch::new(
        Shader::ConvWeightGrad,
        "channels_last",
        &params,
        &[(slot::X, &src), (slot::OUT4, &dst)],
    )
    .run(gpu, vec4s)?;
    Ok(out)
}

/// `channels_last` into an operand texture (`Gpu::with_textures`), vec4 i at texel i.
fn channels_last_into(
    gpu: &Gpu,
    t: &Tensor,
    items: &std::ops::Range<usize>,
    dims: [usize; 3],
    texture: &wgpu::Texture,
) -> Result<()> {
    let (params, src, vec4s) = channels_last_launch(gpu, t, items, dims);
    Launch::new(
        Shader::ConvWeightGradTextures,
        "channels_last",
        &params,
        &[(texture_slot::X, &src)],
    )
    .textures(&[(slot::OUT4.binding, &texture_view(texture))])
    .variant("into a texture")
    .bytes((dims.iter().product::<usize>() * items.len() * 4 + vec4s * TEXEL_BYTES as usize) as f64)
    .run(gpu, vec4s)
}

/// grad[a, b, ky, kx] = sum over n, oy, ox of g[n, a, oy, ox] * x[n, b, oy*s - p + ky, ox*s - p + kx],
/// the weight gradient of a convolution of x giving g (conv2d: g = dy; conv_transpose2d: g = its
/// input and x = its dy). Cut into segments of output rows, summed in a fixed order.
pub(crate) fn weight_grad(
    gpu: &Gpu,
    g: &Tensor,
    x: &Tensor,
    kernel: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    let [n, c_out, oh, ow] = nchw("conv weight gradient", "output gradient", g.shape())?;
    let [xn, c_in, h, w] = nchw("conv weight gradient", "input", x.shape())?;
    check_args("conv weight gradient", &args, kernel)?;
    let [kh, kw] = kernel;
    crate::ensure_shape!(
        xn == n && args.out_hw([h, w], kernel) == Some([oh, ow]),
        "conv weight gradient: gradient {:?} does not match input {:?} with kernel {kernel:?}",
        g.shape(),
        x.shape()
    );
    if gpu.tuning().family == KernelFamily::Gpu {
        let geometry = geometry([xn, c_in, h, w], [c_out, kh, kw], [oh, ow], args);
        return tiled::weight_grad(gpu, g, x, geometry);
    }
    let weights = c_out * c_in * kh * kw;
    let dw = Tensor::uninit(gpu, &[c_out, c_in, kh, kw], DType::F32);
    if n * oh * ow == 0 {
        gpu.with_encoder(|e| e.clear_buffer(dw.buffer(), 0, None));
        return Ok(dw);
    }
    let per_g = c_out * oh * ow;
    let (pad_out, pad_in) = (c_out.div_ceil(VEC) * VEC, c_in.div_ceil(VEC) * VEC);
    let chunks = gpu.batch_chunks(
        n,
        &[
            ("conv output gradient", pad_out * oh * ow),
            ("conv input", pad_in * h * w),
        ],
    )?;
    for (k, chunk) in chunks.into_iter().enumerate() {
        let rows = chunk.len() * oh;
        let max_segments = (gpu.max_view_elems() / weights).max(1);
        let blocks = c_out.div_ceil(GRAD_BLOCK) * c_in.div_ceil(GRAD_BLOCK) * kh * kw;
        let wanted = WEIGHT_GRAD_INVOCATIONS.div_ceil(blocks);
        let rows_per_segment = rows.div_ceil(wanted.min(max_segments).clamp(1, rows));
        let segments = rows.div_ceil(rows_per_segment);
        // One segment of the only chunk is the gradient itself: no partial sums to add up.
        let direct = segments == 1 && k == 0 && chunk.len() == n;
        let partial = if direct {
            dw.clone()
        } else {
            Tensor::uninit(gpu, &[segments, weights], DType::F32)
        };
        let pv = gpu.whole(&partial, "conv weight-gradient partial sums")?;
        let params = Params {
            segments: u32_of(segments),
            rows_per_segment: u32_of(rows_per_segment),
            ..Params::new(
                [chunk.len(), c_in, h, w],
                [c_out, kh, kw],
                [oh, ow],
                args,
                [0, 0],
            )
        };
        let flops = 2.0 * (chunk.len() * per_g * c_in * kh * kw) as f64;
        let invocations = segments * blocks;
        let [g_dims, x_dims] = [[c_out, oh, ow], [c_in, h, w]];
        let from_buffers = || -> Result<()> {
            let g_last = channels_last(gpu, g, &chunk, g_dims)?;
            let x_last = channels_last(gpu, x, &chunk, x_dims)?;
            let gv = gpu.whole(&g_last, "channels-last conv output gradient")?;
            let xv = gpu.whole(&x_last, "channels-last conv input")?;
            Launch::new(
                Shader::ConvWeightGrad,
                "weight_grad_partial",
                &params,
                &[
                    (slot::PARTIAL, &pv),
                    (slot::X_LAST, &xv),
                    (slot::DY_LAST, &gv),
                ],
            )
            .flops(flops)
            .run(gpu, invocations)
        };
        if gpu.tuning().product_operands == ProductOperands::Buffers {
            from_buffers()?;
        } else {
            let vec4s = [pad_out * oh * ow, pad_in * h * w].map(|per| chunk.len() * per / VEC);
            gpu.with_textures(vec4s.map(|v| v as u64), |textures| {
                let Some([g_texture, x_texture]) = textures else {
                    return from_buffers();
                };
                channels_last_into(gpu, g, &chunk, g_dims, g_texture)?;
                channels_last_into(gpu, x, &chunk, x_dims, x_texture)?;
                Launch::new(
                    Shader::ConvWeightGradTextures,
                    "weight_grad_partial",
                    &params,
                    &[(texture_slot::PARTIAL, &pv)],
                )
                .textures(&[
                    (slot::X_LAST.binding, &texture_view(x_texture)),
                    (slot::DY_LAST.binding, &texture_view(g_texture)),
                ])
                .variant("from textures")
                .flops(flops)
                .bytes(((vec4s[0] + vec4s[1]) * TEXEL_BYTES as usize + partial.numel() * 4) as f64)
                .run(gpu, invocations)
            })?;
        }
        if !direct {
            sum_columns_into(gpu, &partial, segments, weights, &dw, k > 0)?;
        }
    }
    Ok(dw)
}
