//! Softmax cross-entropy with mean reduction and an optional ignore index (loss.wgsl).

use super::reduce::sum_rows;
use super::u32_of;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader, Slot};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

kernel_params! {
    /// loss.wgsl's launch parameters.
    struct Params {
        n: u32, c: u32, s: u32, ignore_index: i32, logits_off: u32, target_off: u32,
        out_off: u32, _pad: u32,
    }
}

slots! {
    /// loss.wgsl's storage bindings.
    mod slot {
        LOGITS: logits = 1, TARGETS: targets = 2, LOSSES: losses = 3, VALID: valid = 4,
        SUMS: sums = 5, OUT: out = 6, DLOSS: dloss = 7,
    }
}

/// Forward result: the mean loss [1], and [loss sum, counted positions] [2] kept for backward.
pub struct CrossEntropyOutput {
    pub loss: Tensor,
    pub sums: Tensor,
}

/// (n, c, s) of logits [N, C] or [N, C, H, W] with targets [N] or [N, H, W].
fn geometry(logits: &Tensor, targets: &Tensor) -> Result<[usize; 3]> {
    let ls = logits.shape();
    crate::ensure_shape!(
        ls.len() >= 2 && targets.shape().len() + 1 == ls.len(),
        "cross_entropy: logits must be [N, C] or [N, C, H, W] with targets [N] or [N, H, W], got {ls:?} and {:?}",
        targets.shape()
    );
    let expected: Vec<usize> = [ls[0]].into_iter().chain(ls[2..].iter().copied()).collect();
    crate::ensure_shape!(
        targets.shape() == expected.as_slice() && targets.dtype() == DType::I32,
        "cross_entropy: targets must be i32 {expected:?} for logits {ls:?}, got {:?} {:?}",
        targets.dtype(),
        targets.shape()
    );
    crate::ensure_shape!(ls[1] > 0, "cross_entropy: logits {ls:?} have no classes");
    Ok([ls[0], ls[1], ls[2..].iter().product()])
}

/// Launches `entry` over all positions, chunked by batch item, with `out` laid out like the
/// logits (`out_per_item` elements per item) or like the targets.
fn launch_positions(
    gpu: &Gpu,
    entry: &'static str,
    logits: &Tensor,
    targets: &Tensor,
    ignore_index: Option<i32>,
    extra: &[(Slot, &Tensor, usize)],
    whole: &[(Slot, &Tensor)],
) -> Result<()> {
    let [n, c, s] = geometry(logits, targets)?;
    let whole_views = whole
        .iter()
        .map(|(b, t)| Ok((*b, gpu.whole(*t, "cross_entropy scalar")?)))
        .collect::<Result<Vec<_>>>()?;
    let mut per_item = vec![("cross_entropy logits", c * s)];
    per_item.extend(
        extra
            .iter()
            .map(|(_, _, per)| ("cross_entropy output", *per)),
    );
    for chunk in gpu.batch_chunks(n, &per_item)? {
        let lv = gpu.view(logits, chunk.start * c * s, chunk.len() * c * s);
        let tv = gpu.view(targets, chunk.start * s, chunk.len() * s);
        let ev: Vec<_> = extra
            .iter()
            .map(|(b, t, per)| (*b, gpu.view(*t, chunk.start * per, chunk.len() * per)))
            .collect();
        let params = Params {
            n: u32_of(chunk.len()),
            c: u32_of(c),
            s: u32_of(s),
            ignore_index: ignore_index.unwrap_or(i32::MIN),
            logits_off: lv.shift,
            target_off: tv.shift,
            // Outputs of one launch share their layout, hence their shift.
            out_off: ev.first().map_or(0, |(_, v)| v.shift),
            _pad: 0,
        };
        let mut buffers = vec![(slot::LOGITS, &lv), (slot::TARGETS, &tv)];
        buffers.extend(ev.iter().map(|(b, v)| (*b, v)));
        buffers.extend(whole_views.iter().map(|(b, v)| (*b, v)));
        Launch::new(Shader::Loss, entry, &params, &buffers).run(gpu, chunk.len() * s)?;
    }
    Ok(())
}

/// Mean softmax cross-entropy of logits [N, C] or [N, C, H, W] against i32 targets [N] or [N, H, W];
/// positions whose target is `ignore_index` add neither loss nor count (PyTorch's F.cross_entropy).
/// Targets outside [0, C) are skipped like ignored ones (the kernel cannot raise an error).
pub fn cross_entropy(
    gpu: &Gpu,
    logits: &Tensor,
    targets: &Tensor,
    ignore_index: Option<i32>,
) -> Result<CrossEntropyOutput> {
    let [n, _, s] = geometry(logits, targets)?;
    let losses = Tensor::uninit(gpu, &[n, s], DType::F32);
    let valid = Tensor::uninit(gpu, &[n, s], DType::F32);
    launch_positions(
        gpu,
        "forward_terms",
        logits,
        targets,
        ignore_index,
        &[(slot::LOSSES, &losses, s), (slot::VALID, &valid, s)],
        &[],
    )?;
    let sums = Tensor::uninit(gpu, &[2], DType::F32);
    for (i, terms) in [losses, valid].iter().enumerate() {
        let per_item = sum_rows(gpu, terms, n, s)?;
        let total = sum_rows(gpu, &per_item, 1, n)?;
        gpu.with_encoder(|e| {
            e.copy_buffer_to_buffer(total.buffer(), 0, sums.buffer(), i as u64 * 4, 4)
        });
    }
    let loss = Tensor::uninit(gpu, &[1], DType::F32);
    let sv = gpu.whole(&sums, "cross_entropy sums")?;
    let lv = gpu.whole(&loss, "cross_entropy loss")?;
    Launch::new(
        Shader::Loss,
        "mean",
        &Params::default(),
        &[(slot::SUMS, &sv), (slot::OUT, &lv)],
    )
    .run(gpu, 1)?;
    Ok(CrossEntropyOutput { loss, sums })
}

/// dlogits of the mean cross-entropy, scaled by the upstream gradient `dloss` [1].
pub fn cross_entropy_backward(
    gpu: &Gpu,
    logits: &Tensor,
    targets: &Tensor,
    ignore_index: Option<i32>,
    forward: &CrossEntropyOutput,
    dloss: &Tensor,
) -> Result<Tensor> {
    let [_, c, s] = geometry(logits, targets)?;
    crate::ensure_shape!(
        dloss.shape() == [1],
        "cross_entropy backward: dloss must be [1], got {:?}",
        dloss.shape()
    );
    let grad = Tensor::uninit(gpu, logits.shape(), DType::F32);
    launch_positions(
        gpu,
        "backward",
        logits,
        targets,
        ignore_index,
        &[(slot::OUT, &grad, c * s)],
        &[(slot::SUMS, &forward.sums), (slot::DLOSS, dloss)],
    )?;
    Ok(grad)
}
