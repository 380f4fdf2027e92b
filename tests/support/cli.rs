//! Running the `wgnn` binary from tests.

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
