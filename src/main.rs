//! The `wgnn` command line: a thin layer over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgnn::gpu::{self, Gpu, GpuOptions};
use wgnn::gradcheck;

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

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter, its limits, and the one wgnn would use.
    Info,
    /// Check every backward kernel against finite differences on the chosen adapter.
    Gradcheck {
        /// Run only these checks (default: all).
        #[arg(long = "only", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(gradcheck::CHECKS))]
        only: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info => info(cli.adapter.as_deref()),
        Command::Gradcheck { only } => run_gradcheck(cli.adapter.as_deref(), only),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn info(wanted: Option<&str>) -> wgnn::Result<ExitCode> {
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
    }
    let chosen = gpu::choose_adapter(wanted)?;
    println!("wgnn uses: {}", gpu::describe(&chosen.get_info()));
    Ok(ExitCode::SUCCESS)
}

fn run_gradcheck(wanted: Option<&str>, only: &[String]) -> wgnn::Result<ExitCode> {
    let gpu = Gpu::new(&GpuOptions {
        adapter: wanted.map(str::to_owned),
        ..GpuOptions::default()
    })?;
    println!("gradcheck on {}", gpu::describe(gpu.adapter_info()));
    let names: Vec<&str> = if only.is_empty() {
        gradcheck::CHECKS.to_vec()
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
