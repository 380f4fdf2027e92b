//! `wgnn compare`: tiles, their ground truth and several segmentation models' masks side by side,
//! with each model's mIoU on those tiles.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use wgnn::Result;
use wgnn::data::{Dataset, Subset};
use wgnn::fsutil::check_file_destination;
use wgnn::pictures::compare::{Contender, compare};

use super::common::{Task, at_least, check_data_fits, data_source, labelled};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    check_file_destination(&a.out)?;
    let weights = a
        .weights
        .iter()
        .map(|path| super::common::open_weights(Task::Segment, path, None))
        .collect::<Result<Vec<_>>>()?;
    let data = a.data.as_deref();
    let dataset = labelled(Task::Segment, data, true)?;
    let ids = if a.ids.is_empty() {
        (0..dataset.len().min(3)).map(|i| dataset.id(i)).collect()
    } else {
        a.ids.clone()
    };
    let tiles: Arc<dyn Dataset> = Arc::new(Subset::by_ids(dataset, &ids, &data_source(data))?);
    let scan = wgnn::data::scan(tiles.as_ref())?;
    for w in &weights {
        check_data_fits(&scan, &data_source(data), w.arch, w.classes)?;
    }
    let gpu = super::common::open_gpu(adapter)?;
    let mut contenders = weights
        .iter()
        .zip(&a.weights)
        .map(|(w, path)| {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            Ok(Contender {
                name: format!("{} / {stem}", w.arch.name()),
                model: w.load(&gpu)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (picture, scores) = compare(&gpu, &mut contenders, tiles, a.batch_size as usize)?;
    wgnn::draw::save_png(&picture, &a.out)?;
    for (c, score) in contenders.iter().zip(scores) {
        println!("{:<30} mIoU {score:.4} on tiles {}", c.name, ids.join(","));
    }
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
