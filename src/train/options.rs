//! What a run is told (`TrainOptions`) and whom it tells what happens (`Observer`).

use std::path::PathBuf;
use std::sync::Arc;

use super::metrics::EpochRecord;
use crate::data::{Augment, Dataset};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::{Architecture, Model, UpsamplingInit};
use crate::optimizer::OptimizerConfig;

/// Everything `wgnn train` is told.
pub struct TrainOptions {
    pub arch: Architecture,
    pub train: Arc<dyn Dataset>,
    pub val: Option<Arc<dyn Dataset>>,
    pub classes: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub augment: Augment,
    pub init: Option<PathBuf>,
    pub backbone: Option<PathBuf>,
    pub upsampling_init: UpsamplingInit,
    pub seed: u64,
    /// Training images over which BN statistics are recomputed after each epoch (0: keep PyTorch's
    /// momentum averages).
    pub precise_bn: usize,
    pub out: PathBuf,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
    /// Continue the run saved in `out` (its last.safetensors and the optimiser state it names)
    /// instead of starting one.
    pub resume: bool,
    /// Also save a resume point every this many steps within an epoch (0: after epochs only).
    pub checkpoint_every: usize,
}

/// Images Precise BN averages over after each epoch unless told otherwise.
pub const DEFAULT_PRECISE_BN: usize = 500;

impl TrainOptions {
    /// A new run of `arch` with `classes` on `train` into `out`, and for everything else what
    /// `wgnn train` does unless told otherwise: 3 epochs, the architecture's batch size,
    /// `OptimizerConfig::default()`, no augmentation, fresh PyTorch-initialised weights, seed 0,
    /// Precise BN over 500 images, no validation data, checkpoints after epochs only.
    pub fn new(arch: Architecture, train: Arc<dyn Dataset>, classes: usize, out: PathBuf) -> Self {
        TrainOptions {
            arch,
            train,
            val: None,
            classes,
            epochs: 3,
            batch_size: arch.default_batch_size(),
            optimizer: OptimizerConfig::default(),
            augment: Augment::None,
            init: None,
            backbone: None,
            upsampling_init: UpsamplingInit::Default,
            seed: 0,
            precise_bn: DEFAULT_PRECISE_BN,
            out,
            progress: false,
            resume: false,
            checkpoint_every: 0,
        }
    }
}

/// After every optimiser step (and its checkpoint, if it has one): which step it was. Tests watch
/// memory and inject failures here.
#[derive(Clone, Copy, Debug)]
pub struct StepEvent {
    pub epoch: usize,
    /// Steps of the epoch done, this one included.
    pub step: usize,
}

/// What a run tells whoever watches it: pictures drawn during training, tests that watch memory or
/// inject failures. An error from an observer ends the run as any failure.
pub trait Observer {
    /// After every optimiser step (and its checkpoint, if it has one).
    fn after_step(&mut self, _event: StepEvent) -> Result<()> {
        Ok(())
    }

    /// After each epoch's validation, before its files are written: the model as validated, and
    /// the records of every epoch so far (this one last).
    fn after_epoch(
        &mut self,
        _gpu: &Gpu,
        _model: &mut Model,
        _records: &[EpochRecord],
    ) -> Result<()> {
        Ok(())
    }
}

/// An observer of steps only, from a closure.
pub struct OnStep<F>(pub F);

impl<F: FnMut(StepEvent) -> Result<()>> Observer for OnStep<F> {
    fn after_step(&mut self, event: StepEvent) -> Result<()> {
        (self.0)(event)
    }
}

/// Watches nothing.
pub(super) struct Unobserved;

impl Observer for Unobserved {}
