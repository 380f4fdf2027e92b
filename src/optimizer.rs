//! Optimisers over a model's parameters: the state each keeps per parameter (SGD's momentum
//! buffer, Adam's moments), stepped with the optim.wgsl kernels.

use std::collections::HashMap;

use crate::error::Result;
use crate::gpu::Gpu;
use crate::models::Model;
use crate::nn::Entry;
use crate::ops::optim::{self, AdamConfig, SgdConfig};
use crate::tensor::Tensor;

/// Which update rule, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Per parameter name: the momentum buffer (SGD) or the two moments (Adam).
    state: HashMap<String, Vec<Tensor>>,
    /// Steps taken (Adam's bias correction counts them from 1).
    pub steps: u64,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Optimizer {
        Optimizer {
            config,
            state: HashMap::new(),
            steps: 0,
        }
    }

    /// Updates every parameter that has a gradient, then drops the gradients.
    pub fn step(&mut self, gpu: &Gpu, model: &mut Model) -> Result<()> {
        self.steps += 1;
        let mut failure = None;
        model.visit(&mut |name, entry| {
            let Entry::Param(p) = entry else { return };
            let Some(grad) = p.grad.take() else { return };
            if failure.is_some() {
                return;
            }
            let first = !self.state.contains_key(name);
            let buffers = self.state.entry(name.to_owned()).or_insert_with(|| {
                let n = match self.config {
                    OptimizerConfig::Sgd(_) => 1,
                    OptimizerConfig::Adam(_) => 2,
                };
                (0..n)
                    .map(|_| Tensor::zeros(gpu, p.value.shape()))
                    .collect()
            });
            let result = match self.config {
                OptimizerConfig::Sgd(c) => {
                    optim::sgd_step(gpu, &p.value, &grad, &buffers[0], first, c)
                }
                OptimizerConfig::Adam(c) => optim::adam_step(
                    gpu,
                    &p.value,
                    &grad,
                    &buffers[0],
                    &buffers[1],
                    self.steps,
                    c,
                ),
            };
            failure = result.err();
        });
        failure.map_or(Ok(()), Err)
    }
}
