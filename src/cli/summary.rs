//! `wgnn summary`: a model's modules as PyTorch prints them, with output shapes and parameter
//! counts.

use std::process::ExitCode;

use wgnn::models::Architecture;
use wgnn::{Result, nn};

use super::common::{Model, at_least};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    model: Model,
    /// Classes (default: 50 for vgg16bn, 7 for the FCNs).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    classes: Option<u32>,
    /// Input height and width (default: 32 for vgg16bn, 512 for the FCNs).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    size: Option<u32>,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let gpu = super::common::open_gpu(adapter)?;
    let arch = Architecture::from(a.model);
    let classes = a.classes.map_or(arch.homework_classes(), |c| c as usize);
    let size = a.size.map_or(arch.homework_size(), |s| s as usize);
    // Shapes only: the summary reads no values.
    let m = wgnn::models::Model::unwritten(&gpu, arch, classes)?;
    print!(
        "{}",
        nn::summary(&m.net.describe(), m.net.as_ref(), &[1, 3, size, size])?
    );
    Ok(ExitCode::SUCCESS)
}
