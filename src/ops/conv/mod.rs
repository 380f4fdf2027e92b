//! Convolutions: conv2d (conv2d.wgsl, or winograd.wgsl for wide 3x3 layers), conv_transpose2d
//! (conv_transpose2d.wgsl), and what they share: the argument type, its check, output sizes, and
//! the launch parameters of conv2d.wgsl and conv_transpose2d.wgsl. conv2d's input gradient and
//! conv_transpose2d's forward are one gather (gather.rs); both weight gradients are weight_grad.rs.

pub mod conv2d;
pub mod conv_transpose2d;
mod gather;
pub(crate) mod weight_grad;
pub mod winograd;

use super::tiled::Geometry;
use super::{check_weight_and_bias, nchw, u32_of};
use crate::error::Result;
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::Tensor;

/// Channels per vec4: the kernels read channel-padded tensors four channels at a time.
const VEC: usize = 4;

/// Stride and zero padding, [height, width]. Dilation 1, groups 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dArgs {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Default for Conv2dArgs {
    fn default() -> Self {
        Conv2dArgs {
            stride: [1, 1],
            padding: [0, 0],
        }
    }
}

impl Conv2dArgs {
    /// Output [height, width] of a convolution of an `input` [height, width] by a `kernel`
    /// [height, width], if the kernel fits the padded input.
    pub fn out_hw(&self, input: [usize; 2], kernel: [usize; 2]) -> Option<[usize; 2]> {
        let len = |i: usize| conv_out_len(input[i], kernel[i], self.stride[i], self.padding[i]);
        Some([len(0)?, len(1)?])
    }

    /// Output [height, width] of a transposed convolution of an `input` [height, width] by a
    /// `kernel` [height, width]; None if the padding would make it negative.
    pub fn transpose_out_hw(&self, input: [usize; 2], kernel: [usize; 2]) -> Option<[usize; 2]> {
        let len =
            |i: usize| conv_transpose_out_len(input[i], kernel[i], self.stride[i], self.padding[i]);
        Some([len(0)?, len(1)?])
    }
}

/// Output size of a convolution along one axis, if the kernel fits the padded input.
pub fn conv_out_len(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    (input + 2 * padding)
        .checked_sub(kernel)
        .map(|span| span / stride + 1)
}

/// The GPU family's description of a convolution of x [_, c_in, h, w] into [_, c_out, out_hw].
fn geometry(
    [_, c_in, h, w]: [usize; 4],
    [c_out, kh, kw]: [usize; 3],
    out_hw: [usize; 2],
    args: Conv2dArgs,
) -> Geometry {
    Geometry {
        c_in,
        in_hw: [h, w],
        c_out,
        out_hw,
        kernel: [kh, kw],
        stride: args.stride,
        padding: args.padding,
    }
}

/// Output size of a transposed convolution along one axis: (input - 1) * stride - 2 * padding + kernel.
pub fn conv_transpose_out_len(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    ((input.max(1) - 1) * stride + kernel).checked_sub(2 * padding)
}

/// The shape check every convolution makes of its arguments and kernel size.
fn check_args(op: &str, args: &Conv2dArgs, kernel: [usize; 2]) -> Result<()> {
    crate::ensure_shape!(
        args.stride.iter().all(|&s| s > 0),
        "{op}: stride must be positive, got {:?}",
        args.stride
    );
    crate::ensure_shape!(
        kernel.iter().all(|&k| k > 0),
        "{op}: kernel must be at least 1x1, got {kernel:?}"
    );
    Ok(())
}

/// The one shape check of a convolution's operands: x [N, Cin, H, W], a 4-D weight whose axis
/// `in_axis` is Cin (1 for conv2d's [Cout, Cin, kh, kw], 0 for conv_transpose2d's [Cin, Cout, kh,
/// kw]), the arguments, and a bias [Cout]. Returns x's dimensions and [Cout, kh, kw].
fn check_operands(
    op: &str,
    x: &Tensor,
    weight: &Tensor,
    in_axis: usize,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
) -> Result<([usize; 4], [usize; 3])> {
    let dims = nchw(op, "input", x.shape())?;
    let [a, b, kh, kw] = nchw(op, "weight", weight.shape())?;
    let (wc_in, c_out) = if in_axis == 0 { (a, b) } else { (b, a) };
    check_args(op, args, [kh, kw])?;
    check_weight_and_bias(op, [x, weight], [wc_in, dims[1]], "channels", (bias, c_out))?;
    Ok((dims, [c_out, kh, kw]))
}

kernel_params! {
    /// conv2d.wgsl's and conv_transpose2d.wgsl's launch parameters (one layout for both files).
    struct Params {
        n: u32, c_in: u32, h: u32, w: u32, c_out: u32, oh: u32, ow: u32, kh: u32, kw: u32,
        sh: u32, sw: u32, ph: u32, pw: u32, x_off: u32, y_off: u32,
        segments: u32, rows_per_segment: u32, flip: u32, rows: u32, row_vec4s: u32,
        image_major: u32, _pad0: u32, _pad1: u32, _pad2: u32,
    }
}

slots! {
    /// conv2d.wgsl's storage bindings.
    mod conv2d_slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, PACKED: packed = 7,
        X_ROWS: x_rows = 10, OUT4: out4 = 11, WEIGHT4: weight4 = 12,
    }
}

slots! {
    /// conv_transpose2d.wgsl's storage bindings.
    mod transpose_slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4,
    }
}

impl Params {
    /// `n` images of x [n, c_in, h, w] into y [n, c_out, oh, ow] through a [c_out, kh, kw] kernel;
    /// `offsets` are the x and y views' element shifts.
    fn new(
        [n, c_in, h, w]: [usize; 4],
        [c_out, kh, kw]: [usize; 3],
        [oh, ow]: [usize; 2],
        args: Conv2dArgs,
        [x_off, y_off]: [u32; 2],
    ) -> Params {
        Params {
            n: u32_of(n),
            c_in: u32_of(c_in),
            h: u32_of(h),
            w: u32_of(w),
            c_out: u32_of(c_out),
            oh: u32_of(oh),
            ow: u32_of(ow),
            kh: u32_of(kh),
            kw: u32_of(kw),
            sh: u32_of(args.stride[0]),
            sw: u32_of(args.stride[1]),
            ph: u32_of(args.padding[0]),
            pw: u32_of(args.padding[1]),
            x_off,
            y_off,
            ..Params::default()
        }
    }
}
