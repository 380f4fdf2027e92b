//! Batches decoded on CPU threads (rayon) one batch ahead of the GPU, in a seeded order, with an
//! optional seeded horizontal flip.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::{Dataset, Example, Target};
use crate::error::{Error, Result};

/// Training-time augmentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Augment {
    #[default]
    None,
    /// Random horizontal flip of image and mask, probability 1/2.
    Flip,
}

/// Examples stacked for the GPU.
pub struct Batch {
    pub ids: Vec<String>,
    /// [n, 3, h, w] normalised pixels.
    pub images: Vec<f32>,
    pub shape: [usize; 4],
    /// [n] labels or [n, h, w] masks; None for unlabelled images.
    pub labels: Option<Vec<i32>>,
}

impl Batch {
    /// The shape of `labels`: [n] for classification, [n, h, w] for segmentation.
    pub fn label_shape(&self) -> Vec<usize> {
        let [n, _, h, w] = self.shape;
        match &self.labels {
            Some(l) if l.len() == n => vec![n],
            _ => vec![n, h, w],
        }
    }
}

/// An iterator over the batches of one pass through a dataset.
pub struct Batches {
    rx: Receiver<Result<Batch>>,
    count: usize,
}

impl Batches {
    /// Batches of `batch_size` examples: in id order, or shuffled by `shuffle_seed`. `augment` draws
    /// its flips from `shuffle_seed` too (or never flips without one).
    pub fn new(
        data: Arc<dyn Dataset>,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        augment: Augment,
    ) -> Batches {
        Batches::starting_at(data, batch_size, shuffle_seed, augment, 0)
    }

    /// The same pass without its first `skip` batches (none of them decoded): where a resumed run
    /// continues an interrupted epoch.
    pub fn starting_at(
        data: Arc<dyn Dataset>,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        augment: Augment,
        skip: usize,
    ) -> Batches {
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = StdRng::seed_from_u64(shuffle_seed.unwrap_or(0));
        if shuffle_seed.is_some() {
            order.shuffle(&mut rng);
        }
        let flips: Vec<bool> = order
            .iter()
            .map(|_| augment == Augment::Flip && shuffle_seed.is_some() && rng.random_bool(0.5))
            .collect();
        let batch_size = batch_size.max(1);
        let count = order.len().div_ceil(batch_size);
        // One batch decoded ahead while the GPU runs the current one.
        let (tx, rx) = sync_channel(1);
        std::thread::spawn(move || {
            let chunks = order.chunks(batch_size).zip(flips.chunks(batch_size));
            for (indices, flips) in chunks.skip(skip) {
                let batch = indices
                    .par_iter()
                    .zip(flips)
                    .map(|(&i, &flip)| data.get(i).map(|e| if flip { flipped(e) } else { e }))
                    .collect::<Result<Vec<_>>>()
                    .and_then(stack);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        Batches { rx, count }
    }

    /// Number of batches in the pass.
    pub fn batch_count(&self) -> usize {
        self.count
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        self.rx.recv().ok()
    }
}

fn flipped(mut e: Example) -> Example {
    let [h, w] = e.size;
    for row in e.image.chunks_mut(w).take(3 * h) {
        row.reverse();
    }
    if let Target::Mask(m) = &mut e.target {
        for row in m.chunks_mut(w) {
            row.reverse();
        }
    }
    e
}

fn stack(examples: Vec<Example>) -> Result<Batch> {
    let first = &examples[0];
    let [h, w] = first.size;
    let mut batch = Batch {
        ids: Vec::with_capacity(examples.len()),
        images: Vec::with_capacity(examples.len() * 3 * h * w),
        shape: [examples.len(), 3, h, w],
        labels: match first.target {
            Target::None => None,
            _ => Some(Vec::new()),
        },
    };
    for e in &examples {
        if e.size != first.size {
            return Err(Error::File(format!(
                "image {} is {}x{} but {} in the same batch is {h}x{w}; images of a batch must share a size",
                e.id, e.size[0], e.size[1], first.id
            )));
        }
        batch.ids.push(e.id.clone());
        batch.images.extend_from_slice(&e.image);
        match (&e.target, &mut batch.labels) {
            (Target::Label(l), Some(labels)) => labels.push(*l),
            (Target::Mask(m), Some(labels)) => labels.extend_from_slice(m),
            _ => {}
        }
    }
    Ok(batch)
}
