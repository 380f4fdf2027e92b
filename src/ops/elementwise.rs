//! relu, add and dropout2d (elementwise.wgsl), forward and backward.

use super::u32_of;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

kernel_params! {
    /// elementwise.wgsl's launch parameters.
    struct Params {
        len: u32, a_off: u32, b_off: u32, out_off: u32, plane: u32, seed: u32, p: f32,
        scale: f32, vec4_ok: u32,
    }
}

slots! {
    /// elementwise.wgsl's storage bindings.
    mod slot {
        A: a = 1, B: b = 2, OUT: out = 3, A4: a4 = 4, B4: b4 = 5, OUT4: out4 = 6,
    }
}

/// Entries that also read and write vec4s (see elementwise.wgsl).
const VECTORISED: [&str; 3] = ["relu_forward", "relu_backward", "add"];

/// Runs an elementwise entry over `a` (and `b`, indexed per `plane` elements of `a`) into a new
/// tensor shaped like `a`, in range chunks that fit the binding limit. Chunks hold whole planes.
fn map(
    gpu: &Gpu,
    entry: &'static str,
    a: &Tensor,
    b: Option<&Tensor>,
    plane: usize,
) -> Result<Tensor> {
    let out = Tensor::uninit(gpu, a.shape(), DType::F32);
    let planes = a.numel() / plane;
    for chunk in gpu.batch_chunks(planes, &[("an elementwise operand", plane)])? {
        let (start, len) = (chunk.start * plane, chunk.len() * plane);
        let av = gpu.view(a, start, len);
        let ov = gpu.view(&out, start, len);
        let bv = b.map(|b| {
            if plane == 1 {
                gpu.view(b, start, len)
            } else {
                gpu.view(b, chunk.start, chunk.len())
            }
        });
        let mut params = Params {
            len: u32_of(len),
            a_off: av.shift,
            b_off: bv.as_ref().map_or(0, |v| v.shift),
            out_off: ov.shift,
            plane: u32_of(plane),
            ..Params::default()
        };
        let vectorised = VECTORISED.contains(&entry);
        let aligned = [params.a_off, params.b_off, params.out_off]
            .iter()
            .all(|o| o.is_multiple_of(4));
        params.vec4_ok = u32::from(vectorised && aligned);
        let mut buffers = vec![(slot::A, &av), (slot::OUT, &ov)];
        if let Some(bv) = &bv {
            buffers.push((slot::B, bv));
        }
        if vectorised {
            buffers.extend([(slot::A4, &av), (slot::OUT4, &ov)]);
            if let Some(bv) = &bv {
                buffers.push((slot::B4, bv));
            }
        }
        let invocations = if params.vec4_ok == 1 {
            len / 4 + len % 4
        } else {
            len
        };
        Launch::new(Shader::Elementwise, entry, &params, &buffers).run(gpu, invocations)?;
    }
    Ok(out)
}

fn same_shape(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    crate::ensure_shape!(
        a.shape() == b.shape(),
        "{op}: shapes differ: {:?} and {:?}",
        a.shape(),
        b.shape()
    );
    Ok(())
}

/// y = max(x, 0).
pub fn relu(gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
    map(gpu, "relu_forward", x, None, 1)
}

/// dx = dy where the forward output y > 0, else 0 (PyTorch's threshold_backward on the output).
pub fn relu_backward(gpu: &Gpu, dy: &Tensor, y: &Tensor) -> Result<Tensor> {
    same_shape("relu_backward", dy, y)?;
    map(gpu, "relu_backward", dy, Some(y), 1)
}

/// a + b, same shapes. Its backward passes the gradient to both inputs unchanged.
pub fn add(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape("add", a, b)?;
    map(gpu, "add", a, Some(b), 1)
}

/// Dropout2d's result: the output and the per-channel scale [N, C] (0 or 1/(1-p)) kept for backward.
pub struct Dropout2d {
    pub y: Tensor,
    pub mask: Tensor,
}

/// Zeroes whole channels of x [N, C, ...] with probability p and scales the others by 1/(1-p).
/// The mask depends only on (seed, n, c), so a seed reproduces it on any device.
pub fn dropout2d(gpu: &Gpu, x: &Tensor, p: f32, seed: u64) -> Result<Dropout2d> {
    crate::ensure_shape!(
        x.shape().len() >= 2,
        "dropout2d: input must be [N, C, ...], got {:?}",
        x.shape()
    );
    crate::ensure_shape!(
        (0.0..=1.0).contains(&p),
        "dropout2d: probability must be in [0, 1], got {p}"
    );
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let mask = Tensor::uninit(gpu, &[n, c], DType::F32);
    let out = gpu.whole(&mask, "dropout2d mask")?;
    let params = Params {
        len: u32_of(n * c),
        seed: (seed ^ (seed >> 32)) as u32,
        p,
        scale: if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 },
        ..Params::default()
    };
    Launch::new(
        Shader::Elementwise,
        "dropout2d_mask",
        &params,
        &[(slot::OUT, &out)],
    )
    .run(gpu, n * c)?;
    let y = dropout2d_apply(gpu, x, &mask)?;
    Ok(Dropout2d { y, mask })
}

/// Multiplies each (n, c) plane of `x` by mask[n, c]: dropout2d's forward with a given mask, and
/// its backward (dx = dy * mask).
pub fn dropout2d_apply(gpu: &Gpu, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    crate::ensure_shape!(
        x.shape().len() >= 2 && mask.shape() == &x.shape()[..2],
        "dropout2d: mask {:?} does not match input {:?}",
        mask.shape(),
        x.shape()
    );
    let plane = x.shape()[2..].iter().product::<usize>().max(1);
    map(gpu, "scale_by_plane", x, Some(mask), plane)
}
