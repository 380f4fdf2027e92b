//! Writing safetensors files: a model's state_dict, or named tensors such as an optimiser's
//! state, streamed from the GPU to a temporary file tensor by tensor and then renamed. The bytes
//! are those `safetensors::serialize` writes (tensors ordered by dtype, then name), with the
//! header's keys sorted so that a seeded run writes the same file every time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorInfo};

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::Model;
use crate::nn::Entry;
use crate::tensor::Tensor;

/// A state_dict entry to write.
enum Value {
    F32(Tensor),
    I64(i64),
}

impl Value {
    fn dtype(&self) -> Dtype {
        match self {
            Value::F32(_) => Dtype::F32,
            Value::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> Vec<usize> {
        match self {
            Value::F32(t) => t.shape().to_vec(),
            Value::I64(_) => vec![],
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Value::F32(t) => t.numel() * 4,
            Value::I64(_) => 8,
        }
    }
}

/// Writes the model's state_dict to `path` (atomically: temp file, then rename).
pub fn save(gpu: &Gpu, model: &mut Model, path: &Path) -> Result<()> {
    save_with_metadata(gpu, model, path, HashMap::new())
}

/// `save`, with `extra` added to the file's metadata (a training run's position, for `--resume`).
pub fn save_with_metadata(
    gpu: &Gpu,
    model: &mut Model,
    path: &Path,
    extra: HashMap<String, String>,
) -> Result<()> {
    let mut values = Vec::new();
    model.visit(&mut |name, entry| {
        let value = match entry {
            Entry::Param(p) => Value::F32(p.value.clone()),
            Entry::Buffer(t) => Value::F32(t.clone()),
            Entry::Count(c) => Value::I64(*c),
        };
        values.push((name.to_owned(), value));
    });
    let mut metadata = HashMap::from([
        ("wgnn_architecture".to_owned(), model.arch.name().to_owned()),
        ("wgnn_classes".to_owned(), model.classes.to_string()),
    ]);
    metadata.extend(extra);
    write_values(gpu, values, metadata, path)
}

/// Writes named tensors (an optimiser's state) to `path`, atomically.
pub fn save_tensors(
    gpu: &Gpu,
    tensors: &[(String, &Tensor)],
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    let values = tensors
        .iter()
        .map(|(name, t)| (name.clone(), Value::F32((*t).clone())))
        .collect();
    write_values(gpu, values, metadata, path)
}

/// Writes `values` atomically, each tensor streamed from the GPU in chunks: no host copy of the
/// file is made (PERFORMANCE.md, entry 49). Non-finite values are refused and the file is left as
/// it was: a checkpoint is kept because it is good, and a NaN in it would only be found when the
/// next run fails.
fn write_values(
    gpu: &Gpu,
    mut values: Vec<(String, Value)>,
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    // safetensors' order: by dtype, largest alignment first, then by name.
    values.sort_by(|(a, x), (b, y)| y.dtype().cmp(&x.dtype()).then(a.cmp(b)));
    let header = header(&values, metadata)?;
    let largest = values.iter().map(|(_, v)| v.bytes()).max().unwrap_or(0);
    let staging = gpu.staging(largest as u64);
    crate::fsutil::write_atomically_with(path, |file| {
        file.write(&(header.len() as u64).to_le_bytes())?;
        file.write(&header)?;
        for (name, value) in &values {
            match value {
                Value::I64(c) => file.write(&c.to_le_bytes())?,
                Value::F32(t) => t.stream_f32_bytes(gpu, &staging, &mut |bytes| {
                    if !all_finite(bytes) {
                        return Err(Error::NonFinite(format!(
                            "tensor {name} holds NaN or infinite values; {} was not written",
                            path.display()
                        )));
                    }
                    file.write(bytes)
                })?,
            }
        }
        Ok(())
    })
}

/// The JSON header of `values` (in file order) and `metadata`, every map's keys sorted, padded
/// with spaces to a multiple of 8 bytes as safetensors pads it.
fn header(values: &[(String, Value)], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let json = |e: serde_json::Error| Error::File(format!("cannot describe the tensors: {e}"));
    let mut entries: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let sorted: BTreeMap<String, String> = metadata.into_iter().collect();
    entries.insert(
        "__metadata__".to_owned(),
        serde_json::to_value(sorted).map_err(json)?,
    );
    let mut offset = 0;
    for (name, value) in values {
        let info = TensorInfo {
            dtype: value.dtype(),
            shape: value.shape(),
            data_offsets: (offset, offset + value.bytes()),
        };
        offset += value.bytes();
        entries.insert(name.clone(), serde_json::to_value(info).map_err(json)?);
    }
    let mut bytes = serde_json::to_vec(&entries).map_err(json)?;
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

/// Whether every little-endian f32 in `bytes` is finite (its exponent bits are not all ones).
fn all_finite(bytes: &[u8]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    bytes
        .chunks_exact(4)
        .all(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) & EXPONENT != EXPONENT)
}
