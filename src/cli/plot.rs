//! `wgnn plot`: a run's metrics.csv drawn as the training curves `wgnn train` keeps.

use std::path::PathBuf;
use std::process::ExitCode;

use wgnn::Result;
use wgnn::checkpoint::architecture_in_header;
use wgnn::fsutil::check_file_destination;
use wgnn::train::{read_metrics_csv, training_curves};

#[derive(clap::Args)]
pub struct Args {
    /// The metrics.csv of a run.
    #[arg(value_name = "METRICS_CSV")]
    metrics: PathBuf,
    /// The PNG file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<ExitCode> {
    check_file_destination(&a.out)?;
    let records = read_metrics_csv(&a.metrics)?;
    // metrics.csv does not say what its metric is; the run's checkpoint beside it does.
    let metric = ["last.safetensors", "best.safetensors"]
        .iter()
        .find_map(|name| architecture_in_header(&a.metrics.with_file_name(name)))
        .map_or("metric", |arch| arch.metric_name());
    wgnn::draw::save_png(&training_curves(&records, metric), &a.out)?;
    println!("wrote {} ({} epochs)", a.out.display(), records.len());
    Ok(ExitCode::SUCCESS)
}
