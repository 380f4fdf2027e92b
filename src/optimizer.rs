//! Optimisers over a module's parameters: the state each keeps per parameter (SGD's momentum
//! buffer, Adam's moments), stepped with the optim.wgsl kernels. Saving and restoring that state
//! is the training loop's (`train::resume`).
//!
//! The parameters, their gradients and the state live in flat buffers, each parameter at the same
//! aligned start in every one (`Flat`); a parameter's tensor is its part of the weights buffer.
//! A step copies each gradient into place and updates all parameters in one launch, not one per
//! tensor (PERFORMANCE.md 25: on lavapipe the launches were not what limits the update); where
//! the device reads texture copies, in ranges of 2 M parameters (ops::optim, PERFORMANCE.md 50).

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
    /// The flat buffers, made by the first step and remade when the parameters change.
    flat: Option<Flat>,
    /// State handed to `set_state`, moved into the flat buffers by the next step.
    restored: Option<HashMap<String, Vec<Tensor>>>,
    /// Steps taken (Adam's bias correction counts them from 1).
    pub steps: u64,
}

/// Where one parameter lies in the flat buffers.
struct Slot {
    name: String,
    start: usize,
    shape: Vec<usize>,
    /// Whether it has taken a step (its state is zero until then, and not saved).
    has_state: bool,
}

impl Slot {
    fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Every parameter of a module at one start in the weights and the state, and in the gradients
/// each step gathers; the gaps the alignment leaves are zero everywhere and stay zero under both
/// updates.
struct Flat {
    slots: Vec<Slot>,
    weights: Tensor,
    /// The momentum buffer (SGD) or the two moments (Adam).
    state: Vec<Tensor>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Optimizer {
        Optimizer {
            config,
            flat: None,
            restored: None,
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
    pub fn named_state(&self, gpu: &Gpu) -> Result<Vec<(String, Tensor)>> {
        let mut named = Vec::new();
        let kinds = self.state_names();
        if let Some(restored) = &self.restored {
            for (param, buffers) in restored {
                for (kind, t) in kinds.iter().zip(buffers) {
                    named.push((format!("{param}.{kind}"), t.clone()));
                }
            }
        } else if let Some(flat) = &self.flat {
            for slot in flat.slots.iter().filter(|s| s.has_state) {
                for (kind, buffer) in kinds.iter().zip(&flat.state) {
                    let part = buffer.part(gpu, slot.start, &slot.shape)?;
                    named.push((format!("{}.{kind}", slot.name), part));
                }
            }
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(named)
    }

    /// Replaces the state: per parameter name, the tensors `state_names` lists, in that order.
    pub fn set_state(&mut self, state: HashMap<String, Vec<Tensor>>) {
        self.restored = Some(state);
    }

    /// Updates every parameter that has a gradient, then drops the gradients.
    pub fn step(&mut self, gpu: &Gpu, net: &mut dyn Module) -> Result<()> {
        if self.restored.is_some() || !self.flat.as_ref().is_some_and(|f| f.holds(net)) {
            self.flat = Some(self.pack(gpu, net)?);
            self.restored = None;
        }
        let flat = self.flat.as_mut().expect("packed above");
        self.steps += 1;
        // Only for this step: by now the backward pass has freed its activations, so these bytes
        // come from the pool without raising its peak.
        let grads = Tensor::zeros(gpu, flat.weights.shape());
        // Which slots have a gradient this step; each gradient is copied into place.
        let mut with_grad = Vec::with_capacity(flat.slots.len());
        let mut failure = None;
        net.visit("", &mut |_, entry| {
            let Entry::Param(p) = entry else { return };
            let grad = p.grad.take();
            let slot = &flat.slots[with_grad.len()];
            if let Some(g) = &grad {
                if g.numel() == slot.numel() {
                    copy_into(gpu, g, &grads, slot.start);
                } else {
                    failure = Some(crate::shape_err!(
                        "optimizer: gradient {:?} does not match parameter {} {:?}",
                        g.shape(),
                        slot.name,
                        slot.shape
                    ));
                }
            }
            with_grad.push(grad.is_some());
        });
        failure.map_or(Ok(()), Err)?;
        // One launch per run of neighbouring slots with gradients: one in all for a whole model
        // (several past the binding limit, or in the ranges of texture copies, inside the op). A
        // parameter's first step needs no launch of its own: its state is zero, and SGD's
        // momentum * 0 + d is exactly its d.
        let mut first = 0;
        while first < flat.slots.len() {
            let end = (first..flat.slots.len())
                .find(|&i| with_grad[i] != with_grad[first])
                .unwrap_or(flat.slots.len());
            if with_grad[first] {
                let (a, b) = (&flat.slots[first], &flat.slots[end - 1]);
                let range = a.start..b.start + b.numel();
                update(gpu, self.config, self.steps, flat, &grads, range)?;
                for slot in &mut flat.slots[first..end] {
                    slot.has_state = true;
                }
            }
            first = end;
        }
        Ok(())
    }

    /// New flat buffers for `net`'s parameters: their values and any state they had (from the
    /// buffers before or from `set_state`) copied in, and each parameter's tensor made its part.
    fn pack(&self, gpu: &Gpu, net: &mut dyn Module) -> Result<Flat> {
        let align = Tensor::part_alignment(gpu);
        let mut slots = Vec::new();
        let mut end = 0usize;
        net.visit("", &mut |name, entry| {
            let Entry::Param(p) = entry else { return };
            let start = end.next_multiple_of(align);
            end = start + p.value.numel();
            slots.push(Slot {
                name: name.to_owned(),
                start,
                shape: p.value.shape().to_vec(),
                has_state: false,
            });
        });
        let total = [end.max(1)];
        let kinds = self.state_names().len();
        let mut flat = Flat {
            weights: Tensor::zeros(gpu, &total),
            state: (0..kinds).map(|_| Tensor::zeros(gpu, &total)).collect(),
            slots,
        };
        for slot in &mut flat.slots {
            let before = match &self.restored {
                Some(restored) => restored.get(&slot.name).cloned(),
                None => self
                    .flat
                    .as_ref()
                    .and_then(|old| old.state_of(gpu, &slot.name)),
            };
            if let Some(buffers) = before {
                for (from, to) in buffers.iter().zip(&flat.state) {
                    crate::ensure_shape!(
                        from.shape() == slot.shape,
                        "optimizer state of {} is {:?}, its parameter {:?}",
                        slot.name,
                        from.shape(),
                        slot.shape
                    );
                    copy_into(gpu, from, to, slot.start);
                }
                slot.has_state = true;
            }
        }
        let mut slots = flat.slots.iter();
        let mut failure = None;
        net.visit("", &mut |_, entry| {
            let Entry::Param(p) = entry else { return };
            let Some(slot) = slots.next() else { return };
            copy_into(gpu, &p.value, &flat.weights, slot.start);
            match flat.weights.part(gpu, slot.start, &slot.shape) {
                Ok(part) => p.value = part,
                Err(e) => failure = Some(e),
            }
        });
        failure.map_or(Ok(flat), Err)
    }
}

impl Flat {
    /// Whether `net`'s parameters are still these slots' parts of the weights.
    fn holds(&self, net: &mut dyn Module) -> bool {
        let mut slots = self.slots.iter();
        let mut same = true;
        net.visit("", &mut |name, entry| {
            let Entry::Param(p) = entry else { return };
            same &= slots.next().is_some_and(|s| {
                s.name == name
                    && s.shape == p.value.shape()
                    && p.value.is_part_of(&self.weights, s.start)
            });
        });
        same && slots.next().is_none()
    }

    /// The state of parameter `name`, if it has taken a step.
    fn state_of(&self, gpu: &Gpu, name: &str) -> Option<Vec<Tensor>> {
        let slot = self.slots.iter().find(|s| s.name == name && s.has_state)?;
        self.state
            .iter()
            .map(|t| t.part(gpu, slot.start, &slot.shape).ok())
            .collect()
    }
}

/// One update of elements `range` of the flat buffers.
fn update(
    gpu: &Gpu,
    config: OptimizerConfig,
    steps: u64,
    flat: &Flat,
    grads: &Tensor,
    range: std::ops::Range<usize>,
) -> Result<()> {
    let part = |t: &Tensor| t.part(gpu, range.start, &[range.len()]);
    let (w, g) = (part(&flat.weights)?, part(grads)?);
    match config {
        OptimizerConfig::Sgd(c) => optim::sgd_step(gpu, &w, &g, &part(&flat.state[0])?, false, c),
        OptimizerConfig::Adam(c) => optim::adam_step(
            gpu,
            &w,
            &g,
            &part(&flat.state[0])?,
            &part(&flat.state[1])?,
            steps,
            c,
        ),
    }
}

/// Records a copy of all of `from` into `to` from its element `start` on.
fn copy_into(gpu: &Gpu, from: &Tensor, to: &Tensor, start: usize) {
    gpu.with_encoder(|e| {
        e.copy_buffer_to_buffer(
            from.buffer(),
            from.byte_offset(),
            to.buffer(),
            start as u64 * 4,
            from.numel() as u64 * 4,
        )
    });
}
