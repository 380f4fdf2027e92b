//! `wgnn train`: the flags, the data and weights checked before anything is written, and the
//! snapshot pictures subscribed to the run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;
use wgnn::checkpoint::Checkpoint;
use wgnn::data::{Augment, Dataset};
use wgnn::gpu::{self, Gpu};
use wgnn::models::{Architecture, UpsamplingInit};
use wgnn::optimizer::{AdamConfig, OptimizerConfig, SgdConfig};
use wgnn::pictures::snapshots::{SnapshotSettings, Snapshots};
use wgnn::train::{self, EpochRecord, Observer, TrainOptions};
use wgnn::{Error, Result};

use super::common::{
    Model, OptimizerKind, Task, at_least, check_data_fits, check_task, data_source, labelled,
    positive,
};

/// `--augment`: `data::Augment`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AugmentArg {
    None,
    /// Random horizontal flip of image and mask, probability 1/2.
    Flip,
}

/// `--upsampling-init`: `models::UpsamplingInit`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UpsamplingArg {
    /// PyTorch's default (Kaiming-uniform), what the homework's modules get.
    Default,
    /// Bilinear interpolation and zero bias, as wkentaro/pytorch-fcn.
    Bilinear,
}

impl From<AugmentArg> for Augment {
    fn from(a: AugmentArg) -> Augment {
        match a {
            AugmentArg::None => Augment::None,
            AugmentArg::Flip => Augment::Flip,
        }
    }
}

impl From<UpsamplingArg> for UpsamplingInit {
    fn from(u: UpsamplingArg) -> UpsamplingInit {
        match u {
            UpsamplingArg::Default => UpsamplingInit::Default,
            UpsamplingArg::Bilinear => UpsamplingInit::Bilinear,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    task: Task,
    /// Architecture (default: vgg16bn to classify, fcn32s to segment).
    #[arg(long)]
    model: Option<Model>,
    /// Training data in the homework's layout (default: built-in synthetic data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Validation data (default: the built-in validation set when training on built-in data).
    #[arg(long, value_name = "DIR")]
    val: Option<PathBuf>,
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = at_least(1))]
    epochs: u32,
    /// Images per step (default: 16 to classify, 4 to segment).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    batch_size: Option<u32>,
    /// Learning rate (default: 1e-4 for both; VGG's classifier takes a large step per unit of it).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    lr: Option<f32>,
    #[arg(long, default_value_t = SgdConfig::default().momentum, allow_negative_numbers = true, value_parser = momentum)]
    momentum: f32,
    #[arg(long, default_value_t = SgdConfig::default().weight_decay, allow_negative_numbers = true, value_parser = weight_decay)]
    weight_decay: f32,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    #[arg(long, value_enum, default_value_t = AugmentArg::None)]
    augment: AugmentArg,
    /// Start from a full checkpoint.
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Load torchvision vgg16_bn `features.*` weights into the model's VGG layers.
    #[arg(long, value_name = "FILE")]
    backbone: Option<PathBuf>,
    /// Classes (default: from --init, else from the labels; 7 to segment).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    classes: Option<u32>,
    /// How the FCNs' transposed convolutions start.
    #[arg(long, value_enum, default_value_t = UpsamplingArg::Default)]
    upsampling_init: UpsamplingArg,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// After each epoch, recompute BN running statistics over this many training images (Precise
    /// BN); 0 keeps PyTorch's momentum averages.
    #[arg(long, default_value_t = train::DEFAULT_PRECISE_BN as u32, value_name = "IMAGES", allow_negative_numbers = true, value_parser = at_least(0))]
    precise_bn: u32,
    /// Where checkpoints and metrics go (default with --resume: the resumed folder).
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the interrupted run in DIR from its last checkpoint, optimiser state and position;
    /// the command must otherwise be the one that started it (--epochs may grow).
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Also checkpoint every N steps within an epoch, so an interruption loses at most N steps
    /// (default: after each epoch only).
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true, value_parser = at_least(0))]
    checkpoint_every: u32,
    /// segment: validation tile ids (comma-separated) whose predicted masks are kept after
    /// snapshot epochs in DIR/snapshots/ and drawn as DIR/snapshots.png.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    snapshot: Vec<String>,
    /// Snapshot epochs: the first, every N-th and the last.
    #[arg(long, value_name = "N", default_value_t = 1, allow_negative_numbers = true, value_parser = at_least(1))]
    snapshot_every: u32,
}

/// --momentum: SGD's running velocity must decay, so it lies in [0, 1).
fn momentum(s: &str) -> std::result::Result<f32, String> {
    super::common::float_flag(
        s,
        |v| (0.0..1.0).contains(&v),
        "a number from 0 up to (not including) 1",
    )
}

/// --weight-decay: a negative decay would push the weights away from zero.
fn weight_decay(s: &str) -> std::result::Result<f32, String> {
    super::common::float_flag(
        s,
        |v| v >= 0.0 && v.is_finite(),
        "a finite number of at least 0",
    )
}

impl Args {
    /// The run's folder: --out, or the --resume folder (they must agree if both are given).
    fn out(&self) -> Result<PathBuf> {
        match (&self.out, &self.resume) {
            (Some(out), Some(resume)) if out != resume => Err(Error::Shape(format!(
                "--resume {} continues the run in that folder; drop --out {} or make it the same",
                resume.display(),
                out.display()
            ))),
            (out, resume) => out
                .clone()
                .or_else(|| resume.clone())
                .ok_or_else(|| Error::Shape("wgnn train needs --out DIR (or --resume DIR)".into())),
        }
    }

    /// --model, else the --init weights', else the task's; --classes, else the --init weights',
    /// else the training labels'. --classes must agree with --init's.
    fn architecture_and_classes(&self, train: &dyn Dataset) -> Result<(Architecture, usize)> {
        let from_init = self
            .init
            .as_deref()
            .map(|p| Checkpoint::open(p)?.architecture())
            .transpose()?;
        let arch = self
            .model
            .map(Architecture::from)
            .or(from_init.map(|(arch, _)| arch))
            .unwrap_or(self.task.default_architecture());
        check_task(self.task, arch)?;
        let classes = self
            .classes
            .map(|c| c as usize)
            .or(from_init.map(|(_, c)| c))
            .unwrap_or_else(|| train.classes());
        if let (Some(wanted), Some(init), Some((_, init_classes))) =
            (self.classes, &self.init, from_init)
            && wanted as usize != init_classes
        {
            return Err(Error::Shape(format!(
                "--classes {wanted} does not match the {init_classes} classes of the --init weights {}",
                init.display()
            )));
        }
        Ok((arch, classes))
    }

    fn optimizer(&self) -> OptimizerConfig {
        match self.optimizer {
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig {
                lr: self.lr.unwrap_or(SgdConfig::default().lr),
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            }),
            OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
                lr: self.lr.unwrap_or(AdamConfig::default().lr),
                weight_decay: self.weight_decay,
                ..AdamConfig::default()
            }),
        }
    }
}

/// The --snapshot pictures, drawn after each epoch's validation.
struct SnapshotObserver(Snapshots);

impl Observer for SnapshotObserver {
    fn after_epoch(
        &mut self,
        gpu: &Gpu,
        model: &mut wgnn::models::Model,
        records: &[EpochRecord],
    ) -> Result<()> {
        let losses: Vec<(usize, f64)> = records.iter().map(|r| (r.epoch, r.train_loss)).collect();
        self.0.after_epoch(gpu, model, &losses)
    }
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let out = a.out()?;
    let gpu = super::common::open_gpu(adapter)?;
    let train_data = labelled(a.task, a.data.as_deref(), false)?;
    let val = match (&a.val, &a.data) {
        (Some(v), _) => Some(labelled(a.task, Some(v), true)?),
        (None, None) => Some(labelled(a.task, None, true)?),
        (None, Some(_)) => None,
    };
    let val_source = data_source(a.val.as_deref().or(a.data.as_deref()));
    let (arch, classes) = a.architecture_and_classes(train_data.as_ref())?;
    let batch_size = a
        .batch_size
        .map_or(arch.default_batch_size(), |b| b as usize);
    let mut snapshots = match (&val, a.snapshot.is_empty()) {
        (_, true) => None,
        (Some(val), false) if a.task == Task::Segment => {
            Some(SnapshotObserver(Snapshots::new(SnapshotSettings {
                val: Arc::clone(val),
                ids: &a.snapshot,
                source: &val_source,
                out: out.clone(),
                every: a.snapshot_every as usize,
                epochs: a.epochs as usize,
                batch_size,
                model_name: arch.name(),
            })?))
        }
        _ => {
            return Err(Error::Shape(
                "--snapshot keeps masks of validation tiles: it needs `train segment` with validation data (--val DIR, or the built-in data)".into(),
            ));
        }
    };
    check_data_fits(
        &wgnn::data::scan(train_data.as_ref())?,
        &data_source(a.data.as_deref()),
        arch,
        classes,
    )?;
    if let Some(val) = &val {
        check_data_fits(&wgnn::data::scan(val.as_ref())?, &val_source, arch, classes)?;
    }
    let optimizer = a.optimizer();
    println!(
        "training {} ({classes} classes) on {}: {} images, on {}",
        arch.name(),
        a.data
            .as_ref()
            .map_or("built-in synthetic data".to_owned(), |d| d
                .display()
                .to_string()),
        train_data.len(),
        gpu::describe(gpu.adapter_info())
    );
    let options = TrainOptions {
        arch,
        train: train_data,
        val,
        classes,
        epochs: a.epochs as usize,
        batch_size,
        optimizer,
        augment: a.augment.into(),
        init: a.init,
        backbone: a.backbone,
        upsampling_init: a.upsampling_init.into(),
        seed: a.seed,
        precise_bn: a.precise_bn as usize,
        out: out.clone(),
        progress: std::io::stderr().is_terminal(),
        resume: a.resume.is_some(),
        checkpoint_every: a.checkpoint_every as usize,
    };
    match &mut snapshots {
        Some(observer) => train::train_observed(&gpu, &options, observer)?,
        None => train::train(&gpu, &options)?,
    };
    println!(
        "wrote {}, {}, {} and {}",
        out.join("last.safetensors").display(),
        out.join("best.safetensors").display(),
        out.join("metrics.csv").display(),
        out.join("curves.png").display()
    );
    Ok(ExitCode::SUCCESS)
}
