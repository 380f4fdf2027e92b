//! max_pool2d and adaptive_avg_pool2d (pool.wgsl), forward and backward.

use super::conv2d::Conv2dArgs;
use super::{nchw, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

/// Window, stride and padding of max_pool2d, [height, width]. Dilation 1, floor mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolArgs {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl MaxPoolArgs {
    /// kernel k, stride k, no padding: VGG's MaxPool2d(2, 2) is `square(2)`.
    pub fn square(k: usize) -> MaxPoolArgs {
        MaxPoolArgs {
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
        }
    }

    /// Output [height, width] of pooling an `input` [height, width], if the window fits the padded
    /// input.
    pub fn out_hw(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let conv = Conv2dArgs {
            stride: self.stride,
            padding: self.padding,
        };
        conv.out_hw(input, self.kernel)
    }
}

kernel_params! {
    /// pool.wgsl's launch parameters.
    struct Params {
        planes: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32, sh: u32, sw: u32,
        ph: u32, pw: u32, x_off: u32, y_off: u32, halves4: u32, _pad1: u32, _pad2: u32,
    }
}

slots! {
    /// pool.wgsl's storage bindings.
    mod slot {
        X: x = 1, Y: y = 2, ARGMAX: argmax = 3, DY: dy = 4, ARGMAX_IN: argmax_in = 5, DX: dx = 6,
        DX4: dx4 = 7, X4: x4 = 8,
    }
}

/// Max pooling's result: y and, per output, the index iy * W + ix of its maximum in the input plane.
pub struct MaxPoolOutput {
    pub y: Tensor,
    pub argmax: Tensor,
}

/// The (n, c) planes a pooling launch covers: how many, their input and output sizes, and the
/// window (max pooling only).
struct Planes {
    planes: usize,
    input_hw: [usize; 2],
    out_hw: [usize; 2],
    window: Option<MaxPoolArgs>,
}

impl Planes {
    /// The planes of an [n, c, h, w] input pooled to `out_hw`.
    fn new([n, c, h, w]: [usize; 4], out_hw: [usize; 2], window: Option<MaxPoolArgs>) -> Planes {
        Planes {
            planes: n * c,
            input_hw: [h, w],
            out_hw,
            window,
        }
    }
}

/// Launches a pooling entry over all (n, c) planes, chunked so each chunk's planes fit a binding.
/// `per_output` says whether the kernel runs per output (x, y, argmax) or per input (dy, argmax,
/// dx).
fn launch_planes(
    gpu: &Gpu,
    entry: &'static str,
    Planes {
        planes,
        input_hw,
        out_hw,
        window,
    }: Planes,
    input: &Tensor,
    output: &Tensor,
    argmax: Option<&Tensor>,
    per_output: bool,
) -> Result<()> {
    let (ins, outs) = (input_hw[0] * input_hw[1], out_hw[0] * out_hw[1]);
    let (src_per, dst_per) = if per_output { (ins, outs) } else { (outs, ins) };
    let w = window.unwrap_or(MaxPoolArgs::square(1));
    let geometry = Params {
        h: u32_of(input_hw[0]),
        w: u32_of(input_hw[1]),
        oh: u32_of(out_hw[0]),
        ow: u32_of(out_hw[1]),
        kh: u32_of(w.kernel[0]),
        kw: u32_of(w.kernel[1]),
        sh: u32_of(w.stride[0]),
        sw: u32_of(w.stride[1]),
        ph: u32_of(w.padding[0]),
        pw: u32_of(w.padding[1]),
        ..Params::default()
    };
    // The vec4 paths of max pooling (max_backward's halves4, max_forward_halves): 2x2 windows of
    // stride 2 over rows of whole vec4s, in the chunks whose input shift is a multiple of 4.
    let halves_window = entry.starts_with("max_")
        && w.kernel == [2, 2]
        && w.stride == [2, 2]
        && w.padding == [0, 0]
        && input_hw[1].is_multiple_of(4);
    for chunk in gpu.batch_chunks(planes, &[("pooling input", ins), ("pooling output", outs)])? {
        let sv = gpu.view(input, chunk.start * src_per, chunk.len() * src_per);
        let dv = gpu.view(output, chunk.start * dst_per, chunk.len() * dst_per);
        let av = argmax.map(|a| gpu.view(a, chunk.start * outs, chunk.len() * outs));
        // x_off / y_off are the input-plane and output-plane shifts, whichever way data flows.
        let (x_off, y_off) = if per_output {
            (sv.shift, dv.shift)
        } else {
            (dv.shift, sv.shift)
        };
        let halves4 = halves_window && x_off.is_multiple_of(4);
        let params = Params {
            planes: u32_of(chunk.len()),
            x_off,
            y_off,
            halves4: u32::from(halves4),
            ..geometry
        };
        let mut buffers = if per_output {
            vec![(slot::X, &sv), (slot::Y, &dv)]
        } else {
            vec![(slot::DY, &sv), (slot::DX, &dv)]
        };
        if let Some(av) = &av {
            buffers.push((
                if per_output {
                    slot::ARGMAX
                } else {
                    slot::ARGMAX_IN
                },
                av,
            ));
        }
        if entry == "max_backward" {
            buffers.push((slot::DX4, &dv));
        }
        let mut work = chunk.len() * if per_output { outs } else { ins };
        let mut launched = entry;
        if halves4 {
            if entry == "max_forward" {
                // Two outputs per invocation, read through x4 alone.
                launched = "max_forward_halves";
                buffers[0] = (slot::X4, &sv);
                work /= 2;
            } else {
                work /= 4;
            }
        }
        Launch::new(Shader::Pool, launched, &params, &buffers).run(gpu, work)?;
    }
    Ok(())
}

/// max_pool2d on x [N, C, H, W], PyTorch semantics (padding at most half the kernel; ties keep the
/// first maximum in the window's row-major order).
pub fn max_pool2d(gpu: &Gpu, x: &Tensor, args: MaxPoolArgs) -> Result<MaxPoolOutput> {
    let [n, c, h, w] = nchw("max_pool2d", "input", x.shape())?;
    crate::ensure_shape!(
        args.kernel.iter().all(|&k| k > 0) && args.stride.iter().all(|&s| s > 0),
        "max_pool2d: kernel {:?} and stride {:?} must be positive",
        args.kernel,
        args.stride
    );
    crate::ensure_shape!(
        (0..2).all(|i| args.padding[i] * 2 <= args.kernel[i]),
        "max_pool2d: padding {:?} must be at most half the kernel {:?}",
        args.padding,
        args.kernel
    );
    let Some([oh, ow]) = args.out_hw([h, w]) else {
        return Err(crate::shape_err!(
            "max_pool2d: kernel {:?} is larger than the padded input {:?}",
            args.kernel,
            x.shape()
        ));
    };
    let y = Tensor::uninit(gpu, &[n, c, oh, ow], DType::F32);
    let argmax = Tensor::uninit(gpu, &[n, c, oh, ow], DType::I32);
    let planes = Planes::new([n, c, h, w], [oh, ow], Some(args));
    launch_planes(gpu, "max_forward", planes, x, &y, Some(&argmax), true)?;
    Ok(MaxPoolOutput { y, argmax })
}

/// dx [N, C, H, W] of max_pool2d: each output's gradient goes to its argmax.
pub fn max_pool2d_backward(
    gpu: &Gpu,
    dy: &Tensor,
    argmax: &Tensor,
    input_shape: &[usize],
    args: MaxPoolArgs,
) -> Result<Tensor> {
    let [n, c, h, w] = nchw("max_pool2d backward", "input", input_shape)?;
    let [dn, dc, oh, ow] = nchw("max_pool2d backward", "dy", dy.shape())?;
    crate::ensure_shape!(
        argmax.shape() == dy.shape() && argmax.dtype() == DType::I32 && (dn, dc) == (n, c),
        "max_pool2d backward: dy {:?} and argmax {:?} do not match input {input_shape:?}",
        dy.shape(),
        argmax.shape()
    );
    let dx = Tensor::uninit(gpu, input_shape, DType::F32);
    let planes = Planes::new([n, c, h, w], [oh, ow], Some(args));
    launch_planes(gpu, "max_backward", planes, dy, &dx, Some(argmax), false)?;
    Ok(dx)
}

/// adaptive_avg_pool2d of x [N, C, H, W] to [N, C, out[0], out[1]], PyTorch's bins (an output larger
/// than the input repeats values: VGG's 1x1 -> 7x7).
pub fn adaptive_avg_pool2d(gpu: &Gpu, x: &Tensor, out: [usize; 2]) -> Result<Tensor> {
    let [n, c, h, w] = nchw("adaptive_avg_pool2d", "input", x.shape())?;
    crate::ensure_shape!(
        h > 0 && w > 0 && out[0] > 0 && out[1] > 0,
        "adaptive_avg_pool2d: input {:?} and output size {out:?} must be non-empty",
        x.shape()
    );
    let y = Tensor::uninit(gpu, &[n, c, out[0], out[1]], DType::F32);
    let planes = Planes::new([n, c, h, w], out, None);
    launch_planes(gpu, "adaptive_forward", planes, x, &y, None, true)?;
    Ok(y)
}

/// dx of adaptive_avg_pool2d for an input of `input_shape`.
pub fn adaptive_avg_pool2d_backward(
    gpu: &Gpu,
    dy: &Tensor,
    input_shape: &[usize],
) -> Result<Tensor> {
    let [n, c, h, w] = nchw("adaptive_avg_pool2d backward", "input", input_shape)?;
    let [dn, dc, oh, ow] = nchw("adaptive_avg_pool2d backward", "dy", dy.shape())?;
    crate::ensure_shape!(
        (dn, dc) == (n, c),
        "adaptive_avg_pool2d backward: dy {:?} does not match input {input_shape:?}",
        dy.shape()
    );
    let dx = Tensor::uninit(gpu, input_shape, DType::F32);
    let planes = Planes::new([n, c, h, w], [oh, ow], None);
    launch_planes(gpu, "adaptive_backward", planes, dy, &dx, None, false)?;
    Ok(dx)
}
