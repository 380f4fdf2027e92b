//! Running the `wgnn` binary from tests: its argument lists, and scratch folders of data.

use std::path::PathBuf;
use std::process::{Command, Output};

/// `wgnn` as on a headless server or CI: no `XDG_RUNTIME_DIR` (Mesa's device-select layer prints
/// wayland errors without it unless wgnn switches the layer off), no adapter chosen by the
/// environment, and backtraces on, so that a panic could not pass for a one-line error.
pub fn headless() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wgnn"));
    command
        .env_remove("WGNN_ADAPTER")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .env_remove("MESA_VK_DEVICE_SELECT")
        .env("RUST_BACKTRACE", "1");
    command
}

pub fn wgnn(args: &[&str]) -> Output {
    headless().args(args).output().expect("run wgnn")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stdout of a command that must succeed.
pub fn ok(args: &[&str]) -> String {
    let out = wgnn(args);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "wgnn {args:?} failed:\n{stdout}{}",
        text(&out.stderr)
    );
    stdout
}

/// `wgnn synth TASK --out OUT --count COUNT --seed SEED`, which must succeed.
pub fn synth(task: &str, out: &str, count: usize, seed: u64) {
    ok(&[
        "synth",
        task,
        "--out",
        out,
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
}

/// The arguments of `wgnn train TASK --data DATA --out OUT`, then `flags`.
pub fn train_args<'a>(
    task: &'a str,
    data: &'a str,
    out: &'a str,
    flags: &[&'a str],
) -> Vec<&'a str> {
    [&["train", task, "--data", data, "--out", out][..], flags].concat()
}

/// The arguments of `wgnn eval TASK --weights WEIGHTS --data DATA`.
pub fn eval_args<'a>(task: &'a str, weights: &'a str, data: &'a str) -> Vec<&'a str> {
    vec!["eval", task, "--weights", weights, "--data", data]
}

/// The arguments of `wgnn predict TASK --weights WEIGHTS --images IMAGES --out OUT`, then `flags`.
pub fn predict_args<'a>(
    task: &'a str,
    weights: &'a str,
    images: &'a str,
    out: &'a str,
    flags: &[&'a str],
) -> Vec<&'a str> {
    let command = [
        "predict",
        task,
        "--weights",
        weights,
        "--images",
        images,
        "--out",
        out,
    ];
    [&command[..], flags].concat()
}

/// A temporary folder for one test.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// A path inside, as a command-line argument.
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

/// A scratch folder holding `train` and `val`, folders of `train_count` and `val_count` items of
/// `wgnn synth TASK` data (seeds 1 and 2).
pub fn train_and_val(task: &str, train_count: usize, val_count: usize) -> Scratch {
    let s = Scratch::new();
    synth(task, &s.arg("train"), train_count, 1);
    synth(task, &s.arg("val"), val_count, 2);
    s
}
