//! What several subcommands share: the enums their flags take (mapped onto the library's types),
//! opening the GPU, the data, and the checks made before any work.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use wgnn::data::{
    ClassifyFolder, Dataset, Scan, SegmentFolder, SyntheticClassify, SyntheticSegment,
};
use wgnn::gpu::{Gpu, GpuOptions};
use wgnn::models::Architecture;
use wgnn::{Error, Result};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Image classification (VGG16-bn).
    Classify,
    /// Semantic segmentation of satellite tiles (FCN32s, FCN16s, FCN8s).
    Segment,
}

impl Task {
    /// The model trained unless --model says otherwise.
    pub fn default_architecture(self) -> Architecture {
        match self {
            Task::Classify => Architecture::Vgg16bn,
            Task::Segment => Architecture::Fcn32s,
        }
    }
}

/// The leading arguments of `eval` and `predict`: the task and the weight file that does it.
#[derive(clap::Args)]
pub struct Trained {
    pub task: Task,
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
}

/// `--optimizer` of `train` and `bench`: which `optimizer::OptimizerConfig`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

/// `--model`: `models::Architecture`, by its name.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    Vgg16bn,
    Fcn32s,
    Fcn16s,
    Fcn8s,
}

impl From<Model> for Architecture {
    fn from(m: Model) -> Architecture {
        match m {
            Model::Vgg16bn => Architecture::Vgg16bn,
            Model::Fcn32s => Architecture::Fcn32s,
            Model::Fcn16s => Architecture::Fcn16s,
            Model::Fcn8s => Architecture::Fcn8s,
        }
    }
}

pub fn open_gpu(adapter: Option<&str>) -> Result<Gpu> {
    Gpu::new(&GpuOptions {
        adapter: adapter.map(str::to_owned),
        ..GpuOptions::default()
    })
}

/// A labelled dataset: the folder if given, else the built-in set.
pub fn labelled(task: Task, dir: Option<&Path>, validation: bool) -> Result<Arc<dyn Dataset>> {
    Ok(match (task, dir) {
        (Task::Classify, Some(d)) => Arc::new(ClassifyFolder::open(d)?),
        (Task::Segment, Some(d)) => Arc::new(SegmentFolder::open(d)?),
        (Task::Classify, None) => Arc::new(SyntheticClassify::builtin(validation)),
        (Task::Segment, None) => Arc::new(SyntheticSegment::builtin(validation)),
    })
}

pub fn check_task(task: Task, arch: Architecture) -> Result<()> {
    if arch.is_segmentation() != (task == Task::Segment) {
        let (kind, command) = if arch.is_segmentation() {
            ("segmentation", "segment")
        } else {
            ("classification", "classify")
        };
        return Err(Error::Shape(format!(
            "{} is a {kind} model; use `{command}`",
            arch.name()
        )));
    }
    Ok(())
}

/// How errors name a labelled dataset.
pub fn data_source(dir: Option<&Path>) -> String {
    dir.map_or("the built-in synthetic data".to_owned(), |d| {
        d.display().to_string()
    })
}

/// Checks scanned data against a model before it runs: every label within its classes, and for the
/// FCNs heights and widths that are multiples of 32 (five 2x2 poolings, then a 32x upsampling back).
pub fn check_data_fits(
    scan: &Scan,
    source: &str,
    arch: Architecture,
    classes: usize,
) -> Result<()> {
    if let Some((label, id)) = &scan.max_label
        && !usize::try_from(*label).is_ok_and(|l| l < classes)
    {
        return Err(Error::File(format!(
            "{source}: {id} has label {label}, outside the model's {classes} classes (0 to {})",
            classes - 1
        )));
    }
    let [height, width] = scan.size;
    if arch.is_segmentation() && !(height.is_multiple_of(32) && width.is_multiple_of(32)) {
        return Err(Error::File(format!(
            "{source}: the images are {height}x{width}, but {} needs heights and widths that are multiples of 32",
            arch.name()
        )));
    }
    Ok(())
}

/// A weight file and the labelled data it is to run on, checked against each other (every image
/// readable, sizes the model takes, labels within its classes) before any GPU work.
pub fn weights_and_data(
    task: Task,
    weight_file: &Path,
    model: Option<Model>,
    data: Option<&Path>,
) -> Result<(wgnn::checkpoint::Weights, Arc<dyn Dataset>)> {
    let weights = open_weights(task, weight_file, model)?;
    let dataset = labelled(task, data, true)?;
    check_data_fits(
        &wgnn::data::scan(dataset.as_ref())?,
        &data_source(data),
        weights.arch,
        weights.classes,
    )?;
    Ok((weights, dataset))
}

/// A weight file whose model (from its tensor names unless `model` overrides it) does `task`.
pub fn open_weights(
    task: Task,
    path: &Path,
    model: Option<Model>,
) -> Result<wgnn::checkpoint::Weights> {
    let weights = wgnn::checkpoint::Weights::open(path, model.map(Architecture::from))?;
    check_task(task, weights.arch)?;
    Ok(weights)
}

/// clap's report of a bad command line, except that a flag's bad value is one line like every other
/// wgnn error: it names the flag, the value and what is expected, and clap's "try --help" adds
/// nothing. Help, version and the other usage errors keep clap's output and exit codes.
pub fn exit_on_bad_command_line(e: clap::Error) -> ! {
    if e.kind() == clap::error::ErrorKind::ValueValidation {
        eprintln!("{}", e.to_string().lines().next().unwrap_or_default());
        std::process::exit(e.exit_code());
    }
    e.exit()
}

/// A clap value parser for whole numbers of at least `min` (batch sizes, epochs, classes...).
pub fn at_least(
    min: u32,
) -> impl Fn(&str) -> std::result::Result<u32, String> + Clone + Send + Sync + 'static {
    move |s| match s.parse::<u32>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(format!("expected a whole number of at least {min}")),
    }
}

pub fn float_flag(
    s: &str,
    ok: fn(f32) -> bool,
    expected: &str,
) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(format!("expected {expected}")),
    }
}

/// A positive finite number (--lr: a step of 0 trains nothing, and a negative, NaN or infinite one
/// wrecks the weights; --perplexity: t-SNE's effective number of neighbours).
pub fn positive(s: &str) -> std::result::Result<f32, String> {
    float_flag(s, |v| v > 0.0 && v.is_finite(), "a finite number above 0")
}
