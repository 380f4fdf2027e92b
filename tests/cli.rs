//! The `wgnn` binary: `info`, `gradcheck`, and one-line errors with a non-zero exit.

use std::process::{Command, Output};

fn wgnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgnn"))
        .args(args)
        .env_remove("WGNN_ADAPTER")
        .output()
        .expect("run wgnn")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn info_lists_adapters_limits_and_the_choice() {
    let out = wgnn(&["info"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for needle in [
        "max buffer size",
        "max storage binding size",
        "max workgroups per dimension",
        "workgroup memory",
        "subgroup sizes",
        "timestamp queries",
        "wgnn uses:",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn gradcheck_prints_one_passing_line_per_kernel() {
    let out = wgnn(&["gradcheck"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for name in wgnn::gradcheck::CHECKS {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"));
        assert!(
            line.contains("max rel err") && line.ends_with("pass"),
            "{line}"
        );
    }
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn gradcheck_runs_a_chosen_subset() {
    let out = wgnn(&["gradcheck", "--only", "relu", "--only", "adam"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert_eq!(
        stdout.lines().filter(|l| l.contains("max rel err")).count(),
        2,
        "{stdout}"
    );
    let bad = wgnn(&["gradcheck", "--only", "nonsense"]);
    assert!(!bad.status.success());
}

#[test]
fn an_unknown_adapter_is_one_line_and_a_failure() {
    for out in [
        wgnn(&["--adapter", "no-such-gpu-xyz", "gradcheck"]),
        Command::new(env!("CARGO_BIN_EXE_wgnn"))
            .arg("info")
            .env("WGNN_ADAPTER", "no-such-gpu-xyz")
            .output()
            .unwrap(),
    ] {
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        let ours: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("no-such-gpu-xyz"))
            .collect();
        assert_eq!(ours.len(), 1, "{stderr}");
        assert!(
            ours[0].starts_with("error: no adapter name contains"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
