//! `wgnn bench`: the device's ceilings, then each model's training and inference speed, memory and
//! per-kernel table (`wgnn::bench` measures and prints).

use std::process::ExitCode;

use wgnn::models::Architecture;
use wgnn::ops::optim::{AdamConfig, SgdConfig};
use wgnn::optimizer::OptimizerConfig;
use wgnn::{Result, bench, gpu};

use super::common::{Model, OptimizerKind, at_least};

#[derive(clap::Args)]
pub struct Args {
    /// Models to measure (repeatable; default: all four).
    #[arg(long)]
    model: Vec<Model>,
    /// Images per step (default: 32 for vgg16bn, 2 for the FCNs).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(1))]
    batch: Option<u32>,
    /// Image height and width (default: 32 for vgg16bn, 128 for the FCNs).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least(32))]
    size: Option<u32>,
    /// Steady steps timed (the median is reported).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true, value_parser = at_least(1))]
    steps: u32,
    /// The training steps' update: SGD with momentum 0.9 (the homework's), or Adam (`wgnn
    /// train`'s default); both at a learning rate of 1e-4 with weight decay 5e-4.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let gpu = super::common::open_gpu(adapter)?;
    let models: Vec<Architecture> = if a.model.is_empty() {
        Architecture::ALL.to_vec()
    } else {
        a.model.iter().map(|&m| m.into()).collect()
    };
    let adapter = gpu::describe(gpu.adapter_info());
    let ceilings = bench::ceilings(&gpu)?;
    if !a.json {
        bench::print_ceilings(&adapter, &gpu.tuning(), &ceilings);
    }
    let mut reports = Vec::new();
    for arch in models {
        let (default_batch, default_size) = bench::default_shape(arch);
        let batch = a.batch.map_or(default_batch, |b| b as usize);
        let size = a.size.map_or(default_size, |s| s as usize);
        let optimizer = match a.optimizer {
            OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig::default()),
            OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig::default()),
        };
        let r = bench::model_report(&gpu, arch, [batch, size], a.steps as usize, optimizer)?;
        if !a.json {
            // A blank line between the models' reports.
            println!("\n{}", bench::report_text(&r, &ceilings));
        }
        reports.push(r);
    }
    if a.json {
        println!(
            "{}",
            bench::json(&adapter, &gpu.tuning(), &ceilings, &reports)
        );
    }
    Ok(ExitCode::SUCCESS)
}
