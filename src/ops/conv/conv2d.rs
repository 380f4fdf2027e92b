//! conv2d (conv2d.wgsl): forward and gradients. The input gradient is the forward kernel with a
//! flipped weight or the transposed-convolution gather (gather.rs); the weight gradient is
//! Winograd's or weight_grad.rs's.

pub use super::{Conv2dArgs, conv_out_len};
use super::{
    Params, VEC, check_operands, conv2d_slot as slot, gather, geometry, weight_grad, winograd,
};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader};
use crate::ops::batched_matmul::{ALayout, batched_products};
use crate::ops::tiled::{self, Convolution};
use crate::ops::{nchw, optional_input, u32_of};
use crate::tensor::{DType, Tensor};

/// Register block of conv2d.wgsl's `forward`: FC output channels x FX output pixels.
const FC: usize = 8;
const FX: usize = 4;
/// `forward_rows` computes FC output channels x QUADS quads of 4 pixels of a row per invocation,
/// for kernels up to MAX_KW wide (two vec4s of a padded row hold a quad's inputs).
const QUADS: usize = 2;
const MAX_KW: usize = 5;
/// The values launches give conv2d.wgsl's own overrides: `forward_rows`'s kernel width KW
/// (1..=MAX_KW) and ROW_PAIRS (for tests/shaders).
pub(crate) const OVERRIDES: &[(&str, &[f64])] = &[
    ("KW", &[1.0, 2.0, 3.0, 4.0, 5.0]),
    ("ROW_PAIRS", &[0.0, 1.0]),
];
/// Planes of at least this many blocks run image by image in `forward_rows` (see its grid order).
const IMAGE_MAJOR_BLOCKS: usize = 8;

/// y = conv2d(x, weight) + bias. x [N, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout].
pub fn conv2d(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: Conv2dArgs,
) -> Result<Tensor> {
    let (dims, [c_out, kh, kw]) = check_operands("conv2d", x, weight, 1, bias, &args)?;
    let [_, _, h, w] = dims;
    let Some([oh, ow]) = args.out_hw([h, w], [kh, kw]) else {
        return Err(crate::shape_err!(
            "conv2d: kernel {kh}x{kw} is larger than the padded input {:?} (padding {:?})",
            x.shape(),
            args.padding
        ));
    };
    if gpu.tuning().family == KernelFamily::Gpu {
        let g = geometry(dims, [c_out, kh, kw], [oh, ow], args);
        return tiled::convolution(gpu, Convolution::Direct, x, weight, bias, g);
    }
    if [kh, kw] == [3, 3]
        && args.stride == [1, 1]
        && let Some(y) = winograd::conv3x3(gpu, x, weight, false, bias, [oh, ow], args.padding)?
    {
        return Ok(y);
    }
    if [kh, kw] == [1, 1]
        && args.stride == [1, 1]
        && args.padding == [0, 0]
        && let Some(y) = pointwise(gpu, x, weight, false, bias)?
    {
        return Ok(y);
    }
    let packed = pack_weight(gpu, weight, false)?;
    forward_packed(gpu, x, &packed, [c_out, kh, kw], bias, [oh, ow], args)
}

/// A 1x1 stride-1 unpadded convolution as one matrix product per image, with the weight [c_out,
/// c_in] read as it lies: y[n] = W x[n] (+ bias) as a row-major A, or with `transposed` the input
/// gradient dx[n] = W^T dy[n] as a k-major one; no packing. None when the channels or the plane
/// are not whole vec4s, or a tensor would not fit one binding: the caller takes the general path.
fn pointwise(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    transposed: bool,
    bias: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let [n, k, h, w] = nchw("conv2d", "input", x.shape())?;
    let [a, b, _, _] = nchw("conv2d", "weight", weight.shape())?;
    let (m, layout) = if transposed {
        (b, ALayout::KMajor(b))
    } else {
        (a, ALayout::Rows(b))
    };
    let hw = h * w;
    let cap = gpu.max_view_elems();
    if !(b.is_multiple_of(VEC) && hw.is_multiple_of(VEC))
        || [x.numel(), weight.numel(), n * m * hw]
            .iter()
            .any(|&e| e > cap)
    {
        return Ok(None);
    }
    let y = Tensor::uninit(gpu, &[n, m, h, w], DType::F32);
    let (wv, xv, yv) = (
        gpu.whole(weight, "conv2d weight")?,
        gpu.whole(x, "conv2d input")?,
        gpu.whole(&y, "conv2d output")?,
    );
    let bv = bias.map(|b| gpu.whole(b, "conv2d bias")).transpose()?;
    batched_products(
        gpu,
        (n, [0, k * hw, m * hw]),
        [m, hw, k],
        (&wv, layout),
        (&xv, hw),
        &yv,
        bv.as_ref(),
    )?;
    Ok(Some(y))
}

/// The weight as `forward` reads it: [c_in, kh, kw, c_out padded to FC] (see pack_weight in
/// conv2d.wgsl); `flip` packs a [c_in', c_out', kh, kw] weight flipped, for input gradients.
fn pack_weight(gpu: &Gpu, weight: &Tensor, flip: bool) -> Result<Tensor> {
    let [a, b, kh, kw] = nchw("conv2d", "weight", weight.shape())?;
    let (c_out, c_in) = if flip { (b, a) } else { (a, b) };
    let padded = c_out.div_ceil(FC) * FC;
    let packed = Tensor::uninit(gpu, &[c_in, kh, kw, padded], DType::F32);
    let params = Params {
        c_in: u32_of(c_in),
        c_out: u32_of(c_out),
        kh: u32_of(kh),
        kw: u32_of(kw),
        flip: u32::from(flip),
        ..Params::default()
    };
    let wv = gpu.whole(weight, "conv2d weight")?;
    let pv = gpu.whole(&packed, "packed conv2d weight")?;
    if !flip && (c_in * kh * kw).is_multiple_of(VEC) {
        Launch::new(
            Shader::Conv2d,
            "pack_weight_blocks",
            &params,
            &[(slot::WEIGHT4, &wv), (slot::OUT4, &pv)],
        )
        .run(gpu, packed.numel() / (VEC * VEC))?;
        return Ok(packed);
    }
    Launch::new(
        Shader::Conv2d,
        "pack_weight",
        &params,
        &[(slot::WEIGHT, &wv), (slot::OUT4, &pv)],
    )
    .run(gpu, packed.numel() / VEC)?;
    Ok(packed)
}

/// The convolution of x with a packed weight of `c_out` output channels and a `kh` x `kw` kernel,
/// into an output of `out_hw`, chunked over the batch.
fn forward_packed(
    gpu: &Gpu,
    x: &Tensor,
    packed: &Tensor,
    [c_out, kh, kw]: [usize; 3],
    bias: Option<&Tensor>,
    [oh, ow]: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    let [n, c_in, h, w] = nchw("conv2d", "input", x.shape())?;
    let y = Tensor::uninit(gpu, &[n, c_out, oh, ow], DType::F32);
    let wv = gpu.whole(packed, "packed conv2d weight")?;
    let bv = bias.map(|b| gpu.whole(b, "conv2d bias")).transpose()?;
    // forward_rows reads a zero-padded copy of the input; other strides, wide kernels, and items
    // whose copy would not fit one binding take the general kernel. Planes at most 2 wide pair rows.
    let row_pairs = ow <= 2 && ow + kw <= VEC + 1;
    let rows_layout = Some(if row_pairs {
        (oh.div_ceil(2) * 2 + kh - 1, 1)
    } else {
        (oh + kh - 1, ow.div_ceil(VEC) + 1)
    })
    .filter(|&(rows, vec4s)| {
        args.stride == [1, 1] && kw <= MAX_KW && c_in * rows * vec4s * VEC <= gpu.max_view_elems()
    });
    let per_x = c_in * h * w;
    let per_y = c_out * oh * ow;
    let per_rows = rows_layout.map_or(0, |(rows, row_vec4s)| c_in * rows * row_vec4s * VEC);
    let chunks = gpu.batch_chunks(
        n,
        &[
            ("conv2d input", per_x),
            ("conv2d output", per_y),
            ("conv2d padded input", per_rows),
        ],
    )?;
    for chunk in chunks {
        let xv = gpu.view(x, chunk.start * per_x, chunk.len() * per_x);
        let yv = gpu.view(&y, chunk.start * per_y, chunk.len() * per_y);
        let mut params = Params::new(
            [chunk.len(), c_in, h, w],
            [c_out, kh, kw],
            [oh, ow],
            args,
            [xv.shift, yv.shift],
        );
        let flops = 2.0 * (chunk.len() * per_y * c_in * kh * kw) as f64;
        let Some((rows, row_vec4s)) = rows_layout else {
            let (entry, buffers) = optional_input(
                ["forward", "forward_bias"],
                bv.as_ref().map(|b| (slot::BIAS, b)),
                &[(slot::X, &xv), (slot::Y, &yv), (slot::PACKED, &wv)],
            );
            Launch::new(Shader::Conv2d, entry, &params, &buffers)
                .flops(flops)
                .run(
                    gpu,
                    chunk.len() * c_out.div_ceil(FC) * (oh * ow).div_ceil(FX),
                )?;
            continue;
        };
        params.rows = u32_of(rows);
        params.row_vec4s = u32_of(row_vec4s);
        let quads = if row_pairs {
            oh.div_ceil(2)
        } else {
            oh * ow.div_ceil(VEC)
        };
        let image_major = quads.div_ceil(QUADS) >= IMAGE_MAJOR_BLOCKS;
        params.image_major = u32::from(image_major);
        let blocks = if image_major {
            chunk.len() * quads.div_ceil(QUADS)
        } else {
            (chunk.len() * quads).div_ceil(QUADS)
        };
        let padded = Tensor::uninit(gpu, &[chunk.len() * per_rows], DType::F32);
        let pv = gpu.whole(&padded, "conv2d padded input")?;
        Launch::new(
            Shader::Conv2d,
            "pad_rows",
            &params,
            &[(slot::X, &xv), (slot::OUT4, &pv)],
        )
        .run(gpu, padded.numel() / VEC)?;
        let (entry, buffers) = optional_input(
            ["forward_rows", "forward_rows_bias"],
            bv.as_ref().map(|b| (slot::BIAS, b)),
            &[(slot::Y, &yv), (slot::PACKED, &wv), (slot::X_ROWS, &pv)],
        );
        Launch::new(Shader::Conv2d, entry, &params, &buffers)
            .constants(&[
                ("KW", kw as f64),
                ("ROW_PAIRS", f64::from(u8::from(row_pairs))),
            ])
            .flops(flops)
            .run(gpu, c_out.div_ceil(FC) * blocks)?;
    }
    Ok(y)
}

/// dx for y = conv2d(x, weight), sized like the input [H, W]. With stride 1 and padding below the
/// kernel it is the convolution of dy with the flipped, transposed weight (the fast forward kernel);
/// otherwise the transposed-convolution gather.
pub fn conv2d_input_grad(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    input_hw: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    let [c_out, c_in, kh, kw] = nchw("conv2d backward", "weight", weight.shape())?;
    let as_forward = args.stride == [1, 1]
        && args.padding[0] < kh
        && args.padding[1] < kw
        && gpu.tuning().family == KernelFamily::Cpu;
    if !as_forward {
        return gather::transposed_gather(gpu, dy, weight, None, input_hw, args);
    }
    let padding = [kh - 1 - args.padding[0], kw - 1 - args.padding[1]];
    let [_, _, oh, ow] = nchw("conv2d backward", "dy", dy.shape())?;
    let out_hw = [oh + 2 * padding[0] + 1 - kh, ow + 2 * padding[1] + 1 - kw];
    crate::ensure_shape!(
        dy.shape()[1] == c_out && out_hw == input_hw,
        "conv2d backward: dy {:?} does not come from an input of {input_hw:?} with weight {:?}",
        dy.shape(),
        weight.shape()
    );
    if [kh, kw] == [3, 3]
        && let Some(dx) = winograd::conv3x3(gpu, dy, weight, true, None, out_hw, padding)?
    {
        return Ok(dx);
    }
    if [kh, kw] == [1, 1]
        && let Some(dx) = pointwise(gpu, dy, weight, true, None)?
    {
        return Ok(dx);
    }
    let packed = pack_weight(gpu, weight, true)?;
    forward_packed(
        gpu,
        dy,
        &packed,
        [c_in, kh, kw],
        None,
        out_hw,
        Conv2dArgs {
            stride: [1, 1],
            padding,
        },
    )
}

/// dweight for y = conv2d(x, weight): [Cout, Cin, kh, kw].
pub fn conv2d_weight_grad(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    kernel: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    if kernel == [3, 3]
        && args.stride == [1, 1]
        && gpu.tuning().family == KernelFamily::Cpu
        && let Some(dw) = winograd::weight_grad3x3(gpu, x, dy, args.padding)?
    {
        return Ok(dw);
    }
    weight_grad::weight_grad(gpu, dy, x, kernel, args)
}
