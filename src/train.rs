//! The training loop: epochs of shuffled batches, one recorded step each (forward, loss, backward,
//! optimiser), validation after every epoch, and checkpoints and metrics written as it goes.

use std::collections::HashMap;
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
    /// Continue the run saved in `out` (its last.safetensors and the optimiser state it names)
    /// instead of starting one.
    pub resume: bool,
    /// Also save a resume point every this many steps within an epoch (0: after epochs only).
    pub checkpoint_every: usize,
    /// Ids of validation tiles whose predicted masks are kept after snapshot epochs, drawn as
    /// `out/snapshots.png` (segmentation; empty: none).
    pub snapshot: Vec<String>,
    /// Snapshot epochs: the first, every this many, and the last.
    pub snapshot_every: usize,
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

/// After every optimiser step (and its checkpoint, if it has one): which step it was. Tests watch
/// memory and inject failures here.
#[derive(Clone, Copy, Debug)]
pub struct StepEvent {
    pub epoch: usize,
    /// Steps of the epoch done, this one included.
    pub step: usize,
}

/// Where a run stands. Saved in last.safetensors' metadata, so `--resume` continues exactly: the
/// shuffling, flips and dropout masks are functions of the seed, the epoch and the step.
struct Position {
    /// The epoch in progress (1-based) and its steps done.
    epoch: usize,
    step: usize,
    /// Loss times images, and images, over the epoch's steps done.
    loss_sum: f64,
    images: usize,
    /// The best validation metric (or negated training loss) so far.
    best: f64,
    records: Vec<EpochRecord>,
}

impl Position {
    fn start() -> Position {
        Position {
            epoch: 1,
            step: 0,
            loss_sum: 0.0,
            images: 0,
            best: f64::NEG_INFINITY,
            records: Vec::new(),
        }
    }

    /// Floats are written in Rust's shortest round-trip form, so they are read back exactly.
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("wgnn_epoch".to_owned(), self.epoch.to_string()),
            ("wgnn_step".to_owned(), self.step.to_string()),
            ("wgnn_loss_sum".to_owned(), self.loss_sum.to_string()),
            ("wgnn_images".to_owned(), self.images.to_string()),
            ("wgnn_best".to_owned(), self.best.to_string()),
            ("wgnn_metrics".to_owned(), metrics_csv(&self.records)),
        ])
    }

    fn from_metadata(meta: &HashMap<String, String>, path: &Path) -> Result<Position> {
        let records = parse_metrics_csv(
            resume_value(meta, path, "wgnn_metrics")?,
            &format!("the metrics in {}", path.display()),
        )?;
        Ok(Position {
            epoch: resume_number(meta, path, "wgnn_epoch")?,
            step: resume_number(meta, path, "wgnn_step")?,
            loss_sum: resume_number(meta, path, "wgnn_loss_sum")?,
            images: resume_number(meta, path, "wgnn_images")?,
            best: resume_number(meta, path, "wgnn_best")?,
            records,
        })
    }
}

fn resume_value<'a>(meta: &'a HashMap<String, String>, path: &Path, key: &str) -> Result<&'a str> {
    meta.get(key).map(String::as_str).ok_or_else(|| {
        Error::File(format!(
            "cannot resume from {}: it has no {key} (only checkpoints written by `wgnn train` can be resumed)",
            path.display()
        ))
    })
}

fn resume_number<T: std::str::FromStr>(
    meta: &HashMap<String, String>,
    path: &Path,
    key: &str,
) -> Result<T> {
    let text = resume_value(meta, path, key)?;
    text.parse().map_err(|_| {
        Error::File(format!(
            "cannot resume from {}: its {key} is {text:?}, not a number",
            path.display()
        ))
    })
}

/// The settings a resumed run must share with the interrupted one (anything else would not
/// continue it): (flag, value as recorded).
fn settings(o: &TrainOptions) -> Vec<(&'static str, String)> {
    vec![
        ("--model", o.arch.name().to_owned()),
        ("--classes", o.classes.to_string()),
        ("--batch-size", o.batch_size.to_string()),
        ("--optimizer", format!("{:?}", o.optimizer)),
        ("--augment", format!("{:?}", o.augment)),
        ("--seed", o.seed.to_string()),
        ("--precise-bn", o.precise_bn.to_string()),
        ("training images", o.train.len().to_string()),
    ]
}

fn setting_key(flag: &str) -> String {
    format!("wgnn_run {}", flag.trim_start_matches('-'))
}

/// Trains, writing `out/last.safetensors`, `out/best.safetensors`, `out/metrics.csv` and
/// `out/curves.png` after every epoch. Returns the metrics of every epoch of the run.
pub fn train(gpu: &Gpu, o: &TrainOptions) -> Result<Vec<EpochRecord>> {
    train_observed(gpu, o, &mut |_| Ok(()))
}

/// `train`, calling `observer` after every step; an error from it ends the run as any failure.
pub fn train_observed(
    gpu: &Gpu,
    o: &TrainOptions,
    observer: &mut dyn FnMut(StepEvent) -> Result<()>,
) -> Result<Vec<EpochRecord>> {
    let mut optimizer = Optimizer::new(o.optimizer);
    // Weights are loaded before the output folder is made, so a bad --init leaves no trace.
    let (mut model, mut at) = if o.resume {
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
    std::fs::create_dir_all(&o.out)
        .map_err(|e| Error::File(format!("cannot create {}: {e}", o.out.display())))?;
    if at.epoch > o.epochs {
        return Err(Error::Shape(format!(
            "the run in {} has finished its {} epochs; pass a larger --epochs to train further",
            o.out.display(),
            at.epoch - 1
        )));
    }
    while at.epoch <= o.epochs {
        run_epoch(gpu, o, &mut model, &mut optimizer, &mut at, observer).map_err(|e| {
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
    Ok(at.records)
}

/// The rest of epoch `at.epoch`: its remaining steps, Precise BN, validation, and the files.
fn run_epoch(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    optimizer: &mut Optimizer,
    at: &mut Position,
    observer: &mut dyn FnMut(StepEvent) -> Result<()>,
) -> Result<()> {
    let epoch = at.epoch;
    let start = Instant::now();
    train_steps(gpu, o, model, optimizer, at, observer)?;
    let train_loss = at.loss_sum / at.images.max(1) as f64;
    recalibrate_batch_norm(gpu, o, model, epoch)?;
    let (val_metric, score) = match &o.val {
        Some(val) => {
            let m = evaluate(gpu, model, Arc::clone(val), o.batch_size)?.metric();
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
    at.records.push(record);
    crate::pictures::snapshots::after_epoch(gpu, o, model, &at.records)?;
    // best.safetensors and metrics.csv go first: if the run stops before last.safetensors is
    // replaced, the resumed run repeats this epoch and writes them again, identically.
    // NaN never compares greater, so an undefined metric never replaces a defined best.
    let when = format!("by the end of epoch {epoch}");
    if score > at.best || epoch == 1 {
        at.best = if score.is_nan() { at.best } else { score };
        checkpoint::save(gpu, model, &o.out.join("best.safetensors"))
            .map_err(|e| diverged(e, &when))?;
    }
    checkpoint::write_atomically(
        &o.out.join("metrics.csv"),
        metrics_csv(&at.records).as_bytes(),
    )?;
    crate::draw::write_training_curves(&o.out.join("curves.png"), &at.records, o.arch)?;
    at.epoch += 1;
    at.step = 0;
    at.loss_sum = 0.0;
    at.images = 0;
    save_resume_point(gpu, o, model, optimizer, at).map_err(|e| diverged(e, &when))
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

/// Writes the optimiser state to `optimizer-{steps}.safetensors`, then last.safetensors naming it,
/// then removes older optimiser states: whenever the run stops, last.safetensors and the state it
/// names are both complete and belong together.
fn save_resume_point(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    optimizer: &Optimizer,
    at: &Position,
) -> Result<()> {
    let state_file = format!("optimizer-{:09}.safetensors", optimizer.steps);
    let steps = (
        "wgnn_optimizer_steps".to_owned(),
        optimizer.steps.to_string(),
    );
    checkpoint::save_tensors(
        gpu,
        &optimizer.named_state(),
        HashMap::from([steps.clone()]),
        &o.out.join(&state_file),
    )?;
    let mut meta = at.metadata();
    meta.extend(
        settings(o)
            .into_iter()
            .map(|(flag, v)| (setting_key(flag), v)),
    );
    meta.insert("wgnn_optimizer_state".to_owned(), state_file.clone());
    meta.insert(steps.0, steps.1);
    checkpoint::save_with_metadata(gpu, model, &o.out.join("last.safetensors"), meta)?;
    let stale = std::fs::read_dir(&o.out)
        .map_err(|e| Error::File(format!("cannot list {}: {e}", o.out.display())))?
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|n| n.starts_with("optimizer-") && n.ends_with(".safetensors") && *n != state_file);
    for name in stale {
        // A state that cannot be removed only costs disk space.
        let _ = std::fs::remove_file(o.out.join(name));
    }
    Ok(())
}

/// The model, optimiser state and position saved in `out` by an interrupted run.
fn resume(gpu: &Gpu, o: &TrainOptions, optimizer: &mut Optimizer) -> Result<(Model, Position)> {
    let path = o.out.join("last.safetensors");
    if !path.exists() {
        return Err(Error::File(format!(
            "cannot resume: {} does not exist (a run writes it after each epoch, and every --checkpoint-every steps)",
            path.display()
        )));
    }
    let ck = Checkpoint::open(&path)?;
    let meta = ck.metadata()?;
    for (flag, value) in settings(o) {
        let saved = resume_value(&meta, &path, &setting_key(flag))?;
        if saved != value {
            return Err(Error::Shape(format!(
                "cannot resume from {}: it was trained with {flag} {saved}, this command has {value}",
                path.display()
            )));
        }
    }
    let mut model = Model::new(gpu, o.arch, o.classes, o.seed, o.upsampling_init)?;
    ck.load_into(gpu, &mut model)?;
    let state = o
        .out
        .join(resume_value(&meta, &path, "wgnn_optimizer_state")?);
    optimizer.load_state(gpu, &mut model, &Checkpoint::open(&state)?)?;
    optimizer.steps = resume_number(&meta, &path, "wgnn_optimizer_steps")?;
    Ok((model, Position::from_metadata(&meta, &path)?))
}

/// The remaining steps of epoch `at.epoch`, saving a resume point every `checkpoint_every` steps.
fn train_steps(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    optimizer: &mut Optimizer,
    at: &mut Position,
    observer: &mut dyn FnMut(StepEvent) -> Result<()>,
) -> Result<()> {
    let epoch = at.epoch;
    let seed = o.seed.wrapping_add(epoch as u64);
    let batches = Batches::starting_at(
        Arc::clone(&o.train),
        o.batch_size,
        Some(seed),
        o.augment,
        at.step,
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
    bar.set_position(at.step as u64);
    let start = Instant::now();
    let images_before = at.images;
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
    for (step, batch) in (at.step..).zip(batches) {
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
        if let Some(previous) = pending.replace((step, batch.shape[0], download)) {
            collect(at, previous)?;
        }
        let done = step + 1;
        if o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && done < count {
            // Only a step whose loss was seen to be finite is saved.
            if let Some(current) = pending.take() {
                collect(at, current)?;
            }
            at.step = done;
            save_resume_point(gpu, o, model, optimizer, at)
                .map_err(|e| diverged(e, &format!("at epoch {epoch}, step {done}")))?;
        }
        observer(StepEvent { epoch, step: done })?;
    }
    if let Some(last) = pending {
        collect(at, last)?;
    }
    at.step = count;
    bar.finish_and_clear();
    Ok(())
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

/// The rows of a metrics.csv that `wgnn train` wrote; `source` names it in errors.
pub fn parse_metrics_csv(text: &str, source: &str) -> Result<Vec<EpochRecord>> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(METRICS_HEADER) {
        return Err(Error::File(format!(
            "{source} is not a metrics.csv of wgnn train: its first line should be {METRICS_HEADER}"
        )));
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let bad = || Error::File(format!("{source}: unreadable row {}: {line:?}", i + 2));
            match line.trim().split(',').collect::<Vec<_>>().as_slice() {
                [epoch, loss, metric, seconds] => Ok(EpochRecord {
                    epoch: epoch.parse().map_err(|_| bad())?,
                    train_loss: loss.parse().map_err(|_| bad())?,
                    val_metric: metric.parse().map_err(|_| bad())?,
                    seconds: seconds.parse().map_err(|_| bad())?,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

const METRICS_HEADER: &str = "epoch,train_loss,val_metric,seconds";

fn metrics_csv(records: &[EpochRecord]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for r in records {
        csv += &format!(
            "{},{:.6},{:.6},{:.3}\n",
            r.epoch, r.train_loss, r.val_metric, r.seconds
        );
    }
    csv
}
