//! PyTorch checkpoints (`torch.save` files) without Python: both formats torch writes (the zip
//! archive of PyTorch >= 1.6, and the legacy stream of pickles and raw storages that older
//! torchvision checkpoints use) read into plain tensors, and the zip archive written, which
//! `torch.load(path, weights_only=True)` opens. Pickles are read by `pickle`, which runs nothing.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};

use safetensors::tensor::Dtype;

use super::pickle::{self, StorageType, TensorRef, Value};

/// A tensor on the host: f32 (floating-point sources converted) or i64 (integer sources),
/// contiguous, little-endian.
pub struct HostTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// PROTO 2, then LONG1 of torch's legacy magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// Whether `bytes` look like a torch.save file (either format), by their first bytes.
pub fn is_pth(bytes: &[u8]) -> bool {
    bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(LEGACY_MAGIC)
}

/// Whether the file at `path` holding `bytes` is to be read as a PyTorch checkpoint: named `.pth`
/// or `.pt`, or starting as one does, unless it is named `.safetensors`.
pub fn is_pth_file(path: &std::path::Path, bytes: &[u8]) -> bool {
    let is = |x: &str| path.extension().is_some_and(|e| e.eq_ignore_ascii_case(x));
    is("pth") || is("pt") || (!is("safetensors") && is_pth(bytes))
}

/// The state_dict of a torch.save file: its tensors, with any `module.` prefix removed. The
/// saved object is a state_dict or a dict holding one under `state_dict` or `model`. Errors
/// are one line, without the file's name.
pub fn read(bytes: &[u8]) -> Result<Vec<HostTensor>, String> {
    let (object, storages) = if bytes.starts_with(ZIP_MAGIC) {
        read_zip(bytes)?
    } else if bytes.starts_with(LEGACY_MAGIC) {
        read_legacy(bytes)?
    } else {
        return Err(
            "it is not a PyTorch checkpoint (neither a zip archive nor torch's legacy format)"
                .into(),
        );
    };
    let dict = state_dict(object)?;
    let mut out = Vec::with_capacity(dict.len());
    for (key, value) in dict {
        let Value::Str(key) = key else {
            return Err("its state_dict has a key that is not a string".into());
        };
        let name = key.strip_prefix("module.").unwrap_or(&key).to_owned();
        let Value::Tensor(t) = value else {
            return Err(format!("its state_dict entry {key} is not a tensor"));
        };
        let storage = storages
            .get(&t.storage)
            .ok_or_else(|| format!("tensor {key} names storage {} which it lacks", t.storage))?;
        out.push(materialise(name, &t, storage)?);
    }
    if out.is_empty() {
        return Err("its state_dict holds no tensors".into());
    }
    let mut names: Vec<&str> = out.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "it holds tensor {} twice (with and without module.)",
            w[0]
        ));
    }
    Ok(out)
}

/// `tensors` as the bytes of a safetensors file (no metadata).
pub fn to_safetensors(tensors: &[HostTensor]) -> Result<Vec<u8>, String> {
    let views = tensors
        .iter()
        .map(|t| {
            safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|v| (t.name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    safetensors::serialize(views, None).map_err(|e| e.to_string())
}

/// The state_dict in the saved object.
fn state_dict(object: Value) -> Result<Vec<(Value, Value)>, String> {
    let Value::Dict(items) = object else {
        return Err("it holds no dict of tensors (a state_dict)".into());
    };
    let holds_tensors = items.iter().any(|(_, v)| matches!(v, Value::Tensor(_)));
    if !holds_tensors {
        for wanted in ["state_dict", "model"] {
            if let Some((_, Value::Dict(inner))) = items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == wanted))
            {
                return Ok(inner.clone());
            }
        }
        return Err(
            "it holds a dict without tensors and without a state_dict or model entry".into(),
        );
    }
    Ok(items)
}

/// A storage's bytes and element type.
type Storages = HashMap<String, (StorageType, Vec<u8>)>;

/// Every storage a pickled object refers to, with its type.
fn storage_refs(v: &Value, out: &mut Vec<(String, StorageType)>) {
    match v {
        Value::Tensor(t) => out.push((t.storage.clone(), t.dtype)),
        Value::Tuple(items) | Value::List(items) => {
            items.iter().for_each(|i| storage_refs(i, out));
        }
        Value::Dict(items) => items.iter().for_each(|(k, v)| {
            storage_refs(k, out);
            storage_refs(v, out);
        }),
        _ => {}
    }
}

fn zip_error(e: zip::result::ZipError) -> String {
    format!("its zip archive is unreadable ({e})")
}

fn read_zip(bytes: &[u8]) -> Result<(Value, Storages), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let pkl = archive
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(|n| n.into_owned())
        .ok_or("its zip archive has no data.pkl (not a torch.save archive)")?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let mut entry = |name: &str| -> Result<Option<Vec<u8>>, String> {
        let mut file = match archive.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_error(e)),
        };
        let mut data = Vec::with_capacity((file.size() as usize).min(bytes.len()));
        file.read_to_end(&mut data)
            .map_err(|e| format!("its zip entry {name} is unreadable ({e})"))?;
        Ok(Some(data))
    };
    if let Some(order) = entry(&format!("{prefix}byteorder"))?
        && order != b"little"
    {
        return Err(format!(
            "its storages are {} endian; only little endian is read",
            String::from_utf8_lossy(&order)
        ));
    }
    let data = entry(&pkl)?.unwrap_or_default();
    let (object, _) = pickle::read(&data)?;
    let mut refs = Vec::new();
    storage_refs(&object, &mut refs);
    let mut storages = Storages::new();
    for (key, dtype) in refs {
        if storages.contains_key(&key) {
            continue;
        }
        let name = format!("{prefix}data/{key}");
        let bytes = entry(&name)?.ok_or_else(|| format!("its zip archive lacks {name}"))?;
        storages.insert(key, (dtype, bytes));
    }
    Ok((object, storages))
}

fn read_legacy(bytes: &[u8]) -> Result<(Value, Storages), String> {
    let mut at = 0;
    let mut next = |what: &str| -> Result<Value, String> {
        let (v, n) = pickle::read(&bytes[at..]).map_err(|e| format!("{what}: {e}"))?;
        at += n;
        Ok(v)
    };
    next("its magic number")?;
    match next("its protocol version")? {
        Value::Int(1001) => {}
        other => {
            return Err(format!(
                "its legacy protocol version is {other:?}, not 1001"
            ));
        }
    }
    if let Value::Dict(info) = next("its system information")?
        && info.iter().any(|(k, v)| {
            matches!(k, Value::Str(s) if s == "little_endian") && matches!(v, Value::Bool(false))
        })
    {
        return Err("its storages are big endian; only little endian is read".into());
    }
    let object = next("its state_dict pickle")?;
    let Value::List(keys) = next("its storage keys")? else {
        return Err("its storage keys are not a list".into());
    };
    let mut refs = Vec::new();
    storage_refs(&object, &mut refs);
    let types: HashMap<String, StorageType> = refs.into_iter().collect();
    let mut storages = Storages::new();
    for key in keys {
        let Value::Str(key) = key else {
            return Err("a storage key is not a string".into());
        };
        let dtype = *types
            .get(&key)
            .ok_or_else(|| format!("its storage {key} belongs to no tensor"))?;
        let truncated = || format!("it ends inside storage {key} (truncated file?)");
        let count = bytes.get(at..at + 8).ok_or_else(truncated)?;
        let count = u64::from_le_bytes(count.try_into().unwrap()) as usize;
        let len = count.checked_mul(dtype.size()).ok_or_else(truncated)?;
        let data = bytes
            .get(at + 8..)
            .and_then(|b| b.get(..len))
            .ok_or_else(truncated)?;
        at += 8 + len;
        storages.insert(key, (dtype, data.to_vec()));
    }
    Ok((object, storages))
}

/// A tensor's elements gathered from its storage (offset and strides honoured) and converted.
fn materialise(
    name: String,
    t: &TensorRef,
    (dtype, storage): &(StorageType, Vec<u8>),
) -> Result<HostTensor, String> {
    if *dtype != t.dtype {
        return Err(format!("tensor {name}'s storage is read as two types"));
    }
    let size = dtype.size();
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("tensor {name} has an impossible size (corrupt file)"))?;
    let reach = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |acc, (&n, &s)| {
            acc.checked_add(n.saturating_sub(1).checked_mul(s)?)
        });
    if numel > 0 && reach.is_none_or(|r| r >= storage.len() / size) {
        return Err(format!(
            "tensor {name} reaches beyond its storage of {} elements (corrupt file)",
            storage.len() / size
        ));
    }
    let mut index = vec![0usize; t.shape.len()];
    let (out_dtype, out_size) = match dtype {
        StorageType::F32 | StorageType::F16 | StorageType::BF16 | StorageType::F64 => {
            (Dtype::F32, 4)
        }
        StorageType::Bool => {
            return Err(format!(
                "tensor {name} is boolean, which wgnn does not read"
            ));
        }
        _ => (Dtype::I64, 8),
    };
    let mut data = Vec::with_capacity(numel * out_size);
    for _ in 0..numel {
        let at = t.offset
            + index
                .iter()
                .zip(&t.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        let e = &storage[at * size..(at + 1) * size];
        match dtype {
            StorageType::F32 => data.extend_from_slice(e),
            StorageType::F16 => {
                data.extend(f16_to_f32(u16::from_le_bytes([e[0], e[1]])).to_le_bytes())
            }
            StorageType::BF16 => {
                let bits = (u16::from_le_bytes([e[0], e[1]]) as u32) << 16;
                data.extend(bits.to_le_bytes())
            }
            StorageType::F64 => {
                data.extend((f64::from_le_bytes(e.try_into().unwrap()) as f32).to_le_bytes())
            }
            StorageType::I64 => data.extend_from_slice(e),
            StorageType::I32 => {
                data.extend(i64::from(i32::from_le_bytes(e.try_into().unwrap())).to_le_bytes())
            }
            StorageType::I16 => {
                data.extend(i64::from(i16::from_le_bytes(e.try_into().unwrap())).to_le_bytes())
            }
            StorageType::I8 => data.extend(i64::from(e[0] as i8).to_le_bytes()),
            StorageType::U8 => data.extend(i64::from(e[0]).to_le_bytes()),
            StorageType::Bool => unreachable!("refused above"),
        }
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(HostTensor {
        name,
        dtype: out_dtype,
        shape: t.shape.clone(),
        data,
    })
}

/// IEEE half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the mantissa.
            let shift = man.leading_zeros() - 21;
            let man = (man << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (man << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// The storage type of a safetensors dtype wgnn writes to a .pth.
pub fn storage_type(dtype: Dtype) -> Option<StorageType> {
    Some(match dtype {
        Dtype::F32 => StorageType::F32,
        Dtype::F16 => StorageType::F16,
        Dtype::BF16 => StorageType::BF16,
        Dtype::F64 => StorageType::F64,
        Dtype::I64 => StorageType::I64,
        Dtype::I32 => StorageType::I32,
        Dtype::I16 => StorageType::I16,
        Dtype::I8 => StorageType::I8,
        Dtype::U8 => StorageType::U8,
        Dtype::BOOL => StorageType::Bool,
        _ => return None,
    })
}

/// A torch.save zip archive of an OrderedDict of contiguous tensors `(name, type, shape, bytes)`,
/// one storage each, as `torch.load(path, weights_only=True)` reads it: `archive/data.pkl`
/// (pickle protocol 2, naming only OrderedDict, `_rebuild_tensor_v2` and the storage types),
/// `archive/data/N`, `archive/byteorder` and `archive/version`.
pub fn write_zip(tensors: &[(&str, StorageType, &[usize], &[u8])]) -> Result<Vec<u8>, String> {
    let mut p = Vec::new();
    p.extend(b"\x80\x02ccollections\nOrderedDict\nq\x00)R(");
    let unicode = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    };
    let int = |p: &mut Vec<u8>, i: usize| match u32::try_from(i) {
        Ok(i) if i < 1 << 31 => {
            p.push(b'J');
            p.extend(i.to_le_bytes());
        }
        _ => {
            p.extend([0x8a, 9]);
            p.extend((i as u64).to_le_bytes());
            p.push(0);
        }
    };
    for (key, (name, dtype, shape, _)) in tensors.iter().enumerate() {
        unicode(&mut p, name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        unicode(&mut p, "storage");
        p.extend(format!("ctorch\n{}\n", dtype.torch_name()).as_bytes());
        unicode(&mut p, &key.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        shape.iter().for_each(|&n| int(&mut p, n));
        p.extend(b"t(");
        let mut stride = vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        stride.iter().for_each(|&s| int(&mut p, s));
        p.extend(b"t\x89h\x00)RtR");
    }
    p.extend(b"u.");

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), String> {
        let options = options.large_file(bytes.len() >= u32::MAX as usize);
        zip.start_file(format!("archive/{name}"), options)
            .and_then(|_| zip.write_all(bytes).map_err(Into::into))
            .map_err(|e| format!("cannot build the zip archive ({e})"))
    };
    put("data.pkl", &p)?;
    put("byteorder", b"little")?;
    for (key, (_, _, _, bytes)) in tensors.iter().enumerate() {
        put(&format!("data/{key}"), bytes)?;
    }
    put("version", b"3\n")?;
    let out = zip
        .finish()
        .map_err(|e| format!("cannot build the zip archive ({e})"))?;
    Ok(out.into_inner())
}
