//! Training settings shared by the tests that train.

use wgnn::optimizer::{AdamConfig, OptimizerConfig};

/// Adam at learning rate `lr` without weight decay, PyTorch's betas and eps otherwise.
pub fn adam_without_decay(lr: f32) -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig {
        lr,
        weight_decay: 0.0,
        ..AdamConfig::default()
    })
}
