//! The `wgnn` binary: `info`, `gradcheck`, and one-line errors with a non-zero exit.

#[allow(dead_code)] // each test binary uses its own part
#[path = "support/cli.rs"]
mod cli_support;
use wgnn::models::{Architecture, Model, UpsamplingInit};

use cli_support::{
    Scratch, eval_args, headless, ok, predict_args, text, train_and_val, train_args, wgnn,
};

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
        "wgnn kernels",
        "WGNN_KERNELS",
        "wgnn uses:",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

/// Nothing but wgnn's own output: no driver noise on stderr, even without `XDG_RUNTIME_DIR`.
#[test]
fn info_is_quiet_on_stderr_when_headless() {
    let out = wgnn(&["info"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "");
}

/// `wgnn info | head -1`: a reader that closes the pipe ends wgnn without a panic message.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = headless()
        .arg("info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wgnn");
    // Closed before wgnn has enumerated adapters, so its first write finds no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.status.success());
}

#[test]
fn gradcheck_prints_one_passing_line_per_kernel() {
    let out = wgnn(&["gradcheck"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for name in wgnn::gradcheck::CHECKS.iter().map(|c| c.name) {
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
        headless()
            .arg("info")
            .env("WGNN_ADAPTER", "no-such-gpu-xyz")
            .output()
            .unwrap(),
    ] {
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with("error: no adapter name contains \"no-such-gpu-xyz\""),
            "{stderr}"
        );
    }
}

/// The workgroup size can be chosen (the kernels still pass their checks) and a bad one is a
/// one-line error.
#[test]
fn workgroup_size_is_overridable_and_checked() {
    let run = |size: &str| {
        headless()
            .args([
                "gradcheck",
                "--only",
                "conv2d",
                "--only",
                "batch_norm2d_train",
            ])
            .env("WGNN_WORKGROUP_SIZE", size)
            .output()
            .unwrap()
    };
    let out = run("128");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("all checks passed"));
    for bad in ["0", "lots", "100000"] {
        let line = one_line_error(&run(bad));
        assert!(line.contains("workgroup size") || line.contains("WGNN_WORKGROUP_SIZE"));
    }
}

/// The one stderr line, starting `error:`, of a command that failed without a panic.
fn one_line_error(out: &std::process::Output) -> String {
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error:"), "{stderr}");
    lines[0].to_owned()
}

/// The kernel family, the CPU family's product block and operands and WebGPU's limits can be
/// chosen by the environment (the kernels pass their checks; the Winograd check's products are
/// the batched ones, so every product block and both ways of reading operands meet finite
/// differences on any machine), and a bad choice is a one-line error.
#[test]
fn kernel_family_product_block_and_limits_are_choosable_and_checked() {
    let run = |vars: &[(&str, &str)]| {
        headless()
            .args([
                "gradcheck",
                "--only",
                "conv2d",
                "--only",
                "conv2d_winograd4x4_rows",
                "--only",
                "linear",
            ])
            .envs(vars.iter().copied())
            .output()
            .unwrap()
    };
    // The product blocks and operands with the cpu family, which alone has them.
    let cpu = ("WGNN_KERNELS", "cpu");
    let block = ("WGNN_PRODUCT_BLOCK", "32");
    for vars in [
        &[("WGNN_KERNELS", "gpu")][..],
        &[("WGNN_LIMITS", "webgpu")],
        &[cpu, ("WGNN_PRODUCT_BLOCK", "8")],
        &[cpu, ("WGNN_PRODUCT_BLOCK", "16")],
        &[cpu, block, ("WGNN_PRODUCT_OPERANDS", "buffers")],
        &[cpu, block, ("WGNN_PRODUCT_OPERANDS", "textures")],
    ] {
        let out = run(vars);
        assert!(out.status.success(), "{vars:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("all checks passed"));
    }
    for (var, value) in [
        ("WGNN_KERNELS", "tpu"),
        ("WGNN_LIMITS", "huge"),
        ("WGNN_PRODUCT_BLOCK", "12"),
        ("WGNN_PRODUCT_OPERANDS", "pixels"),
        ("WGNN_UPDATE_LOADS", "bytes"),
    ] {
        assert!(one_line_error(&run(&[(var, value)])).contains(var));
    }
}

/// `wgnn predict TASK` with the run's last weights on `val`, into `out`, with `--logits`: the
/// shape of the logits it wrote.
fn predict_logits_shape(s: &Scratch, task: &str, out: &str) -> Vec<usize> {
    ok(&predict_args(
        task,
        &s.arg("run/last.safetensors"),
        &s.arg("val"),
        &s.arg(out),
        &["--logits", &s.arg("logits.safetensors")],
    ));
    let bytes = std::fs::read(s.path("logits.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor("logits").unwrap().shape().to_vec()
}

/// synth -> train -> eval -> predict in a temporary folder, for classification.
#[test]
fn classify_end_to_end() {
    let s = train_and_val("classify", 6, 4);
    let log = ok(&train_args(
        "classify",
        &s.arg("train"),
        &s.arg("run"),
        &[
            "--val",
            &s.arg("val"),
            "--epochs",
            "1",
            "--batch-size",
            "3",
            "--optimizer",
            "adam",
            "--lr",
            "1e-4",
        ],
    ));
    assert!(log.contains("epoch 1/1: train loss"), "{log}");
    let csv = std::fs::read_to_string(s.arg("run/metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,train_loss,val_metric,seconds\n1,"),
        "{csv}"
    );
    let eval = ok(&eval_args(
        "classify",
        &s.arg("run/best.safetensors"),
        &s.arg("val"),
    ));
    assert!(eval.contains("accuracy "), "{eval}");
    let logits = predict_logits_shape(&s, "classify", "preds.csv");
    let preds = std::fs::read_to_string(s.arg("preds.csv")).unwrap();
    let rows: Vec<&str> = preds.lines().collect();
    assert_eq!(rows[0], "image_id,label");
    assert_eq!(rows.len(), 5, "{preds}");
    assert!(rows[1].starts_with("0_0.png,"), "{preds}");
    // Six training images of the built-in set carry labels 0..5: the model has six classes.
    assert_eq!(logits, [4, 6]);
}

/// Each model trains an epoch on the GL backend, with the device's own kernel family (the kernel
/// tests run the GPU family on it).
#[test]
fn every_model_trains_on_gl() {
    every_model_trains_with(("WGPU_BACKEND", "gl"));
}

/// Each model trains an epoch under WebGPU's default limits, with the device's own kernel family
/// (the kernel tests run the GPU family under them).
#[test]
fn every_model_trains_under_webgpu_limits() {
    every_model_trains_with(("WGNN_LIMITS", "webgpu"));
}

/// An epoch of each model with the environment variable `env` set.
fn every_model_trains_with(env: (&str, &str)) {
    let classify = train_and_val("classify", 3, 1);
    let segment = train_and_val("segment", 2, 1);
    for (task, model, s) in [
        ("classify", "vgg16bn", &classify),
        ("segment", "fcn32s", &segment),
        ("segment", "fcn16s", &segment),
        ("segment", "fcn8s", &segment),
    ] {
        let mut command = headless();
        command.args(train_args(
            task,
            &s.arg("train"),
            &s.arg(model),
            &["--model", model, "--epochs", "1", "--batch-size", "2"],
        ));
        command.env(env.0, env.1);
        let run = command.output().unwrap();
        let log = text(&run.stdout);
        assert!(
            run.status.success() && log.contains("epoch 1/1: train loss"),
            "{model} with {env:?}:\n{log}{}",
            text(&run.stderr)
        );
    }
}

/// synth -> train -> eval -> predict for segmentation, with FCN16s.
#[test]
fn segment_end_to_end() {
    let s = train_and_val("segment", 2, 2);
    ok(&train_args(
        "segment",
        &s.arg("train"),
        &s.arg("run"),
        &[
            "--model",
            "fcn16s",
            "--val",
            &s.arg("val"),
            "--epochs",
            "1",
            "--batch-size",
            "2",
        ],
    ));
    let eval = ok(&eval_args(
        "segment",
        &s.arg("run/last.safetensors"),
        &s.arg("val"),
    ));
    for needle in ["0 urban", "5 barren", "mIoU"] {
        assert!(eval.contains(needle), "{eval}");
    }
    let logits = predict_logits_shape(&s, "segment", "masks");
    for id in ["0000", "0001"] {
        let mask = image::open(s.arg(&format!("masks/{id}_mask.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(mask.dimensions(), (64, 64));
        let palette: Vec<[u8; 3]> = wgnn::data::LAND_COVER.iter().map(|c| c.1).collect();
        assert!(
            mask.pixels().all(|px| palette.contains(&px.0)),
            "mask colours are the land-cover code"
        );
    }
    assert_eq!(logits, [2, 7, 64, 64]);
}

/// FCN8s trains an epoch on the built-in tiles (validated on the built-in validation set), and
/// `eval` recognises its weights from their tensor names.
#[test]
fn fcn8s_trains_on_the_builtin_tiles() {
    let s = Scratch::new();
    let log = ok(&[
        "train",
        "segment",
        "--model",
        "fcn8s",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--out",
        &s.arg("run"),
    ]);
    assert!(log.contains("epoch 1/1: train loss"), "{log}");
    let eval = ok(&[
        "eval",
        "segment",
        "--weights",
        &s.arg("run/last.safetensors"),
    ]);
    assert!(eval.contains("mIoU"), "{eval}");
}

#[test]
fn summary_prints_the_pytorch_tree() {
    let out = ok(&["summary", "--model", "vgg16bn", "--classes", "10"]);
    assert!(
        out.starts_with(
            "VGG16bn(\n  (features): Sequential(\n    (0): Conv2d(3, 64, kernel_size=(3, 3)"
        ),
        "{out}"
    );
    assert!(
        out.contains("(classifier): Linear(in_features=25088, out_features=10, bias=True)"),
        "{out}"
    );
    assert!(out.ends_with("parameters: 14974026\n"), "{out}");
}

#[test]
fn task_and_model_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out = wgnn(&[
        "train",
        "classify",
        "--model",
        "fcn32s",
        "--out",
        &dir.path().to_string_lossy(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("fcn32s is a segmentation model; use `segment`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bench_reports_steps_and_kernels_as_json() {
    let out = ok(&[
        "bench",
        "--model",
        "vgg16bn",
        "--batch",
        "2",
        "--steps",
        "1",
        "--optimizer",
        "adam",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        v["ceilings"]["compute_gflops"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    assert!(v["ceilings"]["copy_gbps"].as_f64().unwrap() > 0.0, "{out}");
    let m = &v["models"][0];
    assert_eq!(
        (m["model"].as_str(), m["batch"].as_u64(), m["size"].as_u64()),
        (Some("vgg16bn"), Some(2), Some(32))
    );
    assert_eq!(m["optimizer"].as_str(), Some("adam"), "{out}");
    for key in [
        "train_images_per_second",
        "inference_images_per_second",
        "first_step_seconds",
    ] {
        assert!(m[key].as_f64().unwrap() > 0.0, "{key}: {out}");
    }
    let bytes = |key: &str| m[key].as_u64().unwrap();
    // VGG16-bn's weights, running statistics and Adam's two moments: 3 x 14.7 M floats at least.
    assert!(bytes("model_state_bytes") > 3 * 14_700_000 * 4, "{out}");
    assert!(bytes("saved_activation_bytes") > 0, "{out}");
    assert!(
        bytes("peak_pool_bytes") >= bytes("model_state_bytes") + bytes("saved_activation_bytes"),
        "{out}"
    );
    let kernels = m["kernels"].as_array().unwrap();
    // Launches of `entry` (`file.wgsl::entry`) with each variant the profiler names in brackets
    // after it (a fused ReLU, operands read from texture copies), where `variant` accepts it.
    let calls_where = |entry: &str, variant: &dyn Fn(&str) -> bool| -> u64 {
        kernels
            .iter()
            .filter(|k| {
                let name = k["kernel"].as_str().unwrap();
                match name.strip_prefix(entry) {
                    Some("") => variant(""),
                    Some(rest) => rest
                        .strip_prefix(" (")
                        .and_then(|r| r.strip_suffix(')'))
                        .is_some_and(variant),
                    None => false,
                }
            })
            .map(|k| k["calls"].as_u64().unwrap())
            .sum()
    };
    let calls = |entry: &str| calls_where(entry, &|_| true);
    let with_relu = |entry: &str| calls_where(entry, &|v| v.split(", ").any(|part| part == "relu"));
    // 13 convolutions forward, and 12 input gradients (not the image's) run as forward convolutions:
    // direct below 64 input channels, by either Winograd variant from 64.
    assert_eq!(
        calls("conv2d.wgsl::forward_rows")
            + calls("conv2d.wgsl::forward_rows_bias")
            + calls("winograd.wgsl::output_transform")
            + calls("winograd.wgsl::output_transform_bias")
            + calls("winograd4x4.wgsl::output_transform")
            + calls("winograd4x4.wgsl::output_transform_bias"),
        25,
        "{out}"
    );
    // Every ReLU follows a BatchNorm2d and runs in its 13 passes: no ReLU pass of its own.
    assert_eq!(
        with_relu("batch_norm.wgsl::apply") + with_relu("batch_norm.wgsl::apply_vec4"),
        13,
        "{out}"
    );
    assert_eq!(
        calls("elementwise.wgsl::relu_forward") + calls("elementwise.wgsl::relu_backward"),
        0,
        "{out}"
    );
    // Every parameter updated in one launch (VGG16-bn's 60 MB of weights fit one binding), by
    // vec4s or by 64-bit words, or, where the device reads texture copies, in ranges of just under
    // 2 M parameters (128 rows of 4096 texels an operand): 8 for VGG16-bn's 15.2 M.
    let from_buffers = calls_where("optim.wgsl::adam", &|v| v.is_empty());
    let by_words = calls("optim.wgsl::adam_words");
    let from_textures = calls_where("optim.wgsl::adam", &|v| v == "texture copies");
    assert!(
        matches!(
            (from_buffers, by_words, from_textures),
            (1, 0, 0) | (0, 1, 0) | (0, 0, 8)
        ),
        "{from_buffers} + {by_words} + {from_textures} launches: {out}"
    );
    // Kernels that read texture copies come with the copies' own row where the device (the same
    // one the command chose) writes timestamps between commands.
    let reads_copies = kernels
        .iter()
        .any(|k| k["kernel"].as_str().unwrap().contains("texture cop"));
    let times_copies = wgnn::Gpu::new(&wgnn::GpuOptions::default())
        .unwrap()
        .times_copies();
    assert_eq!(
        calls("copy_buffer_to_texture") > 0,
        reads_copies && times_copies,
        "{out}"
    );
    let share: f64 = kernels.iter().map(|k| k["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "shares add up to 1: {share}");
}

/// The README's homework recipe, every command of its block as written, except one epoch each on
/// small synthetic sets in the homework's layout, the snapshot tiles those sets have, and a
/// backbone `.pth` converted from an untrained VGG16-bn's checkpoint (which classes and weights it
/// has does not matter to the recipe: only its `features.*`, torchvision's names, are loaded).
#[test]
fn the_readme_recipe_runs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let block = readme
        .split("### The homework's recipe")
        .nth(1)
        .and_then(|section| section.split("```sh\n").nth(1))
        .and_then(|code| code.split("```").next())
        .expect("the README's recipe block");
    let commands: Vec<String> = block
        .replace("\\\n", " ")
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(commands.len() >= 9, "{commands:?}");

    let s = Scratch::new();
    for (task, folder, count, seed) in [
        ("classify", "hw/train_50", "64", "1"),
        ("classify", "hw/val_50", "50", "2"),
        ("segment", "hw/train", "4", "1"),
        ("segment", "hw/validation", "3", "2"),
    ] {
        let out = s.arg(folder);
        let mut args = vec![
            "synth", task, "--out", &out, "--count", count, "--seed", seed,
        ];
        if task == "classify" {
            args.extend(["--classes", "50"]);
        }
        ok(&args);
    }
    let backbone = "vgg16_bn-6c64b313.pth";
    let gpu = wgnn::Gpu::new(&wgnn::GpuOptions::default()).unwrap();
    let mut vgg = Model::new(&gpu, Architecture::Vgg16bn, 10, 1, UpsamplingInit::Default).unwrap();
    wgnn::checkpoint::save(&gpu, &mut vgg, &s.path("vgg.safetensors")).unwrap();
    ok(&["convert", &s.arg("vgg.safetensors"), &s.arg(backbone)]);

    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"wgnn"), "{command}");
        let mut args = Vec::new();
        for (i, word) in words.iter().enumerate().skip(1) {
            let arg = match words[i - 1] {
                "--epochs" => "1".to_owned(),
                "--snapshot" | "--ids" => "0000,0001,0002".to_owned(),
                _ if word.starts_with("hw/") || word.starts_with("runs/") => s.arg(word),
                _ if *word == backbone || word.ends_with(".png") => s.arg(word),
                _ => (*word).to_owned(),
            };
            args.push(arg);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args);
    }
    assert!(s.path("compare.png").is_file());
    assert!(s.path("runs/fcn8s/snapshots.png").is_file());
}
