//! `wgnn gradcheck`: every backward kernel against central finite differences on this GPU.

use std::process::ExitCode;

use wgnn::{Result, gpu, gradcheck};

#[derive(clap::Args)]
pub struct Args {
    /// Run only these checks (default: all).
    #[arg(long = "only", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(gradcheck::CHECKS.iter().map(|c| c.name)))]
    only: Vec<String>,
}

pub fn run(adapter: Option<&str>, a: Args) -> Result<ExitCode> {
    let gpu = super::common::open_gpu(adapter)?;
    println!("gradcheck on {}", gpu::describe(gpu.adapter_info()));
    let names: Vec<&str> = if a.only.is_empty() {
        gradcheck::CHECKS.iter().map(|c| c.name).collect()
    } else {
        a.only.iter().map(String::as_str).collect()
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
