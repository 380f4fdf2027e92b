//! Bad input to the `wgnn` binary. Every case must end with one line on stderr, `error: ...`, that
//! names what is wrong; a non-zero exit; no panic; and nothing the user already had overwritten.
//! (An adapter name that matches nothing is tested in tests/cli.rs.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use image::RgbImage;
use safetensors::tensor::{Dtype, TensorView};

mod data;
mod flags;
mod weights;

#[allow(dead_code)] // each test binary uses its own part
#[path = "../support/cli.rs"]
mod cli_support;
use cli_support::{Scratch, eval_args, headless, ok, predict_args, text, train_args};

/// Runs wgnn and checks that it failed as a user should see it: a non-zero exit, and on stderr
/// exactly one line starting `error: `, with no panic, holding every one of `words`.
#[track_caller]
fn fails(args: &[&str], words: &[&str]) {
    let out: Output = headless().args(args).output().expect("run wgnn");
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "wgnn {args:?} succeeded:\n{}{stderr}",
        text(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked"),
        "wgnn {args:?} panicked:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "wgnn {args:?} wrote more than one line:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "wgnn {args:?}: {stderr}");
    for word in words {
        assert!(
            lines[0].contains(word),
            "wgnn {args:?}: no {word:?} in {}",
            lines[0]
        );
    }
}

/// Scratch folders of data to break.
impl Scratch {
    /// A folder of valid data written by `wgnn synth` (`args`: the task and its options).
    fn synth(&self, name: &str, args: &[&str]) -> PathBuf {
        let dir = self.path(name);
        let out = headless()
            .arg("synth")
            .args(args)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        dir
    }

    /// Classification data: `ten`, four images of the default ten classes (labels 0 to 3), and
    /// `thirteen`, 13 images of 13 classes (labels 0 to 12).
    fn ten_and_thirteen(&self) -> (PathBuf, PathBuf) {
        let ten = self.synth("ten", &["classify", "--count", "4"]);
        let thirteen = self.synth(
            "thirteen",
            &["classify", "--count", "13", "--classes", "13"],
        );
        (ten, thirteen)
    }

    /// A copy of folder `from` (flat), to break without touching the original.
    fn copy(&self, from: &Path, name: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir(&dir).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        dir
    }

    /// A folder of the user's own `files` where a command will write, recorded.
    fn user_folder(&self, name: &str, files: &[&str]) -> Untouched {
        let dir = self.path(name);
        std::fs::create_dir(&dir).unwrap();
        for file in files {
            std::fs::write(dir.join(file), format!("the user's own {file}")).unwrap();
        }
        Untouched::record(&dir)
    }

    /// The output folder of an earlier `wgnn train`.
    fn earlier_run(&self, name: &str) -> Untouched {
        self.user_folder(
            name,
            &["last.safetensors", "best.safetensors", "metrics.csv"],
        )
    }
}

/// The files of a folder, recorded to check that a failed run leaves them, and only them, as they
/// were (no file rewritten, none added, not even a temporary one).
struct Untouched {
    dir: PathBuf,
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Untouched {
    fn record(dir: &Path) -> Untouched {
        Untouched {
            dir: dir.to_owned(),
            files: Untouched::read(dir),
        }
    }

    fn read(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect()
    }

    #[track_caller]
    fn check(&self) {
        assert!(
            Untouched::read(&self.dir) == self.files,
            "{} changed",
            self.dir.display()
        );
    }
}

/// A state_dict entry: name, shape and dtype.
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
}

/// The state_dict of a PyTorch printout in tests/fixtures/pytorch (`name [shape] dtype` lines),
/// which tests/models checks wgnn's models against.
fn state_dict(fixture: &str) -> Vec<Entry> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(fixture);
    let entries: Vec<Entry> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(" [")?;
            let (dims, dtype) = rest.split_once("] ")?;
            let dtype = match dtype {
                "float32" => Dtype::F32,
                "int64" => Dtype::I64,
                _ => return None,
            };
            let shape = dims
                .split(", ")
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().unwrap())
                .collect();
            Some(Entry {
                name: name.to_owned(),
                shape,
                dtype,
            })
        })
        .collect();
    assert!(entries.len() > 50, "{fixture} has a state_dict");
    entries
}

/// Writes `entries` as a safetensors checkpoint of zeros: complete ones load, and the bad ones are
/// made by editing the entries first. Zeros suffice, as no test here gets as far as running a model.
fn write_checkpoint(path: &Path, entries: &[Entry]) {
    let bytes = |e: &Entry| e.shape.iter().product::<usize>() * e.dtype.bitsize() / 8;
    let zeros = vec![0u8; entries.iter().map(bytes).max().unwrap()];
    let views: Vec<(&str, TensorView)> = entries
        .iter()
        .map(|e| {
            let view = TensorView::new(e.dtype, e.shape.clone(), &zeros[..bytes(e)]).unwrap();
            (e.name.as_str(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// VGG16-bn with 10 classes, the model of tests/fixtures/pytorch/vgg16bn_c10.txt.
fn vgg_weights(s: &Scratch) -> String {
    write_checkpoint(&s.path("vgg.safetensors"), &state_dict("vgg16bn_c10.txt"));
    s.arg("vgg.safetensors")
}

/// FCN32s with the 7 land-cover classes.
fn fcn_weights(s: &Scratch) -> String {
    write_checkpoint(&s.path("fcn.safetensors"), &state_dict("fcn32s.txt"));
    s.arg("fcn.safetensors")
}
