//! `wgnn eval`: accuracy, or per-class IoU and mIoU, of a weight file on labelled data.

use std::path::PathBuf;
use std::process::ExitCode;

use wgnn::Result;
use wgnn::data::LAND_COVER;
use wgnn::evaluate;

use super::common::{Model, Trained, at_least};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    trained: Trained,
    /// Labelled data in the homework's layout (default: the built-in validation set).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Override the architecture read from the weight file's tensor names.
    #[arg(long)]
    model: Option<Model>,
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
    batch_size: u32,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let (weights, dataset) = super::common::weights_and_data(
        a.trained.task,
        &a.trained.weights,
        a.model,
        a.data.as_deref(),
    )?;
    let gpu = super::common::open_gpu(adapter)?;
    let mut m = weights.load(&gpu)?;
    let e = evaluate::evaluate(&gpu, &mut m, dataset, a.batch_size as usize)?;
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
