//! `wgnn convert`: a PyTorch checkpoint (`.pth`, `.pt`) to safetensors, or safetensors to a
//! `.pth` that `torch.load(path, weights_only=True)` opens; the output's extension chooses.

use std::path::PathBuf;
use std::process::ExitCode;

use wgnn::Result;

#[derive(clap::Args)]
pub struct Args {
    /// The weights to read: a .pth/.pt file (either torch.save format) or safetensors.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The file to write, which must not exist: .safetensors, or .pth/.pt (a torch.save zip archive).
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<ExitCode> {
    wgnn::checkpoint::convert(&a.input, &a.output)?;
    println!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
