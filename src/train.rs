//! The training loop: epochs of shuffled batches, one recorded step each (forward, loss, backward,
//! optimiser), validation after every epoch, and checkpoints and metrics written as it goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::autograd::Graph;
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Augment, Batches, Dataset};
use crate::error::{Error, Result};
use crate::evaluate::{check_labels, evaluate};
use crate::gpu::Gpu;
use crate::models::{Architecture, Model, UpsamplingInit};
use crate::nn::{Context, Entry, collect_grads};
use crate::optimizer::{Optimizer, OptimizerConfig};
use crate::tensor::{Download, Tensor};

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
}

/// One row of metrics.csv.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// Validation accuracy or mIoU (NaN without validation data).
    pub val_metric: f64,
    pub seconds: f64,
}

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

/// Trains, writing `out/last.safetensors`, `out/best.safetensors` and `out/metrics.csv` after every
/// epoch. Returns the metrics.
pub fn train(gpu: &Gpu, o: &TrainOptions) -> Result<Vec<EpochRecord>> {
    std::fs::create_dir_all(&o.out)
        .map_err(|e| Error::File(format!("cannot create {}: {e}", o.out.display())))?;
    let mut model = initial_model(gpu, o)?;
    let mut optimizer = Optimizer::new(o.optimizer);
    let mut records: Vec<EpochRecord> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for epoch in 1..=o.epochs {
        let start = Instant::now();
        let train_loss = train_epoch(gpu, o, &mut model, &mut optimizer, epoch)?;
        recalibrate_batch_norm(gpu, o, &mut model, epoch)?;
        let (val_metric, score) = match &o.val {
            Some(val) => {
                let m = evaluate(gpu, &mut model, Arc::clone(val), o.batch_size)?.metric();
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
        println!(
            "epoch {epoch}/{}: train loss {train_loss:.4}, validation {} {}, {:.1} s",
            o.epochs,
            if o.arch.is_segmentation() {
                "mIoU"
            } else {
                "accuracy"
            },
            if val_metric.is_nan() {
                "n/a".to_owned()
            } else {
                format!("{val_metric:.4}")
            },
            record.seconds
        );
        records.push(record);
        checkpoint::save(gpu, &mut model, &o.out.join("last.safetensors"))?;
        // NaN never compares greater, so an undefined metric never replaces a defined best.
        if score > best || epoch == 1 {
            best = if score.is_nan() { best } else { score };
            checkpoint::save(gpu, &mut model, &o.out.join("best.safetensors"))?;
        }
        write_metrics(&o.out.join("metrics.csv"), &records)?;
    }
    Ok(records)
}

fn train_epoch(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    optimizer: &mut Optimizer,
    epoch: usize,
) -> Result<f64> {
    let seed = o.seed.wrapping_add(epoch as u64);
    let batches = Batches::new(Arc::clone(&o.train), o.batch_size, Some(seed), o.augment);
    let bar = if o.progress {
        ProgressBar::new(batches.batch_count() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{}", o.epochs));
    let (mut loss_sum, mut images) = (0.0f64, 0usize);
    let start = Instant::now();
    // A step's loss is collected after the next step is submitted, so the GPU never waits for
    // the host between steps.
    let mut collect = |step: usize, batch_images: usize, loss: Download| -> Result<()> {
        let value = f64::from(loss.wait(gpu)?[0]);
        if !value.is_finite() {
            return Err(Error::Shape(format!(
                "the loss became {value} at epoch {epoch}, step {}; the last good checkpoint is kept. \
                 Usual causes: a learning rate too high, or bad labels",
                step + 1
            )));
        }
        loss_sum += value * batch_images as f64;
        images += batch_images;
        bar.inc(1);
        bar.set_message(format!(
            "loss {:.4}  {:.2} images/s",
            loss_sum / images as f64,
            images as f64 / start.elapsed().as_secs_f64()
        ));
        Ok(())
    };
    let mut pending: Option<(usize, usize, Download)> = None;
    for (step, batch) in batches.enumerate() {
        let batch = batch?;
        check_labels(&batch, model.classes)?;
        let labels = batch
            .labels
            .as_ref()
            .ok_or_else(|| Error::File("training needs labelled data".into()))?;
        let g = Graph::training(gpu)?;
        let x = g.input(Tensor::from_f32(gpu, &batch.shape, &batch.images)?);
        let targets = Tensor::from_i32(gpu, &batch.label_shape(), labels)?;
        let ctx = Context::train(seed.wrapping_mul(0x1000_0000_01b3) ^ step as u64);
        let logits = model.forward(&g, &x, &ctx)?;
        let loss = g.cross_entropy(&logits, &targets, None)?;
        let mut grads = g.backward(&loss)?;
        collect_grads(model.net.as_mut(), &mut grads);
        optimizer.step(gpu, model)?;
        let download = loss.value.to_f32_later(gpu)?;
        if let Some((previous, n, loss)) = pending.replace((step, batch.shape[0], download)) {
            collect(previous, n, loss)?;
        }
    }
    if let Some((step, n, loss)) = pending {
        collect(step, n, loss)?;
    }
    bar.finish_and_clear();
    Ok(loss_sum / images.max(1) as f64)
}

/// Precise BN: replaces the running statistics, which average the last few batches of weights that
/// kept changing, by the exact mean over up to `precise_bn` training images of the final weights
/// (momentum 1/k for the k-th batch). Short runs from scratch need it: their momentum averages lag
/// so far behind that evaluation-mode outputs collapse (PyTorch's too). The counters are kept.
fn recalibrate_batch_norm(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    epoch: usize,
) -> Result<()> {
    let counts = counters(model);
    if o.precise_bn == 0 || counts.is_empty() {
        return Ok(());
    }
    let mut reset = Ok(());
    model.visit(&mut |name, entry| {
        if let Entry::Buffer(t) = entry {
            let value = if name.ends_with("running_var") {
                1.0
            } else {
                0.0
            };
            match Tensor::from_f32(gpu, t.shape(), &vec![value; t.numel()]) {
                Ok(fresh) => *t = fresh,
                Err(e) => reset = Err(e),
            }
        }
    });
    reset?;
    let seed = o.seed.wrapping_add(epoch as u64).rotate_left(17);
    let mut seen = 0;
    for (k, batch) in Batches::new(
        Arc::clone(&o.train),
        o.batch_size,
        Some(seed),
        Augment::None,
    )
    .enumerate()
    {
        if seen >= o.precise_bn {
            break;
        }
        let batch = batch?;
        let g = Graph::inference(gpu);
        let x = g.input(Tensor::from_f32(gpu, &batch.shape, &batch.images)?);
        let ctx = Context {
            bn_momentum: Some(1.0 / (k + 1) as f32),
            ..Context::train(seed ^ k as u64)
        };
        model.forward(&g, &x, &ctx)?;
        seen += batch.shape[0];
    }
    let mut restored = counts.into_iter();
    model.visit(&mut |_, entry| {
        if let (Entry::Count(c), Some(v)) = (entry, restored.next()) {
            *c = v;
        }
    });
    Ok(())
}

fn counters(model: &mut Model) -> Vec<i64> {
    let mut counts = Vec::new();
    model.visit(&mut |_, entry| {
        if let Entry::Count(c) = entry {
            counts.push(*c);
        }
    });
    counts
}

fn write_metrics(path: &Path, records: &[EpochRecord]) -> Result<()> {
    let mut csv = String::from("epoch,train_loss,val_metric,seconds\n");
    for r in records {
        csv += &format!(
            "{},{:.6},{:.6},{:.3}\n",
            r.epoch, r.train_loss, r.val_metric, r.seconds
        );
    }
    checkpoint::write_atomically(path, csv.as_bytes())
}
