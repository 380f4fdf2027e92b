//! conv_transpose2d (conv_transpose2d.wgsl): forward as a gather; its input gradient is conv2d's
//! forward and its weight gradient conv2d's weight gradient with x and dy exchanged.

pub use super::conv_transpose_out_len;
use super::gather::transposed_gather;
use super::{Conv2dArgs, Params, check_args, conv2d, transpose_slot as slot, weight_grad};
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::batched_matmul::{ALayout, batched_products};
use crate::ops::{nchw, optional_input};
use crate::tensor::{DType, Tensor};

/// y = conv_transpose2d(x, weight) + bias. x [N, Cin, H, W], weight [Cin, Cout, kh, kw], bias [Cout];
/// y [N, Cout, (H-1)*sh - 2*ph + kh, (W-1)*sw - 2*pw + kw].
pub fn conv_transpose2d(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: Conv2dArgs,
) -> Result<Tensor> {
    let [_, _, h, w] = nchw("conv_transpose2d", "input", x.shape())?;
    let [_, _, kh, kw] = nchw("conv_transpose2d", "weight", weight.shape())?;
    check_args("conv_transpose2d", &args, [kh, kw])?;
    let Some([oh, ow]) = args.transpose_out_hw([h, w], [kh, kw]) else {
        return Err(crate::shape_err!(
            "conv_transpose2d: padding {:?} removes the whole output of input {:?} with kernel {kh}x{kw}",
            args.padding,
            x.shape()
        ));
    };
    crate::ensure_shape!(
        oh > 0 && ow > 0,
        "conv_transpose2d: empty output for input {:?}",
        x.shape()
    );
    if args.stride == [kh, kw]
        && let Some(y) = non_overlapping(gpu, x, weight, bias, [oh, ow], args.padding)?
    {
        return Ok(y);
    }
    transposed_gather(gpu, x, weight, bias, [oh, ow], args)
}

/// With stride == kernel (FCN's upsampling) the windows do not overlap, so the op is a matrix
/// product per image, the weight [c_in, c_out*kh*kw] read where it lies as a k-major A, then a
/// pass that puts each product entry in its output pixel (`place_patches`). None when the operand
/// shapes do not fit (rows and planes of whole vec4s, one binding each) or do not match: the
/// gather then runs, or names the mismatch.
fn non_overlapping(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    [oh, ow]: [usize; 2],
    padding: [usize; 2],
) -> Result<Option<Tensor>> {
    let [n, c_in, h, w] = nchw("conv_transpose2d", "input", x.shape())?;
    let [wc_in, c_out, kh, kw] = nchw("conv_transpose2d", "weight", weight.shape())?;
    let rows = c_out * kh * kw;
    let plane = h * w;
    let cap = gpu.max_view_elems();
    if wc_in != c_in
        || bias.is_some_and(|b| b.shape() != [c_out])
        || !(rows.is_multiple_of(4) && plane.is_multiple_of(4))
        || [
            x.numel(),
            weight.numel(),
            n * rows * plane,
            n * c_out * oh * ow,
        ]
        .iter()
        .any(|&e| e > cap)
    {
        return Ok(None);
    }
    let patches = Tensor::uninit(gpu, &[n, rows, plane], DType::F32);
    let (wv, xv, pv) = (
        gpu.whole(weight, "conv_transpose2d weight")?,
        gpu.whole(x, "conv_transpose2d input")?,
        gpu.whole(&patches, "conv_transpose2d patches")?,
    );
    batched_products(
        gpu,
        (n, [0, c_in * plane, rows * plane]),
        [rows, plane, c_in],
        (&wv, ALayout::KMajor(rows)),
        (&xv, plane),
        &pv,
        None,
    )?;
    let y = Tensor::uninit(gpu, &[n, c_out, oh, ow], DType::F32);
    let yv = gpu.whole(&y, "conv_transpose2d output")?;
    let bv = bias
        .map(|b| gpu.whole(b, "conv_transpose2d bias"))
        .transpose()?;
    let params = Params::new(
        [n, c_in, h, w],
        [c_out, kh, kw],
        [oh, ow],
        Conv2dArgs {
            stride: [kh, kw],
            padding,
        },
        [pv.shift, yv.shift],
    );
    let (entry, buffers) = optional_input(
        ["place_patches", "place_patches_bias"],
        bv.as_ref().map(|b| (slot::BIAS, b)),
        &[(slot::X, &pv), (slot::Y, &yv)],
    );
    Launch::new(Shader::ConvTranspose2d, entry, &params, &buffers).run(gpu, n * c_out * oh * ow)?;
    Ok(Some(y))
}

/// dx for y = conv_transpose2d(x, weight): conv2d of dy with the same weight, no bias.
pub fn conv_transpose2d_input_grad(
    gpu: &Gpu,
    dy: &Tensor,
    weight: &Tensor,
    args: Conv2dArgs,
) -> Result<Tensor> {
    conv2d::conv2d(gpu, dy, weight, None, args)
}

/// dweight for y = conv_transpose2d(x, weight): [Cin, Cout, kh, kw].
pub fn conv_transpose2d_weight_grad(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    kernel: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    weight_grad::weight_grad(gpu, x, dy, kernel, args)
}
