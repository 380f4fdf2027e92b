//! Short training runs on synthetic data: the loss falls and the metric clears a stated bar.

use std::sync::Arc;

use wgnn::data::{Dataset, SyntheticClassify, SyntheticSegment};
use wgnn::models::{Architecture, UpsamplingInit};
use wgnn::optimizer::OptimizerConfig;
use wgnn::train::{TrainOptions, train};

use crate::gpu;
use crate::train_support::adam_without_decay;

/// `count` images of two synthetic classes.
pub fn two_classes(count: usize, seed: u64) -> Arc<dyn Dataset> {
    Arc::new(SyntheticClassify {
        count,
        classes: 2,
        seed,
    })
}

/// `count` synthetic 32x32 tiles.
fn small_tiles(count: usize, seed: u64) -> Arc<dyn Dataset> {
    Arc::new(SyntheticSegment {
        count,
        size: 32,
        seed,
    })
}

pub fn options(
    arch: Architecture,
    train_set: Arc<dyn Dataset>,
    val: Arc<dyn Dataset>,
    classes: usize,
    epochs: usize,
    batch: usize,
    out: &std::path::Path,
) -> TrainOptions {
    TrainOptions {
        val: Some(val),
        epochs,
        batch_size: batch,
        optimizer: adam_without_decay(1e-4),
        upsampling_init: UpsamplingInit::Bilinear,
        seed: 3,
        precise_bn: 100,
        ..TrainOptions::new(arch, train_set, classes, out.to_owned())
    }
}

/// VGG16-bn on 16 images of 2 synthetic classes: after a few epochs the loss has fallen and the
/// held-out images are classified well above chance (bar: accuracy >= 0.75 on 16 images).
#[test]
fn vgg16bn_learns_synthetic_classes() {
    let dir = tempfile::tempdir().unwrap();
    let (train_set, val) = (two_classes(16, 1), two_classes(16, 2));
    let records = train(
        gpu(),
        &options(Architecture::Vgg16bn, train_set, val, 2, 4, 4, dir.path()),
    )
    .unwrap();
    let (first, last) = (&records[0], records.last().unwrap());
    assert!(
        last.train_loss < 0.7 * first.train_loss,
        "loss did not fall: {records:?}"
    );
    assert!(
        last.val_metric >= 0.75,
        "validation accuracy {} below 0.75: {records:?}",
        last.val_metric
    );
    for f in ["last.safetensors", "best.safetensors", "metrics.csv"] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(
        csv.starts_with("epoch,train_loss,val_metric,seconds\n1,"),
        "{csv}"
    );
}

/// FCN32s (with dropout), FCN16s and FCN8s (with their skip connections) on two 32x32 synthetic
/// tiles, one step an epoch: the loss falls. (The homework's 100-pixel padding makes a step on
/// 32x32 tiles cost what one on 230x230 images does, so the runs are kept short.)
#[test]
fn fcn_losses_fall_on_synthetic_tiles() {
    for arch in [
        Architecture::Fcn32s,
        Architecture::Fcn16s,
        Architecture::Fcn8s,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (train_set, val) = (small_tiles(2, 1), small_tiles(2, 2));
        let records = train(gpu(), &options(arch, train_set, val, 7, 3, 2, dir.path())).unwrap();
        assert!(
            records[2].train_loss < records[0].train_loss,
            "{arch:?}: {records:?}"
        );
    }
}

/// A loss that stops being finite ends training with an error naming the epoch and the step, read
/// one step late (losses are collected after the next step is submitted), and no checkpoint of the
/// failed epoch is written.
#[test]
fn a_diverging_loss_stops_training_with_its_epoch_and_step() {
    let dir = tempfile::tempdir().unwrap();
    let (train_set, val) = (two_classes(12, 1), two_classes(12, 2));
    let mut o = options(Architecture::Vgg16bn, train_set, val, 2, 2, 4, dir.path());
    o.optimizer = OptimizerConfig::Sgd(wgnn::ops::optim::SgdConfig {
        lr: 1e30,
        momentum: 0.0,
        weight_decay: 0.0,
    });
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(err.contains("the loss became"), "{err}");
    assert!(
        err.contains("at epoch 1, step 2;") || err.contains("at epoch 1, step 3;"),
        "{err}"
    );
    assert!(!dir.path().join("last.safetensors").exists());

    // Checkpointing every step, each loss is read before its checkpoint: the error names the
    // exact step, and the checkpoint of the step before it is there, finite, and loads.
    let dir = tempfile::tempdir().unwrap();
    o.out = dir.path().to_owned();
    o.checkpoint_every = 1;
    let err = train(gpu(), &o).unwrap_err().to_string();
    assert!(
        err.contains("the loss became") && err.contains("at epoch 1, step 2;"),
        "{err}"
    );
    let last = wgnn::checkpoint::Checkpoint::open(&dir.path().join("last.safetensors")).unwrap();
    assert_eq!(last.metadata().unwrap()["wgnn_step"], "1");
    let mut model =
        wgnn::models::Model::new(gpu(), Architecture::Vgg16bn, 2, 0, UpsamplingInit::Default)
            .unwrap();
    last.load_into(gpu(), &mut model).unwrap();
}
