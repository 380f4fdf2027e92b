//! Predicted classes on the GPU (metrics.wgsl), and the homework's metrics on the host.

use super::u32_of;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

kernel_params! {
    /// metrics.wgsl's launch parameters.
    struct Params {
        n: u32, c: u32, s: u32, logits_off: u32, pred_off: u32,
        _pad0: u32, _pad1: u32, _pad2: u32,
    }
}

slots! {
    /// metrics.wgsl's storage bindings.
    mod slot {
        LOGITS: logits = 1, PRED: pred = 2,
    }
}

/// The predicted class of each position of logits [N, C] or [N, C, H, W]: i32 [N] or [N, H, W].
pub fn argmax_channels(gpu: &Gpu, logits: &Tensor) -> Result<Tensor> {
    let s = logits.shape();
    crate::ensure_shape!(
        s.len() >= 2 && s[1] > 0,
        "argmax: logits must be [N, C, ...], got {s:?}"
    );
    let (n, c, positions) = (s[0], s[1], s[2..].iter().product::<usize>());
    let out_shape: Vec<usize> = [n].into_iter().chain(s[2..].iter().copied()).collect();
    let pred = Tensor::uninit(gpu, &out_shape, DType::I32);
    for chunk in gpu.batch_chunks(n, &[("logits", c * positions)])? {
        let lv = gpu.view(
            logits,
            chunk.start * c * positions,
            chunk.len() * c * positions,
        );
        let pv = gpu.view(&pred, chunk.start * positions, chunk.len() * positions);
        let params = Params {
            n: u32_of(chunk.len()),
            c: u32_of(c),
            s: u32_of(positions),
            logits_off: lv.shift,
            pred_off: pv.shift,
            ..Params::default()
        };
        Launch::new(
            Shader::Metrics,
            "argmax_channels",
            &params,
            &[(slot::LOGITS, &lv), (slot::PRED, &pv)],
        )
        .run(gpu, chunk.len() * positions)?;
    }
    Ok(pred)
}

/// Pixel counts for the homework's mean IoU, pooled over every image seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IouCounts {
    /// Per class: #(pred == i), #(label == i), #(pred == i and label == i).
    pub predicted: Vec<u64>,
    pub labelled: Vec<u64>,
    pub both: Vec<u64>,
}

impl IouCounts {
    pub fn new(classes: usize) -> IouCounts {
        IouCounts {
            predicted: vec![0; classes],
            labelled: vec![0; classes],
            both: vec![0; classes],
        }
    }

    /// Adds predictions and labels of the same pixels.
    pub fn add(&mut self, pred: &[i32], label: &[i32]) {
        let classes = self.predicted.len() as i32;
        for (&p, &l) in pred.iter().zip(label) {
            if (0..classes).contains(&p) {
                self.predicted[p as usize] += 1;
            }
            if (0..classes).contains(&l) {
                self.labelled[l as usize] += 1;
            }
            if p == l && (0..classes).contains(&p) {
                self.both[p as usize] += 1;
            }
        }
    }

    /// IoU of class i: tp / (tp_fp + tp_fn - tp); NaN when the class is in neither.
    pub fn iou(&self, i: usize) -> f64 {
        let tp = self.both[i] as f64;
        tp / (self.predicted[i] as f64 + self.labelled[i] as f64 - tp)
    }

    /// Mean IoU over classes 0..5 (the homework's six land-cover classes; "unknown" excluded).
    pub fn mean_iou(&self) -> f64 {
        (0..6).map(|i| self.iou(i)).sum::<f64>() / 6.0
    }
}
