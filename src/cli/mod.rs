//! The `wgnn` command line: one file per subcommand, each with its clap arguments and `run`, over
//! the library; what several share is in `common`. Here: the command tree and its dispatch.

mod bench;
mod common;
mod compare;
mod convert;
mod embed;
mod eval;
mod gradcheck;
mod info;
mod plot;
mod predict;
mod summary;
mod synth;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgnn::Result;

pub use common::exit_on_bad_command_line;

#[derive(Parser)]
#[command(
    name = "wgnn",
    version,
    about = "Deep learning on any GPU with hand-written WGSL kernels"
)]
pub struct Cli {
    /// Use the adapter whose name contains this text (case-insensitive); also WGNN_ADAPTER.
    #[arg(long, global = true, value_name = "SUBSTRING")]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter, its limits, and the one wgnn would use.
    Info,
    /// Check every backward kernel against finite differences on the chosen adapter.
    Gradcheck(gradcheck::Args),
    /// Train a model; without --data, on built-in synthetic data.
    Train(train::Args),
    /// Print the accuracy (classify) or per-class IoU and mIoU (segment) of trained weights.
    Eval(eval::Args),
    /// Predict labels (a CSV) or masks (PNG files) for a folder of images.
    Predict(predict::Args),
    /// Print a model's modules as PyTorch does, with output shapes and parameter counts.
    Summary(summary::Args),
    /// Time the kernels and whole training and inference steps on the chosen adapter.
    Bench(bench::Args),
    /// Embed a classifier's features of labelled images in 2-D with t-SNE and draw them by class.
    Embed(embed::Args),
    /// Draw tiles, their ground truth and several segmentation models' predictions side by side.
    Compare(compare::Args),
    /// Draw a run's metrics.csv as training curves (what `wgnn train` keeps as DIR/curves.png).
    Plot(plot::Args),
    /// Convert weights between PyTorch's .pth/.pt and safetensors (OUT's extension chooses).
    Convert(convert::Args),
    /// Write the built-in synthetic data as folders in the homework's layout.
    Synth(synth::Args),
}

impl Cli {
    /// Runs the subcommand; its exit code, or the error to print.
    pub fn run(self) -> Result<ExitCode> {
        let adapter = self.adapter.as_deref();
        match self.command {
            Command::Info => info::run(adapter),
            Command::Gradcheck(a) => gradcheck::run(adapter, a),
            Command::Train(a) => train::run(adapter, a),
            Command::Eval(a) => eval::run(adapter, a),
            Command::Predict(a) => predict::run(adapter, a),
            Command::Summary(a) => summary::run(adapter, a),
            Command::Bench(a) => bench::run(adapter, a),
            Command::Embed(a) => embed::run(adapter, a),
            Command::Compare(a) => compare::run(adapter, a),
            Command::Plot(a) => plot::run(a),
            Command::Synth(a) => synth::run(a),
            Command::Convert(a) => convert::run(a),
        }
    }
}
