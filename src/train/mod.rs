//! The training loop: epochs of shuffled batches, one recorded step each (forward, loss, backward,
//! optimiser), validation after every epoch, and checkpoints and metrics written as it goes.

mod metrics;
mod options;
mod resume;

pub use metrics::{EpochRecord, metrics_csv, parse_metrics_csv, read_metrics_csv, training_curves};
pub use options::{DEFAULT_PRECISE_BN, Observer, OnStep, StepEvent, TrainOptions};

use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::autograd::Graph;
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Augment, Batches};
use crate::error::{Error, Result};
use crate::evaluate::{checked_labels, evaluate};
use crate::gpu::Gpu;
use crate::models::Model;
use crate::nn::{Context, collect_grads, recompute_batch_norm_statistics};
use crate::optimizer::Optimizer;
use crate::tensor::{Download, Tensor};
use options::Unobserved;
use resume::{Position, resume, save_resume_point};

/// The model `train` starts from: `--init`, else fresh (then `--backbone` if given).
pub fn initial_model(gpu: &Gpu, o: &TrainOptions) -> Result<Model> {
    let mut model = Model::new(gpu, o.arch, o.classes, o.seed, o.upsampling_init)?;
    if let Some(path) = &o.init {
        Checkpoint::open(path)?.load_into(gpu, &mut model)?;
    } else if let Some(path) = &o.backbone {
        Checkpoint::open(path)?.load_backbone(gpu, &mut model)?;
    }
    Ok(model)
}

/// Trains, writing `out/last.safetensors`, `out/best.safetensors`, `out/metrics.csv` and
/// `out/curves.png` after every epoch. Returns the metrics of every epoch of the run.
pub fn train(gpu: &Gpu, o: &TrainOptions) -> Result<Vec<EpochRecord>> {
    train_observed(gpu, o, &mut Unobserved)
}

/// `train`, telling `observer` of every step and epoch.
pub fn train_observed(
    gpu: &Gpu,
    o: &TrainOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochRecord>> {
    let mut optimizer = Optimizer::new(o.optimizer);
    // Weights are loaded before the output folder is made, so a bad --init leaves no trace.
    let (model, at) = if o.resume {
        resume(gpu, o, &mut optimizer)?
    } else {
        (initial_model(gpu, o)?, Position::start())
    };
    let last = o.out.join("last.safetensors");
    if !o.resume && last.exists() {
        // A fresh run would replace its best checkpoint and metrics, and mix its optimiser
        // states with the old run's.
        return Err(Error::File(format!(
            "{} already holds a run ({}): continue it with --resume {}, or train into another --out",
            o.out.display(),
            last.display(),
            o.out.display()
        )));
    }
    crate::fsutil::create_folder(&o.out)?;
    if at.epoch > o.epochs {
        return Err(Error::Shape(format!(
            "the run in {} has finished its {} epochs; pass a larger --epochs to train further",
            o.out.display(),
            at.epoch - 1
        )));
    }
    let mut run = Run {
        gpu,
        o,
        model,
        optimizer,
        at,
        observer,
    };
    while run.at.epoch <= o.epochs {
        run.epoch().map_err(|e| {
            match e {
                // The GPU is gone: say where the run can be picked up again, if anywhere.
                Error::Device(msg) if last.exists() => Error::Device(format!(
                    "{msg}; the last checkpoint, {}, is intact: continue with --resume {}",
                    last.display(),
                    o.out.display()
                )),
                Error::Device(msg) => Error::Device(format!(
                    "{msg}; no checkpoint had been written yet (--checkpoint-every N saves within \
                     an epoch)"
                )),
                other => other,
            }
        })?;
    }
    Ok(run.at.records)
}

/// A run in progress: what it was told, what it trains, where it stands, who watches.
struct Run<'a> {
    gpu: &'a Gpu,
    o: &'a TrainOptions,
    model: Model,
    optimizer: Optimizer,
    at: Position,
    observer: &'a mut dyn Observer,
}

impl Run<'_> {
    /// The rest of epoch `at.epoch`: its remaining steps, Precise BN, validation, and the files.
    fn epoch(&mut self) -> Result<()> {
        let start = Instant::now();
        self.steps()?;
        let training = start.elapsed().as_secs_f64();
        let (gpu, o) = (self.gpu, self.o);
        let epoch = self.at.epoch;
        let train_loss = self.at.loss_sum / self.at.images.max(1) as f64;
        precise_batch_norm(gpu, o, &mut self.model, epoch)?;
        // Precise BN's passes are only queued; waiting here times them as the device runs them.
        gpu.sync()?;
        let precise_bn = start.elapsed().as_secs_f64() - training;
        let (val_metric, score) = match &o.val {
            Some(val) => {
                let m = evaluate(gpu, &mut self.model, Arc::clone(val), o.batch_size)?.metric();
                (m, m)
            }
            // Without validation data the lowest training loss counts as best.
            None => (f64::NAN, -train_loss),
        };
        let record = EpochRecord {
            epoch,
            train_loss,
            val_metric,
            seconds: start.elapsed().as_secs_f64(),
        };
        // The split tells a user what a longer run or a bigger validation set will cost.
        println!(
            "epoch {epoch}/{}: train loss {train_loss:.4}, validation {} {}, {:.1} s \
             (training {training:.1} s, Precise BN {precise_bn:.1} s, validation {:.1} s)",
            o.epochs,
            o.arch.metric_name(),
            if val_metric.is_nan() {
                "n/a".to_owned()
            } else {
                format!("{val_metric:.4}")
            },
            record.seconds,
            record.seconds - training - precise_bn,
        );
        self.at.records.push(record);
        self.observer
            .after_epoch(gpu, &mut self.model, &self.at.records)?;
        // best.safetensors and metrics.csv go first: if the run stops before last.safetensors is
        // replaced, the resumed run repeats this epoch and writes them again, identically.
        // NaN never compares greater, so an undefined metric never replaces a defined best.
        let when = format!("by the end of epoch {epoch}");
        if score > self.at.best || epoch == 1 {
            self.at.best = if score.is_nan() { self.at.best } else { score };
            checkpoint::save(gpu, &mut self.model, &o.out.join("best.safetensors"))
                .map_err(|e| diverged(e, &when))?;
        }
        crate::fsutil::write_atomically(
            &o.out.join("metrics.csv"),
            metrics_csv(&self.at.records).as_bytes(),
        )?;
        let curves = training_curves(&self.at.records, o.arch.metric_name());
        crate::draw::save_png(&curves, &o.out.join("curves.png"))?;
        self.at.epoch += 1;
        self.at.step = 0;
        self.at.loss_sum = 0.0;
        self.at.images = 0;
        save_resume_point(gpu, o, &mut self.model, &self.optimizer, &self.at)
            .map_err(|e| diverged(e, &when))
    }

    /// The remaining steps of epoch `at.epoch`, saving a resume point every `checkpoint_every`
    /// steps.
    fn steps(&mut self) -> Result<()> {
        let (gpu, o) = (self.gpu, self.o);
        let epoch = self.at.epoch;
        let seed = o.seed.wrapping_add(epoch as u64);
        let batches = Batches::starting_at(
            Arc::clone(&o.train),
            o.batch_size,
            Some(seed),
            o.augment,
            self.at.step,
        );
        let count = batches.batch_count();
        let bar = if o.progress {
            ProgressBar::new(count as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", o.epochs));
        bar.set_position(self.at.step as u64);
        let start = Instant::now();
        let images_before = self.at.images;
        // A step's loss is collected after the next step is submitted, so the GPU never waits for
        // the host between steps.
        let collect = |at: &mut Position, (step, batch_images, loss): (usize, usize, Download)| {
            let value = f64::from(loss.wait(gpu)?[0]);
            if !value.is_finite() {
                return Err(Error::Shape(format!(
                    "the loss became {value} at epoch {epoch}, step {}; the last good checkpoint is kept. \
                 Usual causes: a learning rate too high, or bad labels",
                    step + 1
                )));
            }
            at.loss_sum += value * batch_images as f64;
            at.images += batch_images;
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4}  {:.2} images/s",
                at.loss_sum / at.images as f64,
                (at.images - images_before) as f64 / start.elapsed().as_secs_f64()
            ));
            Ok(())
        };
        let mut pending: Option<(usize, usize, Download)> = None;
        for (step, batch) in (self.at.step..).zip(batches) {
            let batch = batch?;
            let labels = checked_labels(&batch, self.model.classes, "training")?;
            let g = Graph::training(gpu)?;
            let x = g.input(Tensor::from_f32(gpu, &batch.shape, &batch.images)?);
            let targets = Tensor::from_i32(gpu, &batch.label_shape(), labels)?;
            let ctx = Context::train(seed.wrapping_mul(0x1000_0000_01b3) ^ step as u64);
            let logits = self.model.forward(&g, &x, &ctx)?;
            let loss = g.cross_entropy(&logits, &targets, None)?;
            let mut grads = g.backward(&loss)?;
            collect_grads(self.model.net.as_mut(), &mut grads);
            self.optimizer.step(gpu, self.model.net.as_mut())?;
            let download = loss.value.to_f32_later(gpu)?;
            if let Some(previous) = pending.replace((step, batch.shape[0], download)) {
                collect(&mut self.at, previous)?;
            }
            let done = step + 1;
            if o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && done < count {
                // Only a step whose loss was seen to be finite is saved.
                if let Some(current) = pending.take() {
                    collect(&mut self.at, current)?;
                }
                self.at.step = done;
                save_resume_point(gpu, o, &mut self.model, &self.optimizer, &self.at)
                    .map_err(|e| diverged(e, &format!("at epoch {epoch}, step {done}")))?;
            }
            self.observer.after_step(StepEvent { epoch, step: done })?;
        }
        if let Some(last) = pending {
            collect(&mut self.at, last)?;
        }
        self.at.step = count;
        bar.finish_and_clear();
        Ok(())
    }
}

/// A checkpoint refused for non-finite weights, said as what it means for the run.
fn diverged(e: Error, when: &str) -> Error {
    match e {
        Error::NonFinite(what) => Error::NonFinite(format!(
            "the weights became NaN or infinite {when} ({what}); the last good checkpoint is \
             kept. Usual causes: a learning rate too high, or bad labels"
        )),
        other => other,
    }
}

/// Precise BN after epoch `epoch` (see `recompute_batch_norm_statistics`): over up to
/// `o.precise_bn` training images, in an order of their own, unflipped.
fn precise_batch_norm(gpu: &Gpu, o: &TrainOptions, model: &mut Model, epoch: usize) -> Result<()> {
    if o.precise_bn == 0 {
        return Ok(());
    }
    let seed = o.seed.wrapping_add(epoch as u64).rotate_left(17);
    let mut batches = Batches::new(
        Arc::clone(&o.train),
        o.batch_size,
        Some(seed),
        Augment::None,
    );
    let mut seen = 0;
    let mut inputs = std::iter::from_fn(|| {
        if seen >= o.precise_bn {
            return None;
        }
        let batch = batches.next()?;
        Some(batch.and_then(|b| {
            seen += b.shape[0];
            Tensor::from_f32(gpu, &b.shape, &b.images)
        }))
    });
    recompute_batch_norm_statistics(gpu, model.net.as_mut(), &mut inputs, seed)
}
