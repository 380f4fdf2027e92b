//! Optimisers over a module's parameters: the state each keeps per parameter (SGD's momentum
//! buffer, Adam's moments), stepped with the optim.wgsl kernels. Saving and restoring that state
//! is the training loop's (`train::resume`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{Entry, Module};
use crate::ops::optim;
pub use crate::ops::optim::{AdamConfig, SgdConfig};
use crate::tensor::Tensor;

/// Which update rule, with its hyper-parameters (`Default`: Adam with `AdamConfig::default()`,
/// what `wgnn train` uses unless told otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(AdamConfig::default())
    }
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

    /// Names of the state tensors kept per parameter, as PyTorch's optimisers call them.
    pub fn state_names(&self) -> &'static [&'static str] {
        match self.config {
            OptimizerConfig::Sgd(_) => &["momentum_buffer"],
            OptimizerConfig::Adam(_) => &["exp_avg", "exp_avg_sq"],
        }
    }

    /// The state as (`{parameter}.{state name}`, tensor) pairs, sorted by name.
    pub fn named_state(&self) -> Vec<(String, &Tensor)> {
        let mut named: Vec<(String, &Tensor)> = self
            .state
            .iter()
            .flat_map(|(param, buffers)| {
                self.state_names()
                    .iter()
                    .zip(buffers)
                    .map(move |(kind, t)| (format!("{param}.{kind}"), t))
            })
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// Replaces the state: per parameter name, the tensors `state_names` lists, in that order.
    pub fn set_state(&mut self, state: HashMap<String, Vec<Tensor>>) {
        self.state = state;
    }

    /// Updates every parameter that has a gradient, then drops the gradients.
    pub fn step(&mut self, gpu: &Gpu, net: &mut dyn Module) -> Result<()> {
        self.steps += 1;
        let mut failure = None;
        net.visit("", &mut |name, entry| {
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
