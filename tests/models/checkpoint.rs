//! safetensors checkpoints: round trip, PyTorch names, clear errors, backbone loading.

use std::collections::HashMap;
use std::path::PathBuf;

use safetensors::SafeTensors;
use safetensors::tensor::Dtype;
use wgnn::Tensor;
use wgnn::autograd::Graph;
use wgnn::checkpoint::{self, Checkpoint};
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::nn::{Context, Entry};

use crate::common::*;

fn vgg(seed: u64) -> Model {
    Model::new(
        gpu(),
        Architecture::Vgg16bn,
        5,
        seed,
        UpsamplingInit::Default,
    )
    .unwrap()
}

/// A temporary folder and, in it, `name`: a checkpoint of `vgg(seed)`.
fn saved_vgg(name: &str, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    checkpoint::save(gpu(), &mut vgg(seed), &path).unwrap();
    (dir, path)
}

fn logits(m: &mut Model) -> Vec<f32> {
    let gpu = gpu();
    let g = Graph::inference(gpu);
    let data: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let x = g.input(Tensor::from_f32(gpu, &[2, 3, 32, 32], &data).unwrap());
    m.forward(&g, &x, &Context::eval())
        .unwrap()
        .value
        .to_f32(gpu)
        .unwrap()
}

#[test]
fn save_then_load_reproduces_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let mut a = vgg(1);
    // Non-default running statistics and counters, so buffers are checked too.
    a.visit(&mut |name, e| match e {
        Entry::Count(c) => *c = 7,
        Entry::Buffer(t) if name.ends_with("running_var") => {
            *t = Tensor::from_f32(gpu(), t.shape(), &vec![2.5; t.numel()]).unwrap()
        }
        _ => {}
    });
    checkpoint::save(gpu(), &mut a, &path).unwrap();
    let mut b = vgg(2);
    assert_ne!(logits(&mut a), logits(&mut b));
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.architecture().unwrap(), (Architecture::Vgg16bn, 5));
    ck.load_into(gpu(), &mut b).unwrap();
    assert_eq!(logits(&mut a), logits(&mut b));
    let mut counts = Vec::new();
    b.visit(&mut |_, e| {
        if let Entry::Count(c) = e {
            counts.push(*c)
        }
    });
    assert!(
        counts.len() == 13 && counts.iter().all(|&c| c == 7),
        "{counts:?}"
    );

    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("features.1.num_batches_tracked").unwrap();
    assert_eq!((t.dtype(), t.shape()), (Dtype::I64, &[][..]));
    assert_eq!(st.tensor("classifier.weight").unwrap().shape(), [5, 25088]);
    assert!(
        !dir.path().join(".w.safetensors.tmp").exists(),
        "the temporary file was renamed"
    );
}

/// Given a tensor's name and shape, the shape to write instead (None drops the tensor).
type Edit = dyn Fn(&str, Vec<usize>) -> Option<Vec<usize>>;

/// Writes a copy of `src` with tensors changed by `edit` (zero-filled).
fn edited(src: &std::path::Path, dst: &std::path::Path, edit: &Edit) {
    let bytes = std::fs::read(src).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> = HashMap::new();
    for (name, view) in st.tensors() {
        if let Some(shape) = edit(&name, view.shape().to_vec()) {
            let len = shape.iter().product::<usize>() * view.dtype().bitsize() / 8;
            out.insert(name, (view.dtype(), shape, vec![0; len]));
        }
    }
    let views: Vec<_> = out
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(dst, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let (dir, good) = saved_vgg("good.safetensors", 3);
    let bad = dir.path().join("bad.safetensors");
    let load = |path: &std::path::Path| {
        Checkpoint::open(path).and_then(|ck| ck.load_into(gpu(), &mut vgg(4)))
    };

    edited(&good, &bad, &|n, s| {
        (n != "features.4.running_mean").then_some(s)
    });
    assert_error_names(load(&bad), &["has no tensor features.4.running_mean"]);

    edited(&good, &bad, &|n, s| {
        Some(if n == "features.7.weight" {
            vec![128, 64, 1, 3]
        } else {
            s
        })
    });
    assert_error_names(
        load(&bad),
        &["features.7.weight", "[128, 64, 1, 3]", "[128, 64, 3, 3]"],
    );

    edited(&good, &bad, &|n, s| {
        Some(if n == "classifier.bias" { vec![9] } else { s })
    });
    assert_error_names(load(&bad), &["classifier.bias", "[9]", "[5]"]);

    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert_error_names(Checkpoint::open(&bad), &["not a readable safetensors file"]);

    std::fs::write(&bad, b"PK\x03\x04 this is a zip").unwrap();
    assert_error_names(Checkpoint::open(&bad), &["not a readable safetensors file"]);

    assert_error_names(
        Checkpoint::open(&dir.path().join("missing.safetensors")),
        &["cannot read", "missing.safetensors"],
    );
}

#[test]
fn extra_tensors_are_an_error() {
    let (dir, good) = saved_vgg("good.safetensors", 5);
    let bytes = std::fs::read(&good).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let extra = [0u8; 4];
    let mut views: Vec<_> = st.tensors();
    views.push((
        "features.99.weight".into(),
        safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &extra).unwrap(),
    ));
    let bad = dir.path().join("extra.safetensors");
    std::fs::write(&bad, safetensors::serialize(views, None).unwrap()).unwrap();
    assert_error_names(
        Checkpoint::open(&bad)
            .unwrap()
            .load_into(gpu(), &mut vgg(6)),
        &["features.99.weight", "does not"],
    );
}

/// A model with a NaN or infinite value is not saved: the file keeps its previous contents.
#[test]
fn non_finite_weights_are_not_written() {
    let (_dir, path) = saved_vgg("last.safetensors", 7);
    let before = std::fs::read(&path).unwrap();
    let mut m = vgg(8);
    m.visit(&mut |name, entry| {
        if let (Entry::Param(p), "features.7.weight") = (entry, name) {
            let mut values = p.value.to_f32(gpu()).unwrap();
            values[5] = f32::INFINITY;
            p.value = Tensor::from_f32(gpu(), p.value.shape(), &values).unwrap();
        }
    });
    assert_error_names(
        checkpoint::save(gpu(), &mut m, &path),
        &[
            "tensor features.7.weight holds NaN or infinite values",
            "not written",
        ],
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// torchvision's vgg16_bn keys (`features.*`, plus a classifier wgnn ignores) load into the VGG part
/// of every model, FCN16s' and FCN8s' split backbones included.
#[test]
fn backbone_loads_into_every_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vgg16_bn.safetensors");
    let mut source = vgg(7);
    checkpoint::save(gpu(), &mut source, &path).unwrap();
    let mut want = HashMap::new();
    source.visit(&mut |name, e| {
        if let Entry::Param(p) = e {
            want.insert(
                name.strip_prefix("features.").map(str::to_owned),
                p.value.to_f32(gpu()).unwrap(),
            );
        }
    });
    for arch in [
        Architecture::Fcn32s,
        Architecture::Fcn16s,
        Architecture::Fcn8s,
    ] {
        let mut m = Model::new(gpu(), arch, 7, 8, UpsamplingInit::Bilinear).unwrap();
        Checkpoint::open(&path)
            .unwrap()
            .load_backbone(gpu(), &mut m)
            .unwrap();
        let mut checked = 0;
        m.visit(&mut |name, e| {
            let key = name.split_once('.').map(|(_, rest)| rest.to_owned());
            if let (Entry::Param(p), true) = (e, name.starts_with("vgg_backbone")) {
                assert_eq!(
                    Some(&p.value.to_f32(gpu()).unwrap()),
                    want.get(&key),
                    "{name}"
                );
                checked += 1;
            }
        });
        assert_eq!(
            checked, 52,
            "{arch:?}: 13 convs and 13 BNs, weight and bias each"
        );
    }
}

/// A checkpoint converted to a PyTorch `.pth` (what `--init`, `--weights` and `--backbone` read
/// through `Checkpoint::open`) loads the same model as the safetensors file.
#[test]
fn pth_checkpoints_load_like_safetensors() {
    let (dir, path) = saved_vgg("w.safetensors", 9);
    let pth = dir.path().join("w.pth");
    checkpoint::convert(&path, &pth).unwrap();
    let mut a = vgg(10);
    Checkpoint::open(&path)
        .unwrap()
        .load_into(gpu(), &mut a)
        .unwrap();
    let ck = Checkpoint::open(&pth).unwrap();
    assert_eq!(ck.architecture().unwrap(), (Architecture::Vgg16bn, 5));
    let mut b = vgg(11);
    ck.load_into(gpu(), &mut b).unwrap();
    assert_eq!(logits(&mut a), logits(&mut b));
    // A backbone without `num_batches_tracked` (PyTorch < 0.4.1, as torchvision's
    // vgg16_bn-6c64b313.pth) loads, keeping the model's counts.
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let old: Vec<_> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .collect();
    let old_path = dir.path().join("old.safetensors");
    std::fs::write(&old_path, safetensors::serialize(old, None).unwrap()).unwrap();
    let mut c = Model::new(gpu(), Architecture::Fcn32s, 7, 8, UpsamplingInit::Bilinear).unwrap();
    Checkpoint::open(&old_path)
        .unwrap()
        .load_backbone(gpu(), &mut c)
        .unwrap();
}

/// Tensors stream to the file in chunks of 16 MiB: a tensor of three chunks, the last one partial,
/// beside a small one and an odd shape. The file must hold what `safetensors::serialize` writes
/// (the reference) up to the order of its header's keys, and read back to the values exactly. A
/// NaN in the last chunk, found after two chunks were written, leaves the file as it was and no
/// temporary file beside it.
#[test]
fn tensors_larger_than_a_chunk_stream_to_the_file() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-3.0..3.0)).collect() };
    let large = (2 * (16 << 20) + 4 * 1000 + 12) / 4;
    let host = [
        ("moments.large", vec![large], random(large)),
        ("a.small", vec![7], random(7)),
        ("b.odd", vec![3, 5, 1], random(15)),
    ];
    let tensors: Vec<(String, Tensor)> = host
        .iter()
        .map(|(name, shape, v)| (name.to_string(), Tensor::from_f32(gpu(), shape, v).unwrap()))
        .collect();
    let named: Vec<(String, &Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    let metadata = HashMap::from([
        ("wgnn_optimizer_steps".to_owned(), "3".to_owned()),
        ("a_key".to_owned(), "x".to_owned()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    checkpoint::save_tensors(gpu(), &named, metadata.clone(), &path).unwrap();

    let written = std::fs::read(&path).unwrap();
    let views: Vec<_> = host
        .iter()
        .map(|(name, shape, v)| {
            let view = safetensors::tensor::TensorView::new(
                Dtype::F32,
                shape.clone(),
                bytemuck::cast_slice(v),
            );
            (*name, view.unwrap())
        })
        .collect();
    let reference = safetensors::serialize(views, Some(metadata)).unwrap();
    let header = |bytes: &[u8]| -> (usize, serde_json::Value) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (n, serde_json::from_slice(&bytes[8..8 + n]).unwrap())
    };
    let (n, written_header) = header(&written);
    let (reference_n, reference_header) = header(&reference);
    assert_eq!((n, &written_header), (reference_n, &reference_header));
    assert!(
        written[8 + n..] == reference[8 + n..],
        "tensor bytes differ"
    );
    let st = SafeTensors::deserialize(&written).unwrap();
    for (name, _, v) in &host {
        assert!(st.tensor(name).unwrap().data() == bytemuck::cast_slice::<f32, u8>(v));
    }

    let mut poisoned = host[0].2.clone();
    poisoned[large - 3] = f32::NAN;
    let poisoned = Tensor::from_f32(gpu(), &[large], &poisoned).unwrap();
    assert_error_names(
        checkpoint::save_tensors(
            gpu(),
            &[("moments.large".to_owned(), &poisoned)],
            HashMap::new(),
            &path,
        ),
        &["tensor moments.large holds NaN", "not written"],
    );
    assert!(std::fs::read(&path).unwrap() == written, "the file changed");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["optimizer.safetensors"]);
}
