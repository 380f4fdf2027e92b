//! The weight gradient of a convolution (conv2d.wgsl's channels_last and weight_grad_partial,
//! summed by reduce.wgsl): conv2d's, and conv_transpose2d's with x and dy exchanged.

use super::{Conv2dArgs, Params, VEC, check_args, conv2d_slot as slot, geometry};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader};
use crate::ops::reduce::sum_columns_into;
use crate::ops::tiled;
use crate::ops::{nchw, u32_of};
use crate::tensor::{DType, Tensor};

/// Invocations a weight-gradient launch aims for; the reduction is cut into segments to reach it.
const WEIGHT_GRAD_INVOCATIONS: usize = 1 << 14;
/// `weight_grad_partial` computes GRAD_BLOCK output x GRAD_BLOCK input channels per invocation.
const GRAD_BLOCK: usize = 8;

/// Items `items` of an NCHW tensor with [c, h, w] per item, as [items, h, w, c padded to 4].
fn channels_last(
    gpu: &Gpu,
    t: &Tensor,
    items: std::ops::Range<usize>,
    [c, h, w]: [usize; 3],
) -> Result<Tensor> {
    let per = c * h * w;
    let out = Tensor::uninit(gpu, &[items.len(), h, w, c.div_ceil(VEC) * VEC], DType::F32);
    let src = gpu.view(t, items.start * per, items.len() * per);
    let dst = gpu.whole(&out, "channels-last copy")?;
    let params = Params {
        n: u32_of(items.len()),
        c_in: u32_of(c),
        h: u32_of(h),
        w: u32_of(w),
        x_off: src.shift,
        ..Params::default()
    };
    Launch::new(
        Shader::Conv2d,
        "channels_last",
        &params,
        &[(slot::X, &src), (slot::OUT4, &dst)],
    )
    .run(gpu, out.numel() / VEC)?;
    Ok(out)
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
        let g_last = channels_last(gpu, g, chunk.clone(), [c_out, oh, ow])?;
        let x_last = channels_last(gpu, x, chunk.clone(), [c_in, h, w])?;
        let gv = gpu.whole(&g_last, "channels-last conv output gradient")?;
        let xv = gpu.whole(&x_last, "channels-last conv input")?;
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
        Launch::new(
            Shader::Conv2d,
            "weight_grad_partial",
            &params,
            &[
                (slot::PARTIAL, &pv),
                (slot::X_LAST, &xv),
                (slot::DY_LAST, &gv),
            ],
        )
        .flops(2.0 * (chunk.len() * per_g * c_in * kh * kw) as f64)
        .run(gpu, segments * blocks)?;
        if !direct {
            sum_columns_into(gpu, &partial, segments, weights, &dw, k > 0)?;
        }
    }
    Ok(dw)
}
