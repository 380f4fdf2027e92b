//! One module per shader file: shape checks, then the forward and backward launches.
//! Every op records into the GPU's open encoder and returns new tensors; nothing is read back.

pub mod batch_norm;
mod conv;
pub mod elementwise;
pub mod loss;
pub mod matmul;
pub mod metrics;
pub mod optim;
pub mod pool;
pub mod reduce;

pub use conv::{conv_transpose2d, conv2d, winograd};

use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader, View};

/// Launches `entry` of `shader` with a Pod params struct at binding 0 and `buffers` after it.
pub(crate) fn launch<P: bytemuck::Pod>(
    gpu: &Gpu,
    shader: Shader,
    entry: &'static str,
    params: &P,
    buffers: &[(u32, &View)],
    invocations: usize,
) -> Result<()> {
    launch_counted(gpu, shader, entry, params, buffers, invocations, 0.0)
}

/// `launch`, telling the profiler how many floating-point operations the kernel performs.
pub(crate) fn launch_counted<P: bytemuck::Pod>(
    gpu: &Gpu,
    shader: Shader,
    entry: &'static str,
    params: &P,
    buffers: &[(u32, &View)],
    invocations: usize,
    flops: f64,
) -> Result<()> {
    launch_specialised(gpu, shader, entry, &[], params, buffers, invocations, flops)
}

/// `launch_counted` with override constants besides the workgroup size `WG`, which the device's
/// tuning sets (each value compiles its own pipeline).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_specialised<P: bytemuck::Pod>(
    gpu: &Gpu,
    shader: Shader,
    entry: &'static str,
    constants: &[(&'static str, f64)],
    params: &P,
    buffers: &[(u32, &View)],
    invocations: usize,
    flops: f64,
) -> Result<()> {
    gpu.launch(&Launch {
        shader,
        entry,
        constants,
        params: bytemuck::bytes_of(params),
        buffers,
        invocations: invocations as u64,
        flops,
    })
}

/// Index of a PyTorch-style 4-D shape [n, c, h, w], or an error naming the op.
pub(crate) fn nchw(op: &str, what: &str, shape: &[usize]) -> Result<[usize; 4]> {
    match shape {
        &[n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(crate::shape_err!(
            "{op}: {what} must be 4-D [N, C, H, W], got {shape:?}"
        )),
    }
}

pub(crate) fn u32_of(v: usize) -> u32 {
    u32::try_from(v).expect("sizes are checked against binding limits before launch")
}
