//! Flags out of range and outputs that cannot be written.

use super::*;

#[test]
fn absurd_flags_and_unwritable_outputs_are_one_line() {
    let s = Scratch::new();
    let data = s.synth("classes", &["classify", "--count", "4"]);
    let data = data.to_str().unwrap();
    let earlier = s.earlier_run("run");
    let run = s.arg("run");
    for (flag, value) in [
        ("--batch-size", "0"),
        ("--batch-size", "-4"),
        ("--epochs", "0"),
        ("--epochs", "-1"),
        ("--checkpoint-every", "-1"),
        ("--precise-bn", "-5"),
        ("--lr", "-1"),
        ("--lr", "0"),
        ("--lr", "NaN"),
        ("--lr", "inf"),
        ("--momentum", "-0.5"),
        ("--momentum", "1"),
        ("--weight-decay", "-1"),
        ("--weight-decay", "inf"),
    ] {
        fails(
            &train_args("classify", data, &run, &[flag, value]),
            &[flag, &format!("'{value}'"), "expected"],
        );
    }
    earlier.check();
    let synth = s.arg("synth");
    for (task, size, words) in [
        ("segment", "100", &["--size", "'100'", "multiple of 32"][..]),
        ("segment", "0", &["--size", "'0'", "multiple of 32"]),
        (
            "classify",
            "64",
            &["--size", "classification images are 32x32"],
        ),
    ] {
        fails(&["synth", task, "--out", &synth, "--size", size], words);
    }
    let weights = vgg_weights(&s);
    let mut zero_batch = eval_args("classify", &weights, data);
    zero_batch.extend(["--batch-size", "0"]);
    fails(&zero_batch, &["--batch-size", "at least 1"]);

    // Under a regular file nothing can be created, whoever runs the test (root included).
    std::fs::write(s.path("file"), "a regular file").unwrap();
    fails(
        &train_args("classify", data, &s.arg("file/run"), &[]),
        &["cannot create", "file/run"],
    );
    fails(
        &predict_args("classify", &weights, data, &s.arg("file/preds.csv"), &[]),
        &["cannot write", "file/preds.csv"],
    );
    fails(
        &predict_args("classify", &weights, data, &run, &[]),
        &["cannot write", "is a folder"],
    );
    let logits = ["--logits", &s.arg("file/logits.safetensors")];
    fails(
        &predict_args("classify", &weights, data, &s.arg("preds.csv"), &logits),
        &["cannot write", "file/logits.safetensors"],
    );
    let fcn = fcn_weights(&s);
    fails(
        &predict_args("segment", &fcn, data, &s.arg("file/masks"), &[]),
        &["cannot create", "file/masks"],
    );
    assert!(!s.path("preds.csv").exists());
    earlier.check();
}
