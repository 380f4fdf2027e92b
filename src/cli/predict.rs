//! `wgnn predict`: labels (a CSV) or masks (PNG files) for a folder of images, optionally with
//! the raw logits and mask overlays.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use wgnn::data::ImageFolder;
use wgnn::fsutil::{check_file_destination, check_folder_destination};
use wgnn::{Error, Result, evaluate};

use super::common::{Model, Task, Trained, at_least};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    trained: Trained,
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
    model: Option<Model>,
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
    batch_size: u32,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    if a.overlay && a.trained.task == Task::Classify {
        return Err(Error::Shape(
            "--overlay draws masks over tiles; it is for `predict segment`".into(),
        ));
    }
    match a.trained.task {
        Task::Classify => check_file_destination(&a.out)?,
        Task::Segment => check_folder_destination(&a.out)?,
    }
    if let Some(path) = &a.logits {
        check_file_destination(path)?;
    }
    let weights = super::common::open_weights(a.trained.task, &a.trained.weights, a.model)?;
    let data = Arc::new(ImageFolder::open(&a.images)?);
    super::common::check_data_fits(
        &wgnn::data::scan(data.as_ref())?,
        &a.images.display().to_string(),
        weights.arch,
        weights.classes,
    )?;
    let gpu = super::common::open_gpu(adapter)?;
    let mut m = weights.load(&gpu)?;
    let p = evaluate::predict(
        &gpu,
        &mut m,
        data.clone(),
        a.batch_size as usize,
        a.logits.is_some(),
    )?;
    match a.trained.task {
        Task::Classify => p.write_csv(&a.out)?,
        Task::Segment => p.write_masks(&a.out)?,
    }
    if a.overlay {
        p.write_overlays(data.as_ref(), &a.out)?;
    }
    if let Some(path) = &a.logits {
        p.write_logits(path)?;
    }
    println!("predicted {} images into {}", p.ids.len(), a.out.display());
    Ok(ExitCode::SUCCESS)
}
