//! PyTorch checkpoints without a GPU: both torch.save formats read bit for bit as PyTorch wrote
//! them (fixtures of `scripts/pth_fixtures.py` in `tests/fixtures/pth/`), pickles that ask for
//! anything but a state_dict's globals refused by name, truncated and corrupt files as one-line
//! errors, and `convert`'s round trips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use wgnn::checkpoint::{Checkpoint, convert};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

/// Name -> (dtype, shape, bytes) of a safetensors file's tensors.
type Tensors = BTreeMap<String, (String, Vec<usize>, Vec<u8>)>;

fn tensors(safetensors: &[u8]) -> Tensors {
    let st = SafeTensors::deserialize(safetensors).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            let value = (
                format!("{:?}", v.dtype()),
                v.shape().to_vec(),
                v.data().to_vec(),
            );
            (name, value)
        })
        .collect()
}

fn expected() -> Tensors {
    tensors(&std::fs::read(fixture("expected.safetensors")).unwrap())
}

fn read(path: &Path) -> Tensors {
    let ck = Checkpoint::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tensors(ck.safetensors_bytes())
}

#[track_caller]
fn assert_same(got: &Tensors, want: &Tensors, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: names"
    );
    for (name, (dtype, shape, data)) in want {
        let (g_dtype, g_shape, g_data) = &got[name];
        assert_eq!((g_dtype, g_shape), (dtype, shape), "{what}: {name}");
        assert!(g_data == data, "{what}: {name}'s values differ");
    }
}

/// Asserts one line of error holding every one of `words`.
#[track_caller]
fn assert_error<T>(result: wgnn::Result<T>, words: &[&str]) {
    let Err(e) = result else {
        panic!("succeeded where an error naming {words:?} was due")
    };
    let message = e.to_string();
    assert_eq!(message.lines().count(), 1, "more than one line: {message}");
    for word in words {
        assert!(message.contains(word), "no {word:?} in: {message}");
    }
}

#[test]
fn both_formats_read_bit_for_bit() {
    let want = expected();
    assert!(want.len() >= 12 && want["bn.num_batches_tracked"].0 == "I64");
    for name in [
        "plain.pth",
        "plain_legacy.pth",
        "wrapped.pth",
        "wrapped_legacy.pth",
    ] {
        let magic: &[u8] = if name.contains("legacy") {
            b"\x80\x02\x8a\x0a"
        } else {
            b"PK\x03\x04"
        };
        assert!(std::fs::read(fixture(name)).unwrap().starts_with(magic));
        assert_same(&read(&fixture(name)), &want, name);
    }
}

#[test]
fn a_pickle_asking_for_another_global_is_refused_by_name() {
    assert_error(
        Checkpoint::open(&fixture("evil.pth")),
        &["evil.pth", "os.system", "refused"],
    );
    // The legacy format: magic number, protocol 1001, system information, then the hostile pickle.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil_legacy.pt");
    let mut bytes = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    bytes.extend(b"\x80\x02M\xe9\x03.\x80\x02}.");
    bytes.extend(b"\x80\x02\x8c\x08builtins\x8c\x04eval\x93X\x01\x00\x00\x001\x85R.");
    std::fs::write(&path, &bytes).unwrap();
    assert_error(Checkpoint::open(&path), &["builtins.eval", "refused"]);
}

#[test]
fn truncated_and_corrupt_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["plain.pth", "plain_legacy.pth"] {
        let good = std::fs::read(fixture(name)).unwrap();
        // Every length short of the whole: the storages come last, so each cut loses something.
        for n in (0..good.len()).step_by(good.len() / 97 + 1) {
            let path = dir.path().join(format!("cut_{n}_{name}"));
            std::fs::write(&path, &good[..n]).unwrap();
            assert_error(Checkpoint::open(&path), &[path.to_str().unwrap()]);
        }
        // Bytes overwritten anywhere: an error or (in a tensor's values) a checkpoint, never a panic.
        for at in (0..good.len()).step_by(good.len() / 89 + 1) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let path = dir.path().join(format!("flip_{at}_{name}"));
            std::fs::write(&path, &bad).unwrap();
            if let Err(e) = Checkpoint::open(&path) {
                assert_eq!(e.to_string().lines().count(), 1, "{e}");
            }
        }
    }
    let path = dir.path().join("notes.pth");
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert_error(
        Checkpoint::open(&path),
        &["notes.pth", "not a PyTorch checkpoint"],
    );
}

#[test]
fn convert_round_trips_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let want = expected();
    let st = dir.path().join("plain.safetensors");
    let pth = dir.path().join("again.pth");
    let st2 = dir.path().join("again.safetensors");
    convert(&fixture("plain_legacy.pth"), &st).unwrap();
    assert_same(
        &tensors(&std::fs::read(&st).unwrap()),
        &want,
        "pth -> safetensors",
    );
    convert(&st, &pth).unwrap();
    assert!(std::fs::read(&pth).unwrap().starts_with(b"PK\x03\x04"));
    assert_same(&read(&pth), &want, "safetensors -> pth");
    convert(&pth, &st2).unwrap();
    assert_eq!(std::fs::read(&st).unwrap(), std::fs::read(&st2).unwrap());

    let before = std::fs::read(&pth).unwrap();
    assert_error(convert(&st, &pth), &["again.pth", "exists"]);
    assert_eq!(std::fs::read(&pth).unwrap(), before);
    assert_error(
        convert(&st, &dir.path().join("w.bin")),
        &["w.bin", ".safetensors"],
    );
    assert_error(
        convert(&fixture("evil.pth"), &dir.path().join("x.safetensors")),
        &["os.system"],
    );
    assert!(!dir.path().join("x.safetensors").exists());
}

/// What torch < 0.4 wrote under Python 2 (old torchvision checkpoints): the legacy format with
/// `_rebuild_tensor`, Python 2 strings (SHORT_BINSTRING), an OrderedDict of `[key, value]` lists
/// and a storage view (a persistent id with view metadata).
#[test]
fn python2_era_legacy_files_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.pth");
    let mut bytes = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.".to_vec();
    bytes.extend(b"\x80\x02M\xe9\x03.\x80\x02}q\x00U\x0dlittle_endianq\x01\x88s.");
    bytes.extend(b"\x80\x02ccollections\nOrderedDict\nq\x00](](U\x0amodule.x.wq\x01");
    bytes.extend(b"ctorch._utils\n_rebuild_tensor\n((U\x07storagectorch\nFloatStorage\n");
    bytes.extend(b"U\x0294U\x03cpuK\x04NtQK\x01K\x03\x85K\x01\x85tRe");
    // A tensor of a view into the same storage: ('95', offset 2, 2 elements).
    bytes.extend(b"](U\x03x.vctorch._utils\n_rebuild_tensor\n((U\x07storagectorch\nFloatStorage\n");
    bytes.extend(b"U\x0294U\x03cpuK\x04(U\x0295K\x02K\x02ttQK\x00K\x02\x85K\x01\x85tRee\x85R.");
    bytes.extend(b"\x80\x02]q\x00U\x0294a.");
    bytes.extend(4u64.to_le_bytes());
    for x in [9.0f32, 1.0, 2.5, -3.0] {
        bytes.extend(x.to_le_bytes());
    }
    std::fs::write(&path, &bytes).unwrap();
    let got = read(&path);
    let want: Vec<u8> = [1.0f32, 2.5, -3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got["x.w"], ("F32".to_owned(), vec![3], want.clone()));
    assert_eq!(got["x.v"], ("F32".to_owned(), vec![2], want[4..].to_vec()));
}
