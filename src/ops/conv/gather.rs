//! The transposed-convolution gather (conv_transpose2d.wgsl's forward): conv_transpose2d's forward
//! and conv2d's general input gradient.

use super::{Conv2dArgs, Params, check_operands, geometry, transpose_slot as slot};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader};
use crate::ops::optional_input;
use crate::ops::tiled::{self, Convolution};
use crate::tensor::{DType, Tensor};

/// The transposed convolution into an output of the given size (conv2d's input gradient asks for
/// the forward input's size, which may exceed the formula's by up to stride - 1).
pub(crate) fn transposed_gather(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out_hw: [usize; 2],
    args: Conv2dArgs,
) -> Result<Tensor> {
    let (dims, [c_out, kh, kw]) = check_operands("conv_transpose2d", x, weight, 0, bias, &args)?;
    if gpu.tuning().family == KernelFamily::Gpu {
        let g = geometry(dims, [c_out, kh, kw], out_hw, args);
        return tiled::convolution(gpu, Convolution::Transposed, x, weight, bias, g);
    }
    let [n, c_in, h, w] = dims;
    let [oh, ow] = out_hw;
    let y = Tensor::uninit(gpu, &[n, c_out, oh, ow], DType::F32);
    let wv = gpu.whole(weight, "conv_transpose2d weight")?;
    let bv = bias
        .map(|b| gpu.whole(b, "conv_transpose2d bias"))
        .transpose()?;
    let per_x = c_in * h * w;
    let per_y = c_out * oh * ow;
    for chunk in gpu.batch_chunks(
        n,
        &[
            ("conv_transpose2d input", per_x),
            ("conv_transpose2d output", per_y),
        ],
    )? {
        let xv = gpu.view(x, chunk.start * per_x, chunk.len() * per_x);
        let yv = gpu.view(&y, chunk.start * per_y, chunk.len() * per_y);
        let params = Params::new(
            [chunk.len(), c_in, h, w],
            [c_out, kh, kw],
            out_hw,
            args,
            [xv.shift, yv.shift],
        );
        let (entry, buffers) = optional_input(
            ["forward", "forward_bias"],
            bv.as_ref().map(|b| (slot::BIAS, b)),
            &[(slot::X, &xv), (slot::WEIGHT, &wv), (slot::Y, &yv)],
        );
        Launch::new(Shader::ConvTranspose2d, entry, &params, &buffers)
            .flops(2.0 * (chunk.len() * per_x * c_out * kh * kw) as f64)
            .run(gpu, chunk.len() * per_y)?;
    }
    Ok(y)
}
