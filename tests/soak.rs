//! Many training steps: GPU and host memory stay flat after warm-up. A test binary of its own, so
//! no other test shares the process whose resident memory it measures.

use std::sync::Arc;

use wgnn::data::{Augment, SyntheticClassify};
use wgnn::models::Architecture;
use wgnn::train::{OnStep, StepEvent, TrainOptions, train_observed};
use wgnn::{Gpu, GpuOptions};

#[path = "support/train.rs"]
mod train_support;
use train_support::adam_without_decay;

/// Resident memory of this process, from /proc (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// VGG16-bn, 4 epochs of 8 steps of 4 images, checkpoints and Precise BN after each. After the
/// first epoch (warm-up: every shape seen once), the buffer pool's bytes must not change at all,
/// and resident host memory may grow by at most 16 MiB over the last two epochs (allocator
/// noise; keeping one batch of images or one checkpoint per epoch alive would exceed it).
#[test]
fn memory_stays_flat_over_many_steps() {
    let gpu = Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| {
        panic!("GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
    });
    let dir = tempfile::tempdir().unwrap();
    let data = Arc::new(SyntheticClassify {
        count: 32,
        classes: 2,
        seed: 1,
    });
    let o = TrainOptions {
        epochs: 4,
        batch_size: 4,
        optimizer: adam_without_decay(1e-3),
        augment: Augment::Flip,
        precise_bn: 8,
        ..TrainOptions::new(Architecture::Vgg16bn, data, 2, dir.path().to_owned())
    };
    let mut samples = Vec::new();
    let mut watch = |e: StepEvent| {
        if e.step == 8 {
            samples.push((gpu.pool_stats().allocated_bytes, resident_bytes()));
        }
        Ok(())
    };
    train_observed(&gpu, &o, &mut OnStep(&mut watch)).unwrap();
    let [_, (pool2, rss2), (pool3, _), (pool4, rss4)] = samples[..] else {
        panic!("{samples:?}")
    };
    assert_eq!(
        [pool2, pool3],
        [pool4, pool4],
        "GPU buffer pool bytes after epochs 2, 3 and 4"
    );
    assert!(
        rss4 < rss2 + (16 << 20),
        "resident memory grew from {rss2} to {rss4} bytes over two epochs"
    );
    eprintln!("pool {pool4} bytes; resident memory {rss2} -> {rss4} bytes");
}
