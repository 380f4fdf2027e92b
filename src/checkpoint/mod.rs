//! Weights as safetensors files with PyTorch's state_dict names and layouts: f32 tensors, and
//! `num_batches_tracked` as an i64 scalar. Files are written to a temporary name and renamed, so a
//! crash mid-write leaves the previous file intact. Also: a weight file with the model it holds,
//! and the architecture read from a header alone. PyTorch's own checkpoints (`.pth`, `.pt`, both
//! torch.save formats) are read as well (`pth`, whose pickles `pickle` reads without running
//! anything), and `convert` turns one kind into the other.

mod convert;
mod pickle;
mod pth;
mod write;

pub use convert::convert;
pub use write::{save, save_tensors, save_with_metadata};

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::{Architecture, Model};
use crate::nn::{Entry, Param};
use crate::tensor::Tensor;

/// A weight file with the model it holds: architecture (from its tensor names unless overridden)
/// and classes. Read before data is checked against the model, which is built only after that.
pub struct Weights {
    pub checkpoint: Checkpoint,
    pub arch: Architecture,
    pub classes: usize,
}

impl Weights {
    pub fn open(path: &Path, model: Option<Architecture>) -> Result<Weights> {
        let checkpoint = Checkpoint::open(path)?;
        let (found, classes) = checkpoint.architecture()?;
        Ok(Weights {
            checkpoint,
            arch: model.unwrap_or(found),
            classes,
        })
    }

    /// The model, built and loaded.
    pub fn load(&self, gpu: &Gpu) -> Result<Model> {
        let mut m = Model::unwritten(gpu, self.arch, self.classes)?;
        self.checkpoint.load_into(gpu, &mut m)?;
        Ok(m)
    }
}

/// The architecture of a safetensors file, from its header alone: an FCN's checkpoint is half a
/// gigabyte, too much to read for a name. None if the file is not a readable checkpoint.
pub fn architecture_in_header(path: &Path) -> Option<Architecture> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).ok()?;
    let mut header = Vec::new();
    file.take(u64::from_le_bytes(length))
        .read_to_end(&mut header)
        .ok()?;
    let tensors: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).ok()?;
    Architecture::from_tensor_names(tensors.keys().map(String::as_str))
}

/// A weights file (safetensors, or a PyTorch checkpoint held as one), read and parsed.
pub struct Checkpoint {
    path: String,
    bytes: Vec<u8>,
}

impl Checkpoint {
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::File(format!("cannot read {}: {e}", path.display())))?;
        let bytes = if pth::is_pth_file(path, &bytes) {
            pth::read(&bytes)
                .and_then(|t| pth::to_safetensors(&t))
                .map_err(|e| {
                    Error::File(format!(
                        "{} is not a readable PyTorch checkpoint: {e}",
                        path.display()
                    ))
                })?
        } else {
            bytes
        };
        let ck = Checkpoint {
            path: path.display().to_string(),
            bytes,
        };
        ck.parse()?;
        Ok(ck)
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|e| {
            Error::File(format!(
                "{} is not a readable safetensors file: {e}",
                self.path
            ))
        })
    }

    /// The weights as the bytes of a safetensors file (a PyTorch checkpoint's tensors converted:
    /// floating-point ones to f32, integer ones to i64).
    pub fn safetensors_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file's metadata (empty if it has none).
    pub fn metadata(&self) -> Result<HashMap<String, String>> {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).map_err(|e| {
            Error::File(format!(
                "{} is not a readable safetensors file: {e}",
                self.path
            ))
        })?;
        Ok(meta.metadata().clone().unwrap_or_default())
    }

    /// The f32 tensor `name`, which must have `shape`, uploaded.
    pub fn tensor(&self, gpu: &Gpu, name: &str, shape: &[usize]) -> Result<Tensor> {
        let st = self.parse()?;
        let view = st
            .tensor(name)
            .map_err(|_| Error::File(format!("{} has no tensor {name}", self.path)))?;
        if view.shape() != shape || view.dtype() != Dtype::F32 {
            return Err(Error::File(format!(
                "tensor {name} in {} is {:?} {:?}, expected F32 {shape:?}",
                self.path,
                view.dtype(),
                view.shape()
            )));
        }
        upload(gpu, &view)
    }

    /// Names of the tensors it holds.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .parse()?
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// The architecture its tensor names belong to, and its class count.
    pub fn architecture(&self) -> Result<(Architecture, usize)> {
        let st = self.parse()?;
        let names = st.names();
        let arch = Architecture::from_tensor_names(names.iter().copied()).ok_or_else(|| {
            Error::File(format!(
                "{} holds no tensors of vgg16bn, fcn32s, fcn16s or fcn8s (such as classifier.weight or up_sampling.weight)",
                self.path
            ))
        })?;
        let last = match arch {
            Architecture::Vgg16bn => "classifier.bias",
            Architecture::Fcn32s => "down_sampling.6.bias",
            Architecture::Fcn16s => "up_sampling32.bias",
            Architecture::Fcn8s => "up_sampling8.bias",
        };
        let classes = st
            .tensor(last)
            .map_err(|_| Error::File(format!("{} has no tensor {last}", self.path)))?
            .shape()
            .first()
            .copied()
            .unwrap_or(0);
        Ok((arch, classes))
    }

    /// Loads every state_dict entry of `model` from this file. A missing, extra or mis-shaped tensor
    /// is an error naming it.
    pub fn load_into(&self, gpu: &Gpu, model: &mut Model) -> Result<()> {
        let st = self.parse()?;
        let mut unused: Vec<&str> = st.names();
        let mut failure = None;
        model.visit(&mut |name, entry| {
            if failure.is_none() {
                unused.retain(|n| *n != name);
                failure = self.load_entry(gpu, &st, name, name, entry).err();
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if !unused.is_empty() {
            unused.sort();
            return Err(Error::File(format!(
                "{} has {} tensor(s) the {} model does not: {}",
                self.path,
                unused.len(),
                model.arch.name(),
                unused
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// Loads torchvision `vgg16_bn` keys `features.*` into the model's VGG layers (any other
    /// tensors in the file, such as torchvision's classifier, are ignored). Checkpoints older than
    /// PyTorch 0.4.1, such as torchvision's `vgg16_bn-6c64b313.pth`, have no `num_batches_tracked`;
    /// as in PyTorch, the model's count is then kept.
    pub fn load_backbone(&self, gpu: &Gpu, model: &mut Model) -> Result<()> {
        let st = self.parse()?;
        let arch = model.arch;
        let mut failure = None;
        model.visit(&mut |name, entry| {
            if failure.is_some() {
                return;
            }
            if let Some(key) = backbone_key(arch, name)
                && !(matches!(entry, Entry::Count(_)) && st.tensor(&key).is_err())
            {
                failure = self.load_entry(gpu, &st, &key, name, entry).err();
            }
        });
        failure.map_or(Ok(()), Err)
    }

    fn load_entry(
        &self,
        gpu: &Gpu,
        st: &SafeTensors,
        key: &str,
        name: &str,
        entry: Entry,
    ) -> Result<()> {
        let view = st.tensor(key).map_err(|_| {
            Error::File(format!(
                "{} has no tensor {key} (needed for {name})",
                self.path
            ))
        })?;
        let (want_shape, want_dtype) = match &entry {
            Entry::Param(p) => (p.value.shape().to_vec(), Dtype::F32),
            Entry::Buffer(t) => (t.shape().to_vec(), Dtype::F32),
            Entry::Count(_) => (vec![], Dtype::I64),
        };
        if view.shape() != want_shape.as_slice() || view.dtype() != want_dtype {
            return Err(Error::File(format!(
                "tensor {key} in {} is {:?} {:?}, the model needs {want_dtype:?} {want_shape:?}",
                self.path,
                view.dtype(),
                view.shape()
            )));
        }
        match entry {
            Entry::Param(p) => *p = Param::new(upload(gpu, &view)?),
            Entry::Buffer(t) => *t = upload(gpu, &view)?,
            Entry::Count(c) => {
                *c = i64::from_le_bytes(view.data().try_into().expect("8 bytes for an i64 scalar"))
            }
        }
        Ok(())
    }
}

fn upload(gpu: &Gpu, view: &TensorView) -> Result<Tensor> {
    Tensor::from_f32_bytes(gpu, view.shape(), view.data())
}

/// The torchvision `vgg16_bn` key for a model's state_dict name, if it is a backbone entry: the
/// FCNs' `vgg_backbone*` blocks keep the feature indices (`vgg_backbone5.34.weight`).
fn backbone_key(arch: Architecture, name: &str) -> Option<String> {
    let rest = match arch {
        Architecture::Vgg16bn => name.strip_prefix("features."),
        _ => name
            .strip_prefix("vgg_backbone")
            .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()))
            .and_then(|r| r.strip_prefix('.')),
    }?;
    Some(format!("features.{rest}"))
}
