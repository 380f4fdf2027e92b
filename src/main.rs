//! The `wgnn` command line: argument parsing and output, over the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wgnn::checkpoint::Checkpoint;
use wgnn::data::{
    Augment, ClassifyFolder, Dataset, ImageFolder, LAND_COVER, Scan, SegmentFolder, Subset,
    SyntheticClassify, SyntheticSegment,
};
use wgnn::gpu::{self, Gpu, GpuOptions};
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::ops::optim::{AdamConfig, SgdConfig};
use wgnn::optimizer::OptimizerConfig;
use wgnn::pictures::compare::{Contender, compare};
use wgnn::pictures::embed::{self, FeatureLayer};
use wgnn::{Error, Result, evaluate, gradcheck, nn, train};

#[derive(Parser)]
#[command(
    name = "wgnn",
    version,
    about = "Deep learning on any GPU with hand-written WGSL kernels"
)]
struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive); also WGNN_ADAPTER.
    #[arg(long, global = true, value_name = "SUBSTRING")]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Task {
    /// Image classification (VGG16-bn).
    Classify,
    /// Semantic segmentation of satellite tiles (FCN32s, FCN16s).
    Segment,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OptimizerKind {
    Sgd,
    Adam,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter, its limits, and the one wgnn would use.
    Info,
    /// Check every backward kernel against finite differences on the chosen adapter.
    Gradcheck {
        /// Run only these checks (default: all).
        #[arg(long = "only", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(gradcheck::CHECKS.iter().map(|c| c.name)))]
        only: Vec<String>,
    },
    /// Train a model; without --data, on built-in synthetic data.
    Train(TrainArgs),
    /// Print the accuracy (classify) or per-class IoU and mIoU (segment) of trained weights.
    Eval {
        task: Task,
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        /// Labelled data in the homework's layout (default: the built-in validation set).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Override the architecture read from the weight file's tensor names.
        #[arg(long)]
        model: Option<Architecture>,
        #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
        batch_size: u32,
    },
    /// Predict labels (a CSV) or masks (PNG files) for a folder of images.
    Predict {
        task: Task,
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// classify: the CSV file to write; segment: the folder for {id}_mask.png.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Also write the raw model outputs as the safetensors tensor `logits`.
        #[arg(long, value_name = "FILE")]
        logits: Option<PathBuf>,
        /// segment: also write {id}_overlay.png, the mask blended over the image with a legend.
        #[arg(long)]
        overlay: bool,
        #[arg(long)]
        model: Option<Architecture>,
        #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
        batch_size: u32,
    },
    /// Print a model's modules as PyTorch does, with output shapes and parameter counts.
    Summary {
        #[arg(long)]
        model: Architecture,
        /// Classes (default: 50 for vgg16bn, 7 for the FCNs).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
        classes: Option<u32>,
        /// Input height and width (default: 32 for vgg16bn, 512 for the FCNs).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
        size: Option<u32>,
    },
    /// Time the kernels and whole training and inference steps on the chosen adapter.
    Bench {
        /// Models to measure (repeatable; default: all three).
        #[arg(long)]
        model: Vec<Architecture>,
        /// Images per step (default: 32 for vgg16bn, 2 for the FCNs).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
        batch: Option<u32>,
        /// Image height and width (default: 32 for vgg16bn, 128 for the FCNs).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least(32))]
        size: Option<u32>,
        /// Steady steps timed (the median is reported).
        #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = at_least(1))]
        steps: u32,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Embed a classifier's features of labelled images in 2-D with t-SNE and draw them by class.
    Embed {
        /// VGG16-bn weights.
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        /// Labelled images in the homework's layout (default: the built-in validation set).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// The PNG file to write; the points go beside it as CSV (see --csv).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Where the image_id,label,x,y rows go (default: --out with the extension .csv).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// The activations embedded.
        #[arg(long, value_enum, default_value_t = FeatureLayer::Features)]
        layer: FeatureLayer,
        /// t-SNE's perplexity, about the number of neighbours each point keeps close (default: 30,
        /// or (images - 1) / 3 if that is less).
        #[arg(long, allow_negative_numbers = true, value_parser = perplexity)]
        perplexity: Option<f32>,
        /// Seed of t-SNE's starting positions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
        batch_size: u32,
    },
    /// Draw tiles, their ground truth and several segmentation models' predictions side by side.
    Compare {
        /// A segmentation model's weights (repeat for each model, in column order).
        #[arg(long = "weights", value_name = "FILE", required = true)]
        weights: Vec<PathBuf>,
        /// Labelled tiles in the homework's layout (default: the built-in validation set).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Tile ids, comma-separated (default: the first three).
        #[arg(long, value_name = "IDS", value_delimiter = ',')]
        ids: Vec<String>,
        /// The PNG file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
        batch_size: u32,
    },
    /// Draw a run's metrics.csv as training curves (what `wgnn train` keeps as DIR/curves.png).
    Plot {
        /// The metrics.csv of a run.
        #[arg(value_name = "METRICS_CSV")]
        metrics: PathBuf,
        /// The PNG file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the built-in synthetic data as folders in the homework's layout.
    Synth {
        task: Task,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Number of images (default: as many as the built-in training set).
        #[arg(long)]
        count: Option<usize>,
        /// Classes of the classification set (default: 10).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
        classes: Option<u32>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
struct TrainArgs {
    task: Task,
    /// Architecture (default: vgg16bn to classify, fcn32s to segment).
    #[arg(long)]
    model: Option<Architecture>,
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
    #[arg(long, allow_negative_numbers = true, value_parser = learning_rate)]
    lr: Option<f32>,
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true, value_parser = momentum)]
    momentum: f32,
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true, value_parser = weight_decay)]
    weight_decay: f32,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    #[arg(long, value_enum, default_value_t = Augment::None)]
    augment: Augment,
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
    #[arg(long, value_enum, default_value_t = UpsamplingInit::Default)]
    upsampling_init: UpsamplingInit,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// After each epoch, recompute BN running statistics over this many training images (Precise
    /// BN); 0 keeps PyTorch's momentum averages.
    #[arg(long, default_value_t = 500, value_name = "IMAGES", allow_negative_numbers = true, value_parser = at_least(0))]
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

/// `wgnn info | head` closes stdout early; like other command-line tools, wgnn then ends silently
/// instead of panicking in `println!` (Rust ignores SIGPIPE by default).
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` only reorders devices, which wgnn does
/// itself (`--adapter`), and without `XDG_RUNTIME_DIR` (servers, CI) it prints two wayland errors
/// before every command. It is switched off unless the user configured it.
fn quiet_mesa_device_select() {
    const MESA_VARS: [&str; 2] = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT"];
    if MESA_VARS.iter().all(|v| std::env::var_os(v).is_none()) {
        // SAFETY: called first thing in `main`, before any thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn main() -> ExitCode {
    quiet_mesa_device_select();
    die_quietly_on_closed_pipe();
    let cli = Cli::try_parse().unwrap_or_else(|e| exit_on_bad_command_line(e));
    let adapter = cli.adapter.as_deref();
    let result = match cli.command {
        Command::Info => info(adapter),
        Command::Gradcheck { only } => run_gradcheck(adapter, &only),
        Command::Train(args) => run_train(adapter, args),
        Command::Eval {
            task,
            weights,
            data,
            model,
            batch_size,
        } => run_eval(
            adapter,
            task,
            &weights,
            data.as_deref(),
            model,
            batch_size as usize,
        ),
        Command::Predict {
            task,
            weights,
            images,
            out,
            logits,
            overlay,
            model,
            batch_size,
        } => run_predict(
            adapter,
            task,
            &weights,
            &images,
            &out,
            logits.as_deref(),
            overlay,
            model,
            batch_size as usize,
        ),
        Command::Summary {
            model,
            classes,
            size,
        } => summary(adapter, model, classes, size),
        Command::Bench {
            model,
            batch,
            size,
            steps,
            json,
        } => run_bench(adapter, &model, batch, size, steps as usize, json),
        Command::Compare {
            weights,
            data,
            ids,
            out,
            batch_size,
        } => run_compare(
            adapter,
            &weights,
            data.as_deref(),
            &ids,
            &out,
            batch_size as usize,
        ),
        Command::Embed {
            weights,
            data,
            out,
            csv,
            layer,
            perplexity,
            seed,
            batch_size,
        } => run_embed(
            adapter,
            &weights,
            data.as_deref(),
            &out,
            csv.as_deref(),
            layer,
            perplexity,
            seed,
            batch_size as usize,
        ),
        Command::Plot { metrics, out } => plot(&metrics, &out),
        Command::Synth {
            task,
            out,
            count,
            classes,
            seed,
        } => synth(task, &out, count, classes, seed),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line, even when the message quotes a library's (an image decoder's, wgpu's)
            // that spans several.
            let message = e.to_string();
            let lines: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", lines.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn open_gpu(adapter: Option<&str>) -> Result<Gpu> {
    Gpu::new(&GpuOptions {
        adapter: adapter.map(str::to_owned),
        ..GpuOptions::default()
    })
}

fn info(wanted: Option<&str>) -> Result<ExitCode> {
    let adapters = gpu::ranked_adapters(wgpu::Backends::all());
    if adapters.is_empty() {
        println!("no adapters with compute shaders");
    }
    for (i, adapter) in adapters.iter().enumerate() {
        let a = adapter.get_info();
        let l = adapter.limits();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        println!("[{i}] {}", a.name);
        println!(
            "    backend {:?}, type {:?}, driver {} {}",
            a.backend, a.device_type, a.driver, a.driver_info
        );
        println!(
            "    max buffer size                  {} bytes",
            l.max_buffer_size
        );
        println!(
            "    max storage binding size         {} bytes",
            l.max_storage_buffer_binding_size
        );
        println!(
            "    storage binding offset alignment {} bytes",
            l.min_storage_buffer_offset_alignment
        );
        println!(
            "    max workgroups per dimension     {}",
            l.max_compute_workgroups_per_dimension
        );
        println!(
            "    max invocations per workgroup    {}",
            l.max_compute_invocations_per_workgroup
        );
        println!(
            "    workgroup memory                 {} bytes",
            l.max_compute_workgroup_storage_size
        );
        println!(
            "    storage buffers per stage        {}",
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "    subgroup sizes                   {}..{}",
            a.subgroup_min_size, a.subgroup_max_size
        );
        println!(
            "    timestamp queries                {}",
            if timestamps { "yes" } else { "no" }
        );
        println!(
            "    wgnn workgroup size              {} (override: {})",
            gpu::Tuning::for_device(&a, &l).workgroup_size,
            gpu::WORKGROUP_SIZE_ENV
        );
    }
    let chosen = gpu::choose_adapter(wanted)?;
    println!("wgnn uses: {}", gpu::describe(&chosen.get_info()));
    Ok(ExitCode::SUCCESS)
}

fn run_gradcheck(wanted: Option<&str>, only: &[String]) -> Result<ExitCode> {
    let gpu = open_gpu(wanted)?;
    println!("gradcheck on {}", gpu::describe(gpu.adapter_info()));
    let names: Vec<&str> = if only.is_empty() {
        gradcheck::CHECKS.iter().map(|c| c.name).collect()
    } else {
        only.iter().map(String::as_str).collect()
    };
    let mut failed = 0;
    for name in names {
        let r = gradcheck::run(&gpu, name)?;
        let verdict = if r.passed() { "pass" } else { "FAIL" };
        println!(
            "{:<26} max rel err {:>9.2e}  (tolerance {:.0e})  {verdict}",
            r.name, r.max_rel_err, r.tolerance
        );
        failed += usize::from(!r.passed());
    }
    if failed > 0 {
        println!("{failed} check(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    println!("all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// A labelled dataset: the folder if given, else the built-in set.
fn labelled(task: Task, dir: Option<&Path>, validation: bool) -> Result<Arc<dyn Dataset>> {
    Ok(match (task, dir) {
        (Task::Classify, Some(d)) => Arc::new(ClassifyFolder::open(d)?),
        (Task::Segment, Some(d)) => Arc::new(SegmentFolder::open(d)?),
        (Task::Classify, None) => Arc::new(SyntheticClassify::builtin(validation)),
        (Task::Segment, None) => Arc::new(SyntheticSegment::builtin(validation)),
    })
}

fn check_task(task: Task, arch: Architecture) -> Result<()> {
    if arch.is_segmentation() != (task == Task::Segment) {
        return Err(Error::Shape(format!(
            "{} is a {} model; use `{}`",
            arch.name(),
            if arch.is_segmentation() {
                "segmentation"
            } else {
                "classification"
            },
            if arch.is_segmentation() {
                "segment"
            } else {
                "classify"
            }
        )));
    }
    Ok(())
}

fn run_train(adapter: Option<&str>, a: TrainArgs) -> Result<ExitCode> {
    let out = match (&a.out, &a.resume) {
        (Some(out), Some(resume)) if out != resume => {
            return Err(Error::Shape(format!(
                "--resume {} continues the run in that folder; drop --out {} or make it the same",
                resume.display(),
                out.display()
            )));
        }
        (out, resume) => out
            .clone()
            .or_else(|| resume.clone())
            .ok_or_else(|| Error::Shape("wgnn train needs --out DIR (or --resume DIR)".into()))?,
    };
    let gpu = open_gpu(adapter)?;
    let train_data = labelled(a.task, a.data.as_deref(), false)?;
    let val = match (&a.val, &a.data) {
        (Some(v), _) => Some(labelled(a.task, Some(v), true)?),
        (None, None) => Some(labelled(a.task, None, true)?),
        (None, Some(_)) => None,
    };
    let from_init = a
        .init
        .as_deref()
        .map(|p| Checkpoint::open(p)?.architecture())
        .transpose()?;
    let arch = a
        .model
        .or(from_init.map(|(arch, _)| arch))
        .unwrap_or(match a.task {
            Task::Classify => Architecture::Vgg16bn,
            Task::Segment => Architecture::Fcn32s,
        });
    check_task(a.task, arch)?;
    let classes = a
        .classes
        .map(|c| c as usize)
        .or(from_init.map(|(_, c)| c))
        .unwrap_or_else(|| train_data.classes());
    if let (Some(wanted), Some(init), Some((_, init_classes))) = (a.classes, &a.init, from_init)
        && wanted as usize != init_classes
    {
        return Err(Error::Shape(format!(
            "--classes {wanted} does not match the {init_classes} classes of the --init weights {}",
            init.display()
        )));
    }
    if !a.snapshot.is_empty() {
        let Some(val) = val.as_ref().filter(|_| a.task == Task::Segment) else {
            return Err(Error::Shape(
                "--snapshot keeps masks of validation tiles: it needs `train segment` with validation data (--val DIR, or the built-in data)".into(),
            ));
        };
        Subset::by_ids(
            Arc::clone(val),
            &a.snapshot,
            &data_source(a.val.as_deref().or(a.data.as_deref())),
        )?;
    }
    check_data_fits(
        &wgnn::data::scan(train_data.as_ref())?,
        &data_source(a.data.as_deref()),
        arch,
        classes,
    )?;
    if let Some(val) = &val {
        check_data_fits(
            &wgnn::data::scan(val.as_ref())?,
            &data_source(a.val.as_deref().or(a.data.as_deref())),
            arch,
            classes,
        )?;
    }
    let lr = a.lr.unwrap_or(1e-4);
    let optimizer = match a.optimizer {
        OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig {
            lr,
            momentum: a.momentum,
            weight_decay: a.weight_decay,
        }),
        OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
            lr,
            weight_decay: a.weight_decay,
            ..AdamConfig::default()
        }),
    };
    let source = a
        .data
        .as_ref()
        .map_or("built-in synthetic data".to_owned(), |d| {
            d.display().to_string()
        });
    println!(
        "training {} ({classes} classes) on {source}: {} images, on {}",
        arch.name(),
        train_data.len(),
        gpu::describe(gpu.adapter_info())
    );
    let options = train::TrainOptions {
        arch,
        train: train_data,
        val,
        classes,
        epochs: a.epochs as usize,
        batch_size: a.batch_size.map_or(
            match a.task {
                Task::Classify => 16,
                Task::Segment => 4,
            },
            |b| b as usize,
        ),
        optimizer,
        augment: a.augment,
        init: a.init,
        backbone: a.backbone,
        upsampling_init: a.upsampling_init,
        seed: a.seed,
        precise_bn: a.precise_bn as usize,
        out: out.clone(),
        progress: std::io::stderr().is_terminal(),
        resume: a.resume.is_some(),
        checkpoint_every: a.checkpoint_every as usize,
        snapshot: a.snapshot,
        snapshot_every: a.snapshot_every as usize,
    };
    train::train(&gpu, &options)?;
    println!(
        "wrote {}, {}, {} and {}",
        out.join("last.safetensors").display(),
        out.join("best.safetensors").display(),
        out.join("metrics.csv").display(),
        out.join("curves.png").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A weight file and the labelled data it is to run on, checked against each other (every image
/// readable, sizes the model takes, labels within its classes) before any GPU work.
fn weights_and_data(
    task: Task,
    weight_file: &Path,
    model: Option<Architecture>,
    data: Option<&Path>,
) -> Result<(Weights, Arc<dyn Dataset>)> {
    let weights = Weights::open(task, weight_file, model)?;
    let dataset = labelled(task, data, true)?;
    check_data_fits(
        &wgnn::data::scan(dataset.as_ref())?,
        &data_source(data),
        weights.arch,
        weights.classes,
    )?;
    Ok((weights, dataset))
}

/// A weight file with the model it holds: architecture (from its tensor names unless overridden)
/// and classes. Read before the data is checked, and the model built only after that.
struct Weights {
    checkpoint: Checkpoint,
    arch: Architecture,
    classes: usize,
}

impl Weights {
    fn open(task: Task, path: &Path, model: Option<Architecture>) -> Result<Weights> {
        let checkpoint = Checkpoint::open(path)?;
        let (found, classes) = checkpoint.architecture()?;
        let arch = model.unwrap_or(found);
        check_task(task, arch)?;
        Ok(Weights {
            checkpoint,
            arch,
            classes,
        })
    }

    fn load(&self, gpu: &Gpu) -> Result<Model> {
        let mut m = Model::new(gpu, self.arch, self.classes, 0, UpsamplingInit::Default)?;
        self.checkpoint.load_into(gpu, &mut m)?;
        Ok(m)
    }
}

fn run_eval(
    adapter: Option<&str>,
    task: Task,
    weights: &Path,
    data: Option<&Path>,
    model: Option<Architecture>,
    batch_size: usize,
) -> Result<ExitCode> {
    let (weights, dataset) = weights_and_data(task, weights, model, data)?;
    let gpu = open_gpu(adapter)?;
    let mut m = weights.load(&gpu)?;
    let e = evaluate::evaluate(&gpu, &mut m, dataset, batch_size)?;
    match &e.iou {
        Some(iou) => {
            println!("class          IoU");
            for (i, (name, _)) in LAND_COVER.iter().enumerate().take(6) {
                println!("{i} {name:<12} {:.4}", iou.iou(i));
            }
            println!("mIoU           {:.4}", iou.mean_iou());
        }
        None => println!("accuracy {:.4}", e.accuracy.unwrap_or(f64::NAN)),
    }
    println!("loss     {:.4}", e.loss);
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn run_predict(
    adapter: Option<&str>,
    task: Task,
    weights: &Path,
    images: &Path,
    out: &Path,
    logits: Option<&Path>,
    overlay: bool,
    model: Option<Architecture>,
    batch_size: usize,
) -> Result<ExitCode> {
    if overlay && task == Task::Classify {
        return Err(Error::Shape(
            "--overlay draws masks over tiles; it is for `predict segment`".into(),
        ));
    }
    match task {
        Task::Classify => check_file_destination(out)?,
        Task::Segment => check_folder_destination(out)?,
    }
    if let Some(path) = logits {
        check_file_destination(path)?;
    }
    let weights = Weights::open(task, weights, model)?;
    let data = Arc::new(ImageFolder::open(images)?);
    check_data_fits(
        &wgnn::data::scan(data.as_ref())?,
        &images.display().to_string(),
        weights.arch,
        weights.classes,
    )?;
    let gpu = open_gpu(adapter)?;
    let mut m = weights.load(&gpu)?;
    let p = evaluate::predict(&gpu, &mut m, data.clone(), batch_size, logits.is_some())?;
    match task {
        Task::Classify => p.write_csv(out)?,
        Task::Segment => p.write_masks(out)?,
    }
    if overlay {
        p.write_overlays(data.as_ref(), out)?;
    }
    if let Some(path) = logits {
        p.write_logits(path)?;
    }
    println!("predicted {} images into {}", p.ids.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

fn summary(
    adapter: Option<&str>,
    arch: Architecture,
    classes: Option<u32>,
    size: Option<u32>,
) -> Result<ExitCode> {
    let gpu = open_gpu(adapter)?;
    let (default_classes, default_size) = if arch.is_segmentation() {
        (7, 512)
    } else {
        (50, 32)
    };
    let classes = classes.map_or(default_classes, |c| c as usize);
    let size = size.map_or(default_size, |s| s as usize);
    let m = Model::new(&gpu, arch, classes, 0, UpsamplingInit::Default)?;
    print!(
        "{}",
        nn::summary(&m.net.describe(), m.net.as_ref(), &[1, 3, size, size])?
    );
    Ok(ExitCode::SUCCESS)
}

fn run_bench(
    adapter: Option<&str>,
    models: &[Architecture],
    batch: Option<u32>,
    size: Option<u32>,
    steps: usize,
    json: bool,
) -> Result<ExitCode> {
    let gpu = open_gpu(adapter)?;
    let models = if models.is_empty() {
        vec![
            Architecture::Vgg16bn,
            Architecture::Fcn32s,
            Architecture::Fcn16s,
        ]
    } else {
        models.to_vec()
    };
    let ceilings = wgnn::bench::ceilings(&gpu)?;
    if !json {
        println!("wgnn bench on {}", gpu::describe(gpu.adapter_info()));
        println!(
            "device ceilings: compute {:.2} GFLOP/s (matmul 1024^3 {:.2}), buffer copy {:.2} GB/s",
            ceilings.compute_gflops, ceilings.matmul_gflops, ceilings.copy_gbps
        );
    }
    let mut reports = Vec::new();
    for arch in models {
        let (default_batch, default_size) = if arch.is_segmentation() {
            (2, 128)
        } else {
            (32, 32)
        };
        let batch = batch.map_or(default_batch, |b| b as usize);
        let size = size.map_or(default_size, |s| s as usize);
        let r = wgnn::bench::model_report(&gpu, arch, batch, size, steps)?;
        if !json {
            print_report(&r, &ceilings);
        }
        reports.push(r);
    }
    if json {
        let out = serde_json::json!({
            "adapter": gpu::describe(gpu.adapter_info()),
            "ceilings": ceilings,
            "models": reports,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("bench results serialise")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &wgnn::bench::ModelReport, ceilings: &wgnn::bench::Ceilings) {
    println!(
        "\n{} batch {} at {}x{}: train {:.2} images/s (step {:.2} s, first step {:.2} s), inference {:.2} images/s",
        r.model,
        r.batch,
        r.size,
        r.size,
        r.train_images_per_second,
        r.step_seconds,
        r.first_step_seconds,
        r.inference_images_per_second,
    );
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "  peak GPU memory {:.0} MiB; strictly needed: {:.0} MiB of activations saved for backward + {:.0} MiB of weights and optimiser state",
        mib(r.peak_pool_bytes),
        mib(r.saved_activation_bytes),
        mib(r.model_state_bytes)
    );
    println!(
        "  {:<40} {:>6} {:>10} {:>9} {:>7} {:>8} {:>6}",
        "kernel (one training step)", "calls", "total ms", "GFLOP/s", "of max", "GB/s", "share"
    );
    for k in &r.kernels {
        let (gflops, of_max) = match k.gflops {
            Some(g) => (
                format!("{g:.2}"),
                format!("{:.0}%", 100.0 * g / ceilings.compute_gflops),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "  {:<40} {:>6} {:>10.1} {:>9} {:>7} {:>8.2} {:>5.1}%",
            k.kernel,
            k.calls,
            k.milliseconds,
            gflops,
            of_max,
            k.gbps,
            100.0 * k.share
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn run_embed(
    adapter: Option<&str>,
    weight_file: &Path,
    data: Option<&Path>,
    out: &Path,
    csv: Option<&Path>,
    layer: FeatureLayer,
    perplexity: Option<f32>,
    seed: u64,
    batch_size: usize,
) -> Result<ExitCode> {
    let csv = csv.map_or_else(|| out.with_extension("csv"), Path::to_owned);
    check_file_destination(out)?;
    check_file_destination(&csv)?;
    let (weights, dataset) = weights_and_data(Task::Classify, weight_file, None, data)?;
    let perplexity = perplexity.unwrap_or(30f32.min(embed::max_perplexity(dataset.len())));
    // Before the GPU runs: an error after minutes of feature extraction would waste them.
    embed::check_perplexity(dataset.len(), perplexity)?;
    let gpu = open_gpu(adapter)?;
    let features = embed::extract_features(
        &gpu,
        &weights.checkpoint,
        weights.classes,
        layer,
        dataset,
        batch_size,
    )?;
    let points = embed::tsne(&features.values, features.dim, perplexity, seed)?;
    let classes = features.labels.iter().max().map_or(0, |&l| l + 1);
    let names: Vec<String> = (0..classes).map(|c| format!("class {c}")).collect();
    let title = format!(
        "t-SNE of {} ({} values) of {} images, perplexity {perplexity}",
        match layer {
            FeatureLayer::Features => "features",
            FeatureLayer::ClassifierInput => "the classifier input",
        },
        features.dim,
        features.ids.len()
    );
    let picture = wgnn::draw::scatter_plot(&points, &features.labels, &names, &title);
    wgnn::draw::save_png(&picture, out)?;
    let rows = embed::embedding_csv(&features.ids, &features.labels, &points);
    wgnn::checkpoint::write_atomically(&csv, rows.as_bytes())?;
    println!("wrote {} and {}", out.display(), csv.display());
    Ok(ExitCode::SUCCESS)
}

fn run_compare(
    adapter: Option<&str>,
    weight_files: &[PathBuf],
    data: Option<&Path>,
    ids: &[String],
    out: &Path,
    batch_size: usize,
) -> Result<ExitCode> {
    check_file_destination(out)?;
    let weights = weight_files
        .iter()
        .map(|path| Weights::open(Task::Segment, path, None))
        .collect::<Result<Vec<_>>>()?;
    let dataset = labelled(Task::Segment, data, true)?;
    let ids = if ids.is_empty() {
        (0..dataset.len().min(3)).map(|i| dataset.id(i)).collect()
    } else {
        ids.to_vec()
    };
    let tiles: Arc<dyn Dataset> = Arc::new(Subset::by_ids(dataset, &ids, &data_source(data))?);
    let scan = wgnn::data::scan(tiles.as_ref())?;
    for w in &weights {
        check_data_fits(&scan, &data_source(data), w.arch, w.classes)?;
    }
    let gpu = open_gpu(adapter)?;
    let mut contenders = weights
        .iter()
        .zip(weight_files)
        .map(|(w, path)| {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            Ok(Contender {
                name: format!("{} / {stem}", w.arch.name()),
                model: w.load(&gpu)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (picture, scores) = compare(&gpu, &mut contenders, tiles, batch_size)?;
    wgnn::draw::save_png(&picture, out)?;
    for (c, score) in contenders.iter().zip(scores) {
        println!("{:<30} mIoU {score:.4} on tiles {}", c.name, ids.join(","));
    }
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn plot(metrics: &Path, out: &Path) -> Result<ExitCode> {
    check_file_destination(out)?;
    let records = wgnn::draw::read_metrics_csv(metrics)?;
    // metrics.csv does not say what its metric is; the run's checkpoint beside it does.
    let arch = ["last.safetensors", "best.safetensors"]
        .iter()
        .find_map(|name| architecture_in_header(&metrics.with_file_name(name)));
    let curves = wgnn::draw::training_curves(&records, wgnn::draw::metric_name(arch));
    wgnn::draw::save_png(&curves, out)?;
    println!("wrote {} ({} epochs)", out.display(), records.len());
    Ok(ExitCode::SUCCESS)
}

fn synth(
    task: Task,
    out: &Path,
    count: Option<usize>,
    classes: Option<u32>,
    seed: u64,
) -> Result<ExitCode> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::File(format!("cannot create {}: {e}", out.display())))?;
    match task {
        Task::Classify => {
            let mut s = SyntheticClassify::builtin(false);
            s.count = count.unwrap_or(s.count);
            s.classes = classes.map_or(s.classes, |c| c as usize);
            s.seed = seed;
            s.write_folder(out)?;
        }
        Task::Segment => {
            let mut s = SyntheticSegment::builtin(false);
            s.count = count.unwrap_or(s.count);
            s.seed = seed;
            s.write_folder(out)?;
        }
    }
    println!(
        "wrote synthetic {} data to {}",
        if task == Task::Classify {
            "classification"
        } else {
            "segmentation"
        },
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// clap's report of a bad command line, except that a flag's bad value is one line like every other
/// wgnn error: it names the flag, the value and what is expected, and clap's "try --help" adds
/// nothing. Help, version and the other usage errors keep clap's output and exit codes.
fn exit_on_bad_command_line(e: clap::Error) -> ! {
    if e.kind() == clap::error::ErrorKind::ValueValidation {
        eprintln!("{}", e.to_string().lines().next().unwrap_or_default());
        std::process::exit(e.exit_code());
    }
    e.exit()
}

/// A clap value parser for whole numbers of at least `min` (batch sizes, epochs, classes...).
fn at_least(
    min: u32,
) -> impl Fn(&str) -> std::result::Result<u32, String> + Clone + Send + Sync + 'static {
    move |s| match s.parse::<u32>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(format!("expected a whole number of at least {min}")),
    }
}

fn float_flag(s: &str, ok: fn(f32) -> bool, expected: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(format!("expected {expected}")),
    }
}

/// --lr: a step of 0 trains nothing, and a negative, NaN or infinite one wrecks the weights.
fn learning_rate(s: &str) -> std::result::Result<f32, String> {
    float_flag(s, |v| v > 0.0 && v.is_finite(), "a finite number above 0")
}

/// The architecture of a safetensors file, from its header alone: an FCN's checkpoint is half a
/// gigabyte, too much to read for a name. None if the file is not a readable checkpoint.
fn architecture_in_header(path: &Path) -> Option<Architecture> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).ok()?;
    let mut header = Vec::new();
    file.take(u64::from_le_bytes(length))
        .read_to_end(&mut header)
        .ok()?;
    let tensors: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).ok()?;
    Architecture::from_tensor_names(tensors.keys().map(String::as_str))
}

/// --perplexity: t-SNE's effective number of neighbours, a positive finite number.
fn perplexity(s: &str) -> std::result::Result<f32, String> {
    float_flag(s, |v| v > 0.0 && v.is_finite(), "a finite number above 0")
}

/// --momentum: SGD's running velocity must decay, so it lies in [0, 1).
fn momentum(s: &str) -> std::result::Result<f32, String> {
    float_flag(
        s,
        |v| (0.0..1.0).contains(&v),
        "a number from 0 up to (not including) 1",
    )
}

/// --weight-decay: a negative decay would push the weights away from zero.
fn weight_decay(s: &str) -> std::result::Result<f32, String> {
    float_flag(
        s,
        |v| v >= 0.0 && v.is_finite(),
        "a finite number of at least 0",
    )
}

/// Fails unless `dir` is a folder or can be created as one (the nearest part of the path that
/// exists must be a folder). Checked before any work, so a mistyped --out is reported at once
/// rather than after all the inference; permissions are left to the write itself.
fn check_folder_destination(dir: &Path) -> Result<()> {
    match dir.ancestors().find(|a| a.exists()) {
        Some(existing) if !existing.is_dir() => Err(Error::File(format!(
            "cannot create {}: {} is not a folder",
            dir.display(),
            existing.display()
        ))),
        _ => Ok(()),
    }
}

/// Fails unless `file` can be written: it is not a folder, and its folder exists (nothing creates
/// it). Checked before any work, like `check_folder_destination`.
fn check_file_destination(file: &Path) -> Result<()> {
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if file.is_dir() {
        return Err(Error::File(format!(
            "cannot write {}: it is a folder",
            file.display()
        )));
    }
    if !folder.is_dir() {
        return Err(Error::File(format!(
            "cannot write {}: {} is not an existing folder",
            file.display(),
            folder.display()
        )));
    }
    Ok(())
}

/// How errors name a labelled dataset.
fn data_source(dir: Option<&Path>) -> String {
    dir.map_or("the built-in synthetic data".to_owned(), |d| {
        d.display().to_string()
    })
}

/// Checks scanned data against a model before it runs: every label within its classes, and for the
/// FCNs heights and widths that are multiples of 32 (five 2x2 poolings, then a 32x upsampling back).
fn check_data_fits(scan: &Scan, source: &str, arch: Architecture, classes: usize) -> Result<()> {
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
