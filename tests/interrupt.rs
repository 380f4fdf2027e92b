//! `wgnn train` killed (SIGKILL) at random points, several times: every time, the last checkpoint
//! and the optimiser state it names load; resumed with `--resume` until it finishes, the run ends
//! with bitwise the weights of a run that was never interrupted.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use wgnn::checkpoint::Checkpoint;
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::{Gpu, GpuOptions};

#[path = "support/runs.rs"]
mod runs;
use runs::{losses, tensors};

fn wgnn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wgnn"));
    command
        .env_remove("WGNN_ADAPTER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The training command, starting in `out` or resuming it.
fn train(data: &Path, out: &Path, resume: bool) -> Command {
    let mut command = wgnn();
    command.args(["train", "classify", "--data"]).arg(data);
    command.args([
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--checkpoint-every",
        "1",
        "--precise-bn",
        "4",
        "--seed",
        "5",
    ]);
    command
        .arg(if resume { "--resume" } else { "--out" })
        .arg(out);
    command
}

/// The checkpoint a killed run left loads into the model, and the optimiser state it names opens.
fn assert_resumable(gpu: &Gpu, out: &Path, context: &str) {
    let ck = Checkpoint::open(&out.join("last.safetensors"))
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    let mut model = Model::new(gpu, Architecture::Vgg16bn, 3, 0, UpsamplingInit::Default).unwrap();
    ck.load_into(gpu, &mut model)
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    let state = &ck.metadata().unwrap()["wgnn_optimizer_state"];
    Checkpoint::open(&out.join(state)).unwrap_or_else(|e| panic!("{context}: {e}"));
}

#[test]
fn a_run_killed_at_random_points_resumes_to_the_same_weights() {
    let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| {
        panic!("GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
    });
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let status = wgnn()
        .args([
            "synth",
            "classify",
            "--count",
            "12",
            "--classes",
            "3",
            "--out",
        ])
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());

    let whole = dir.path().join("whole");
    let started = Instant::now();
    let out = train(&data, &whole, false).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full_run = started.elapsed();

    // Kill points between 10 % and 30 % of a whole run's duration, so that four kills cannot let
    // the run finish (each restart also pays the start-up again); the first may come before any
    // checkpoint exists. The seed is printed with any failure.
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut state = u64::from(seed) | 1;
    let mut next_delay = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        full_run.mul_f64(0.1 + 0.2 * (state >> 11) as f64 / (1u64 << 53) as f64)
    };
    let cut = dir.path().join("cut");
    let mut kills = 0;
    let mut finished = false;
    for attempt in 0..12 {
        let resume = cut.join("last.safetensors").exists();
        let mut child = train(&data, &cut, resume).spawn().unwrap();
        let delay = if kills < 4 { Some(next_delay()) } else { None };
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let context = format!("seed {seed}, attempt {attempt}, killed after {delay:?}");
        if delay.is_some() && child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            if cut.join("last.safetensors").exists() {
                assert_resumable(&gpu, &cut, &context);
            }
            continue;
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{context}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        finished = true;
        break;
    }
    assert!(finished && kills == 4, "seed {seed}: {kills} kills");
    for file in ["last.safetensors", "best.safetensors"] {
        assert!(
            tensors(&whole.join(file)) == tensors(&cut.join(file)),
            "seed {seed}: {file} of the interrupted run differs"
        );
    }
    assert_eq!(losses(&whole), losses(&cut), "seed {seed}: metrics.csv");
}
