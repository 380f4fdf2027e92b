//! `wgnn embed`: a classifier's features of labelled images in 2-D by t-SNE, drawn by class and
//! written as CSV.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use wgnn::Result;
use wgnn::fsutil::check_file_destination;
use wgnn::pictures::embed::{self, FeatureLayer};

use super::common::{Task, at_least, positive};

/// `--layer`: `pictures::embed::FeatureLayer`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Layer {
    /// The output of `features` (pool5: 512 x H/32 x W/32).
    Features,
    /// The input of `classifier`: pool5 after AdaptiveAvgPool2d((7, 7)), 25088 values.
    ClassifierInput,
}

#[derive(clap::Args)]
pub struct Args {
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
    #[arg(long, value_enum, default_value_t = Layer::Features)]
    layer: Layer,
    /// t-SNE's perplexity, about the number of neighbours each point keeps close (default: 30,
    /// or (images - 1) / 3 if that is less).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    perplexity: Option<f32>,
    /// Seed of t-SNE's starting positions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = at_least(1))]
    batch_size: u32,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let csv = a.csv.clone().unwrap_or_else(|| a.out.with_extension("csv"));
    check_file_destination(&a.out)?;
    check_file_destination(&csv)?;
    let (weights, dataset) =
        super::common::weights_and_data(Task::Classify, &a.weights, None, a.data.as_deref())?;
    let perplexity = a
        .perplexity
        .unwrap_or(30f32.min(embed::max_perplexity(dataset.len())));
    // Before the GPU runs: an error after minutes of feature extraction would waste them.
    embed::check_perplexity(dataset.len(), perplexity)?;
    let gpu = super::common::open_gpu(adapter)?;
    let layer = match a.layer {
        Layer::Features => FeatureLayer::Features,
        Layer::ClassifierInput => FeatureLayer::ClassifierInput,
    };
    let features = embed::extract_features(
        &gpu,
        &weights.checkpoint,
        weights.classes,
        layer,
        dataset,
        a.batch_size as usize,
    )?;
    let points = embed::tsne(&features.values, features.dim, perplexity, a.seed)?;
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
    wgnn::draw::save_png(&picture, &a.out)?;
    let rows = embed::embedding_csv(&features.ids, &features.labels, &points);
    wgnn::fsutil::write_atomically(&csv, rows.as_bytes())?;
    println!("wrote {} and {}", a.out.display(), csv.display());
    Ok(ExitCode::SUCCESS)
}
