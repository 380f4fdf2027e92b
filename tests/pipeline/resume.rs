//! Long runs: a run interrupted and resumed ends bitwise where an uninterrupted one does, training
//! is bitwise reproducible, and a lost GPU leaves the last checkpoint intact (memory over many
//! steps: tests/soak.rs).

use std::path::Path;

use wgnn::checkpoint::Checkpoint;
use wgnn::models::{Architecture, Model, UpsamplingInit};
use wgnn::ops::optim::{AdamConfig, SgdConfig};
use wgnn::optimizer::OptimizerConfig;
use wgnn::train::{OnStep, StepEvent, TrainOptions, train, train_observed};
use wgnn::{Error, Gpu, GpuOptions};

use crate::gpu;
use crate::runs::{losses, tensors};
use crate::training::{options, two_classes};

/// VGG16-bn on `count` synthetic images of 2 classes, batches of 4, no validation set.
fn run(dir: &Path, count: usize, epochs: usize, optimizer: OptimizerConfig) -> TrainOptions {
    let data = two_classes(count, 1);
    let mut o = options(Architecture::Vgg16bn, data.clone(), data, 2, epochs, 4, dir);
    o.val = None;
    o.precise_bn = 4;
    o.optimizer = optimizer;
    o
}

const SGD: OptimizerConfig = OptimizerConfig::Sgd(SgdConfig {
    lr: 1e-4,
    momentum: 0.9,
    weight_decay: 5e-4,
});
const ADAM: OptimizerConfig = OptimizerConfig::Adam(AdamConfig {
    lr: 1e-4,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 5e-4,
});

/// The optimiser state file last.safetensors names.
fn optimizer_state(dir: &Path) -> std::path::PathBuf {
    let meta = Checkpoint::open(&dir.join("last.safetensors"))
        .unwrap()
        .metadata()
        .unwrap();
    dir.join(&meta["wgnn_optimizer_state"])
}

fn assert_same_run(a: &Path, b: &Path) {
    for file in ["last.safetensors", "best.safetensors"] {
        assert!(
            tensors(&a.join(file)) == tensors(&b.join(file)),
            "{file} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    assert!(
        tensors(&optimizer_state(a)) == tensors(&optimizer_state(b)),
        "optimiser states differ"
    );
    assert_eq!(losses(a), losses(b), "metrics.csv");
}

/// Ends a run after `stop` (epoch, step), as an interruption would.
fn stop_at(stop: (usize, usize)) -> impl FnMut(StepEvent) -> wgnn::Result<()> {
    move |e| {
        if (e.epoch, e.step) == stop {
            Err(Error::Device("interrupted".into()))
        } else {
            Ok(())
        }
    }
}

/// 12 images in batches of 4 are 3 steps per epoch; with a checkpoint every 2 steps, stopping
/// after epoch 1 step 3 loses a step (resumed from step 2) and stopping after epoch 2 step 1
/// resumes from epoch 1's end. Both optimisers, so momentum and Adam's moments and step count
/// must all come back. Bar: every tensor bitwise equal to the uninterrupted run's.
#[test]
fn a_resumed_run_ends_with_the_bits_of_an_uninterrupted_one() {
    for optimizer in [SGD, ADAM] {
        let whole = tempfile::tempdir().unwrap();
        let mut o = run(whole.path(), 12, 2, optimizer);
        o.checkpoint_every = 2;
        train(gpu(), &o).unwrap();

        let cut = tempfile::tempdir().unwrap();
        let mut o = run(cut.path(), 12, 2, optimizer);
        o.checkpoint_every = 2;
        for (i, stop) in [(1, 3), (2, 1)].into_iter().enumerate() {
            o.resume = i > 0;
            let err = train_observed(gpu(), &o, &mut OnStep(stop_at(stop))).unwrap_err();
            assert!(err.to_string().contains("--resume"), "{err}");
        }
        o.resume = true;
        let records = train(gpu(), &o).unwrap();
        assert_eq!(records.len(), 2, "metrics of both epochs are kept");
        assert_same_run(whole.path(), cut.path());
    }
}

/// Same data, weights and seed: bitwise the same weights, optimiser state and losses.
#[test]
fn training_is_bitwise_reproducible() {
    let [a, b] = [0, 1].map(|_| tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        train(gpu(), &run(dir.path(), 12, 1, ADAM)).unwrap();
    }
    assert_same_run(a.path(), b.path());
}

#[test]
fn a_run_folder_is_only_continued_with_the_same_settings_and_epochs_left() {
    let dir = tempfile::tempdir().unwrap();
    train(gpu(), &run(dir.path(), 4, 1, SGD)).unwrap();
    let mut o = run(dir.path(), 4, 1, SGD);
    let before = tensors(&dir.path().join("best.safetensors"));
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(
        err.contains("already holds a run") && err.contains("--resume"),
        "{err}"
    );
    assert!(
        tensors(&dir.path().join("best.safetensors")) == before,
        "best.safetensors changed"
    );
    o.resume = true;
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(err.contains("finished its 1 epochs"), "{err}");
    assert!(err.contains("--epochs"), "{err}");

    o.epochs = 2;
    o.batch_size = 2;
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(err.contains("--batch-size 4, this command has 2"), "{err}");

    o.batch_size = 4;
    o.optimizer = ADAM;
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(err.contains("--optimizer"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let mut o = run(empty.path(), 4, 1, SGD);
    o.resume = true;
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(err.contains("last.safetensors does not exist"), "{err}");
}

/// The GPU goes away after step 2 (as in a reset): the run ends with an error that says so and
/// how to continue, and the checkpoint of step 2 loads.
#[test]
fn a_lost_device_ends_the_run_and_keeps_the_last_checkpoint() {
    let doomed = Gpu::new(&GpuOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut o = run(dir.path(), 12, 1, SGD);
    o.checkpoint_every = 1;
    let mut lose = |e: StepEvent| {
        if e.step == 2 {
            doomed.lose_device();
        }
        Ok(())
    };
    let err = train_observed(&doomed, &o, &mut OnStep(&mut lose))
        .unwrap_err()
        .to_string();
    assert!(err.contains("lost"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let last = Checkpoint::open(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!(last.metadata().unwrap()["wgnn_step"], "2");
    let mut model =
        Model::new(gpu(), Architecture::Vgg16bn, 2, 0, UpsamplingInit::Default).unwrap();
    last.load_into(gpu(), &mut model).unwrap();
}
