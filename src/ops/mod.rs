//! One module per shader file: shape checks, then the forward and backward launches.
//! Every op records into the GPU's open encoder and returns new tensors; nothing is read back.

pub mod batch_norm;
mod batched_matmul;
mod conv;
pub mod elementwise;
mod interface;
pub mod loss;
pub mod matmul;
pub mod metrics;
pub mod optim;
pub mod pool;
pub mod reduce;
mod registry;
mod tiled;

pub use conv::{conv_transpose2d, conv2d, winograd};
pub use interface::{Field, Interface, ParamsLayout};
pub use registry::interfaces;

use crate::error::Result;
use crate::gpu::{Slot, View};
use crate::tensor::Tensor;

/// The entry point of `[plain, with]` and its buffers: `buffers`, plus `optional` and the `with`
/// entry when the optional input is given. The shaders give an optional input entry points of
/// its own, so a missing one binds nothing rather than a placeholder buffer.
pub(crate) fn optional_input<'a>(
    [plain, with]: [&'static str; 2],
    optional: Option<(Slot, &'a View<'a>)>,
    buffers: &[(Slot, &'a View<'a>)],
) -> (&'static str, Vec<(Slot, &'a View<'a>)>) {
    let mut all = buffers.to_vec();
    match optional {
        Some(input) => {
            all.push(input);
            (with, all)
        }
        None => (plain, all),
    }
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

/// The checks an op with a weight makes of it: it expects `expected` input `units` (channels or
/// features) where x has `got`, and the bias, if any, is [outputs].
pub(crate) fn check_weight_and_bias(
    op: &str,
    [x, weight]: [&Tensor; 2],
    [expected, got]: [usize; 2],
    units: &str,
    (bias, outputs): (Option<&Tensor>, usize),
) -> Result<()> {
    crate::ensure_shape!(
        expected == got,
        "{op}: weight {:?} expects {expected} input {units}, input {:?} has {got}",
        weight.shape(),
        x.shape()
    );
    if let Some(b) = bias {
        crate::ensure_shape!(
            b.shape() == [outputs],
            "{op}: bias must be [{outputs}], got {:?}",
            b.shape()
        );
    }
    Ok(())
}

pub(crate) fn u32_of(v: usize) -> u32 {
    u32::try_from(v).expect("sizes are checked against binding limits before launch")
}
