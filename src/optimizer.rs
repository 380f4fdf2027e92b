//! Optimisers over a model's parameters: the state each keeps per parameter (SGD's momentum
//! buffer, Adam's moments), stepped with the optim.wgsl kernels.

use std::collections::HashMap;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
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

    /// Names of the state tensors kept per parameter, as PyTorch's optimisers call them.
    fn state_names(&self) -> &'static [&'static str] {
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

    /// Restores the state `named_state` wrote for `model`'s parameters. A parameter without
    /// state in the file gets none (as before its first step); a state tensor of no parameter
    /// is an error.
    pub fn load_state(&mut self, gpu: &Gpu, model: &mut Model, file: &Checkpoint) -> Result<()> {
        let mut names = file.names()?;
        let kinds = self.state_names();
        let mut state = HashMap::new();
        let mut failure = None;
        model.visit(&mut |name, entry| {
            let Entry::Param(p) = entry else { return };
            if failure.is_some() || !names.iter().any(|n| n == &format!("{name}.{}", kinds[0])) {
                return;
            }
            let buffers = kinds
                .iter()
                .map(|kind| {
                    let key = format!("{name}.{kind}");
                    names.retain(|n| n != &key);
                    file.tensor(gpu, &key, p.value.shape())
                })
                .collect::<Result<Vec<_>>>();
            match buffers {
                Ok(b) => {
                    state.insert(name.to_owned(), b);
                }
                Err(e) => failure = Some(e),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(stray) = names.first() {
            return Err(Error::File(format!(
                "the optimiser state holds {stray}, which belongs to no parameter of the {} model",
                model.arch.name()
            )));
        }
        self.state = state;
        Ok(())
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
