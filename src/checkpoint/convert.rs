//! `wgnn convert`: a PyTorch checkpoint to safetensors, or safetensors to a PyTorch zip archive,
//! chosen by the output's extension.

use std::path::Path;

use safetensors::SafeTensors;

use super::pth;
use crate::error::{Error, Result};

/// Converts `input` (a `.pth`/`.pt` file in either torch.save format, or safetensors) into `output`:
/// safetensors if it ends in `.safetensors`, a torch.save zip archive if it ends in `.pth` or `.pt`.
/// Floating-point tensors of a PyTorch checkpoint become f32 and integer ones i64, as when they
/// are loaded; a safetensors file's tensors keep their types. Never overwrites `output`.
pub fn convert(input: &Path, output: &Path) -> Result<()> {
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let to_pth = match ext.as_deref() {
        Some("pth" | "pt") => true,
        Some("safetensors") => false,
        _ => {
            return Err(Error::File(format!(
                "cannot tell what to write to {}: name it .safetensors or .pth (or .pt)",
                output.display()
            )));
        }
    };
    if output.exists() {
        return Err(Error::File(format!(
            "{} exists already; wgnn convert does not overwrite files",
            output.display()
        )));
    }
    crate::fsutil::check_file_destination(output)?;
    let bytes = std::fs::read(input)
        .map_err(|e| Error::File(format!("cannot read {}: {e}", input.display())))?;
    let safetensors = if pth::is_pth_file(input, &bytes) {
        pth::read(&bytes).and_then(|t| pth::to_safetensors(&t))
    } else {
        Ok(bytes)
    }
    .map_err(|e| {
        Error::File(format!(
            "{} is not a readable PyTorch checkpoint: {e}",
            input.display()
        ))
    })?;
    let st = SafeTensors::deserialize(&safetensors).map_err(|e| {
        Error::File(format!(
            "{} is not a readable safetensors file: {e}",
            input.display()
        ))
    })?;
    let out = if to_pth {
        let mut tensors = Vec::new();
        let mut names = st.names();
        names.sort_unstable();
        for name in names {
            let view = st.tensor(name).expect("a name it listed");
            let dtype = pth::storage_type(view.dtype()).ok_or_else(|| {
                Error::File(format!(
                    "tensor {name} in {} is {:?}, which a .pth cannot hold",
                    input.display(),
                    view.dtype()
                ))
            })?;
            tensors.push((name, dtype, view.shape().to_vec(), view.data()));
        }
        let refs: Vec<_> = tensors
            .iter()
            .map(|(n, d, s, b)| (*n, *d, s.as_slice(), *b))
            .collect();
        pth::write_zip(&refs)
            .map_err(|e| Error::File(format!("cannot write {}: {e}", output.display())))?
    } else {
        safetensors
    };
    crate::fsutil::write_atomically(output, &out)
}
