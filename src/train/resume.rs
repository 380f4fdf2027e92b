//! What lets `--resume` continue a run exactly: its position and settings, saved in
//! last.safetensors' metadata beside the optimiser state it names. The shuffling, flips and dropout
//! masks are functions of the seed, the epoch and the step, so nothing else is needed.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::metrics::{EpochRecord, metrics_csv, parse_metrics_csv};
use super::options::TrainOptions;
use crate::checkpoint::{self, Checkpoint};
use crate::data::Augment;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::Model;
use crate::nn::Entry;
use crate::optimizer::{Optimizer, OptimizerConfig};
use crate::tensor::Tensor;

/// Where a run stands.
pub(super) struct Position {
    /// The epoch in progress (1-based) and its steps done.
    pub epoch: usize,
    pub step: usize,
    /// Loss times images, and images, over the epoch's steps done.
    pub loss_sum: f64,
    pub images: usize,
    /// The best validation metric (or negated training loss) so far.
    pub best: f64,
    pub records: Vec<EpochRecord>,
}

impl Position {
    pub fn start() -> Position {
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
            value(meta, path, "wgnn_metrics")?,
            &format!("the metrics in {}", path.display()),
        )?;
        Ok(Position {
            epoch: number(meta, path, "wgnn_epoch")?,
            step: number(meta, path, "wgnn_step")?,
            loss_sum: number(meta, path, "wgnn_loss_sum")?,
            images: number(meta, path, "wgnn_images")?,
            best: number(meta, path, "wgnn_best")?,
            records,
        })
    }
}

fn value<'a>(meta: &'a HashMap<String, String>, path: &Path, key: &str) -> Result<&'a str> {
    meta.get(key).map(String::as_str).ok_or_else(|| {
        Error::File(format!(
            "cannot resume from {}: it has no {key} (only checkpoints written by `wgnn train` can be resumed)",
            path.display()
        ))
    })
}

fn number<T: std::str::FromStr>(
    meta: &HashMap<String, String>,
    path: &Path,
    key: &str,
) -> Result<T> {
    let text = value(meta, path, key)?;
    text.parse().map_err(|_| {
        Error::File(format!(
            "cannot resume from {}: its {key} is {text:?}, not a number",
            path.display()
        ))
    })
}

/// The settings a resumed run must share with the interrupted one (anything else would not
/// continue it), saved as JSON under `wgnn_run`.
#[derive(Serialize, Deserialize)]
struct RunSettings {
    model: String,
    classes: usize,
    batch_size: usize,
    optimizer: OptimizerConfig,
    augment: Augment,
    seed: u64,
    precise_bn: usize,
    training_images: usize,
}

const SETTINGS_KEY: &str = "wgnn_run";

/// The flag (or thing) each setting comes from, to say which one differs.
const SETTING_FLAGS: [(&str, &str); 8] = [
    ("model", "--model"),
    ("classes", "--classes"),
    ("batch_size", "--batch-size"),
    ("optimizer", "--optimizer"),
    ("augment", "--augment"),
    ("seed", "--seed"),
    ("precise_bn", "--precise-bn"),
    ("training_images", "training images"),
];

impl RunSettings {
    fn of(o: &TrainOptions) -> RunSettings {
        RunSettings {
            model: o.arch.name().to_owned(),
            classes: o.classes,
            batch_size: o.batch_size,
            optimizer: o.optimizer,
            augment: o.augment,
            seed: o.seed,
            precise_bn: o.precise_bn,
            training_images: o.train.len(),
        }
    }

    /// As written in the checkpoint: numbers in their shortest form (0.9, not 0.8999999761581421).
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("run settings serialise")
    }

    /// An error naming the first setting in which the saved run (`saved`, its JSON) differs.
    fn check_against(&self, saved: &str, path: &Path) -> Result<()> {
        let saved: serde_json::Value = serde_json::from_str(saved).map_err(|e| {
            Error::File(format!(
                "cannot resume from {}: its {SETTINGS_KEY} is not readable: {e}",
                path.display()
            ))
        })?;
        let ours: serde_json::Value =
            serde_json::from_str(&self.to_json()).expect("run settings read back");
        for (key, flag) in SETTING_FLAGS {
            let (was, now) = (&saved[key], &ours[key]);
            if was != now {
                return Err(Error::Shape(format!(
                    "cannot resume from {}: it was trained with {flag} {}, this command has {}",
                    path.display(),
                    shown(was),
                    shown(now)
                )));
            }
        }
        Ok(())
    }
}

/// A setting as a user would type it: strings unquoted, the rest as compact JSON.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "nothing".to_owned(),
        other => other.to_string(),
    }
}

/// Writes the optimiser state to `optimizer-{steps}.safetensors`, then last.safetensors naming it,
/// then removes older optimiser states: whenever the run stops, last.safetensors and the state it
/// names are both complete and belong together.
pub(super) fn save_resume_point(
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
    let state = optimizer.named_state(gpu)?;
    let state: Vec<(String, &Tensor)> = state.iter().map(|(n, t)| (n.clone(), t)).collect();
    checkpoint::save_tensors(
        gpu,
        &state,
        HashMap::from([steps.clone()]),
        &o.out.join(&state_file),
    )?;
    let mut meta = at.metadata();
    meta.insert(SETTINGS_KEY.to_owned(), RunSettings::of(o).to_json());
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
pub(super) fn resume(
    gpu: &Gpu,
    o: &TrainOptions,
    optimizer: &mut Optimizer,
) -> Result<(Model, Position)> {
    let path = o.out.join("last.safetensors");
    if !path.exists() {
        return Err(Error::File(format!(
            "cannot resume: {} does not exist (a run writes it after each epoch, and every --checkpoint-every steps)",
            path.display()
        )));
    }
    let ck = Checkpoint::open(&path)?;
    let meta = ck.metadata()?;
    if !meta.contains_key(SETTINGS_KEY) && meta.keys().any(|k| k.starts_with("wgnn_run ")) {
        return Err(Error::File(format!(
            "cannot resume from {}: an earlier wgnn wrote its settings in a form this one does not \
             check; start a new run from its weights with --init {}",
            path.display(),
            path.display()
        )));
    }
    RunSettings::of(o).check_against(value(&meta, &path, SETTINGS_KEY)?, &path)?;
    let mut model = Model::unwritten(gpu, o.arch, o.classes)?;
    ck.load_into(gpu, &mut model)?;
    let state = o.out.join(value(&meta, &path, "wgnn_optimizer_state")?);
    load_optimizer_state(gpu, optimizer, &mut model, &Checkpoint::open(&state)?)?;
    optimizer.steps = number(&meta, &path, "wgnn_optimizer_steps")?;
    Ok((model, Position::from_metadata(&meta, &path)?))
}

/// Restores the state `Optimizer::named_state` wrote for `model`'s parameters. A parameter without
/// state in the file gets none (as before its first step); a state tensor of no parameter is an
/// error.
fn load_optimizer_state(
    gpu: &Gpu,
    optimizer: &mut Optimizer,
    model: &mut Model,
    file: &Checkpoint,
) -> Result<()> {
    let mut names = file.names()?;
    let kinds = optimizer.state_names();
    let mut state = HashMap::new();
    let mut failure = None;
    model.visit(&mut |name, entry| {
        let Entry::Param(p) = entry else { return };
        if failure.is_some() || !names.iter().any(|n| n == &format!("{name}.{}", kinds[0])) {
            return;
        }
        let buffers = kinds
            .iter()
            .map(|kind| {
                let key = format!("{name}.{kind}");
                names.retain(|n| n != &key);
                file.tensor(gpu, &key, p.value.shape())
            })
            .collect::<Result<Vec<_>>>();
        match buffers {
            Ok(b) => {
                state.insert(name.to_owned(), b);
            }
            Err(e) => failure = Some(e),
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(stray) = names.first() {
        return Err(Error::File(format!(
            "the optimiser state holds {stray}, which belongs to no parameter of the {} model",
            model.arch.name()
        )));
    }
    optimizer.set_state(state);
    Ok(())
}
