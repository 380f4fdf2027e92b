//! `wgnn synth`: the built-in synthetic data written as folders in the homework's layout.

use std::path::PathBuf;
use std::process::ExitCode;

use wgnn::data::{SyntheticClassify, SyntheticSegment};
use wgnn::{Error, Result};

use super::common::{Task, at_least};

#[derive(clap::Args)]
pub struct Args {
    task: Task,
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of images (default: as many as the built-in training set).
    #[arg(long)]
    count: Option<usize>,
    /// Classes of the classification set (default: 10).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    classes: Option<u32>,
    /// Side of the segmentation tiles in pixels, a multiple of 32 (default: 64; the homework's
    /// are 512). Classification images are always 32x32.
    #[arg(long, allow_negative_numbers = true, value_parser = multiple_of_32)]
    size: Option<u32>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn multiple_of_32(s: &str) -> std::result::Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v > 0 && v % 32 == 0 => Ok(v),
        _ => Err("expected a positive multiple of 32".into()),
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    wgnn::fsutil::create_folder(&a.out)?;
    let kind = match a.task {
        Task::Classify => {
            if a.size.is_some_and(|size| size != 32) {
                return Err(Error::Shape(
                    "--size: classification images are 32x32; only segmentation tiles take a size"
                        .into(),
                ));
            }
            let mut s = SyntheticClassify::builtin(false);
            s.count = a.count.unwrap_or(s.count);
            s.classes = a.classes.map_or(s.classes, |c| c as usize);
            s.seed = a.seed;
            s.write_folder(&a.out)?;
            "classification"
        }
        Task::Segment => {
            let mut s = SyntheticSegment::builtin(false);
            s.count = a.count.unwrap_or(s.count);
            s.size = a.size.unwrap_or(s.size);
            s.seed = a.seed;
            s.write_folder(&a.out)?;
            "segmentation"
        }
    };
    println!("wrote synthetic {kind} data to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
