//! Deterministic sums (reduce.wgsl): rows of a matrix, columns of a matrix, channels of NCHW.

use super::{nchw, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

/// Elements each invocation of `sum_blocks` adds up (a multiple of 4, for its vec4 loads).
const BLOCK: usize = 1024;

kernel_params! {
    /// reduce.wgsl's launch parameters.
    struct Params {
        groups: u32, len: u32, parts: u32, block: u32, rows: u32, cols: u32,
        accumulate: u32, in_off: u32, vec4_ok: u32,
    }
}

slots! {
    /// reduce.wgsl's storage bindings.
    mod slot {
        SRC: src = 1, DST: dst = 2, SRC4: src4 = 3, DST4: dst4 = 4,
    }
}

/// Sums each row of `x` viewed as [rows, len] into a tensor [rows].
pub(crate) fn sum_rows(gpu: &Gpu, x: &Tensor, rows: usize, len: usize) -> Result<Tensor> {
    assert_eq!(
        x.numel(),
        rows * len,
        "sum_rows view does not cover its tensor"
    );
    let out = Tensor::uninit(gpu, &[rows], DType::F32);
    let parts = len.div_ceil(BLOCK).max(1);
    for chunk in gpu.batch_chunks(rows, &[("a summed row", len)])? {
        let src = gpu.view(x, chunk.start * len, chunk.len() * len);
        let params = Params {
            groups: u32_of(chunk.len()),
            len: u32_of(len),
            parts: u32_of(parts),
            block: u32_of(len.min(BLOCK)),
            in_off: src.shift,
            vec4_ok: u32::from(len.is_multiple_of(4) && src.shift.is_multiple_of(4)),
            ..Params::default()
        };
        let partial = Tensor::uninit(gpu, &[chunk.len() * parts], DType::F32);
        let dst = gpu.whole(&partial, "row partial sums")?;
        let total = chunk.len() * parts;
        let tuning = gpu.tuning();
        // CPU family: one invocation per block; GPU family: one workgroup.
        let (entry, per_block) = match tuning.family {
            KernelFamily::Cpu => ("sum_blocks", 1),
            KernelFamily::Gpu => ("sum_blocks_workgroup", tuning.workgroup_size as usize),
        };
        Launch::new(
            Shader::Reduce,
            entry,
            &params,
            &[(slot::SRC, &src), (slot::DST, &dst), (slot::SRC4, &src)],
        )
        .run(gpu, total * per_block)?;
        let summed = if parts > 1 {
            sum_rows(gpu, &partial, chunk.len(), parts)?
        } else {
            partial
        };
        gpu.with_encoder(|e| {
            e.copy_buffer_to_buffer(
                summed.buffer(),
                0,
                out.buffer(),
                (chunk.start * 4) as u64,
                (chunk.len() * 4) as u64,
            )
        });
    }
    Ok(out)
}

/// `dst[c] = (accumulate ? dst[c] : 0) + sum over r of x[r, c]` for `x` viewed as [rows, cols].
pub(crate) fn sum_columns_into(
    gpu: &Gpu,
    x: &Tensor,
    rows: usize,
    cols: usize,
    dst: &Tensor,
    accumulate: bool,
) -> Result<()> {
    assert_eq!(
        x.numel(),
        rows * cols,
        "sum_columns view does not cover its tensor"
    );
    let out = gpu.whole(dst, "column sums")?;
    if rows == 0 && !accumulate {
        let bytes = dst.numel() as u64 * 4;
        gpu.with_encoder(|e| e.clear_buffer(dst.buffer(), dst.byte_offset(), Some(bytes)));
    }
    for (k, chunk) in gpu
        .batch_chunks(rows, &[("a summed row", cols)])?
        .into_iter()
        .enumerate()
    {
        let src = gpu.view(x, chunk.start * cols, chunk.len() * cols);
        let params = Params {
            rows: u32_of(chunk.len()),
            cols: u32_of(cols),
            accumulate: u32::from(accumulate || k > 0),
            in_off: src.shift,
            vec4_ok: u32::from(cols.is_multiple_of(4) && src.shift.is_multiple_of(4)),
            ..Params::default()
        };
        let invocations = if params.vec4_ok == 1 { cols / 4 } else { cols };
        Launch::new(
            Shader::Reduce,
            "sum_columns",
            &params,
            &[
                (slot::SRC, &src),
                (slot::DST, &out),
                (slot::SRC4, &src),
                (slot::DST4, &out),
            ],
        )
        .run(gpu, invocations)?;
    }
    Ok(())
}

/// Per-channel sums of an NCHW tensor: [C]. The bias gradient of conv2d and conv_transpose2d.
pub fn channel_sums(gpu: &Gpu, dy: &Tensor) -> Result<Tensor> {
    let [n, c, h, w] = nchw("channel_sums", "dy", dy.shape())?;
    let planes = sum_rows(gpu, dy, n * c, h * w)?;
    let out = Tensor::uninit(gpu, &[c], DType::F32);
    sum_columns_into(gpu, &planes, n, c, &out, false)?;
    Ok(out)
}
