//! Layers with PyTorch's names, shapes, defaults and printed form. A layer owns its parameters and
//! buffers, runs its forward on a `Graph`, and shows its state to a visitor (checkpoints, optimisers
//! and `wgnn summary` all walk models that way).

mod batch_norm;
mod init;
mod layers;

pub use batch_norm::{BatchNorm2d, recompute_batch_norm_statistics};
pub use init::{WeightInit, bilinear_upsampling, kaiming_uniform};
pub use layers::{AdaptiveAvgPool2d, Conv2d, ConvTranspose2d, Dropout2d, Linear, MaxPool2d, ReLU};

use std::cell::Cell;

use crate::autograd::{Gradients, Graph, Var, VarId};
use crate::error::Result;
use crate::tensor::Tensor;

/// A trainable tensor and its latest gradient.
pub struct Param {
    pub value: Tensor,
    pub grad: Option<Tensor>,
    /// The variable this parameter became in the graph being recorded, to find its gradient.
    var: Cell<Option<VarId>>,
}

impl Param {
    pub fn new(value: Tensor) -> Param {
        Param {
            value,
            grad: None,
            var: Cell::new(None),
        }
    }

    /// The parameter as a leaf of `g` (needing a gradient when `g` records).
    pub fn bind(&self, g: &Graph) -> Var {
        let v = g.leaf(self.value.clone());
        self.var.set(v.requires_grad.then_some(v.id));
        v
    }

    /// Takes this parameter's gradient out of `grads` (None if no gradient reached it).
    pub fn collect_grad(&mut self, grads: &mut Gradients) {
        self.grad = self.var.take().and_then(|id| grads.take(id));
    }
}

/// One named piece of a module's state, as PyTorch's state_dict has it.
pub enum Entry<'a> {
    /// A trainable tensor (weight, bias).
    Param(&'a mut Param),
    /// A tensor that is state but not trained (BN running statistics).
    Buffer(&'a mut Tensor),
    /// An integer counter (BN num_batches_tracked, an i64 in PyTorch).
    Count(&'a mut i64),
}

/// What a forward pass needs besides its input.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// Training mode: BN on batch statistics, dropout active.
    pub training: bool,
    /// Seeds dropout; each layer derives its own from it.
    pub seed: u64,
    /// Replaces every BN layer's momentum (Precise BN averages batches with momentum 1/k).
    pub bn_momentum: Option<f32>,
}

impl Context {
    /// Evaluation mode: BN on running statistics, no dropout.
    pub fn eval() -> Context {
        Context {
            training: false,
            seed: 0,
            bn_momentum: None,
        }
    }

    /// Training mode with a dropout seed.
    pub fn train(seed: u64) -> Context {
        Context {
            training: true,
            seed,
            bn_momentum: None,
        }
    }

    /// The context for the `index`-th child: the same mode, a seed of its own.
    pub fn child(&self, index: usize) -> Context {
        Context {
            seed: splitmix64(self.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            ..*self
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A layer or a container of layers.
pub trait Module {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var>;
    /// `forward`, then a ReLU: what `Sequential` runs for this layer when a ReLU comes next.
    /// Layers that can apply the ReLU in their own pass (BatchNorm2d) say so here.
    fn forward_then_relu(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let y = self.forward(g, x, ctx)?;
        g.relu(&y)
    }
    /// Whether this layer is a ReLU, which `Sequential` hands to the layer before it.
    fn is_relu(&self) -> bool {
        false
    }
    /// Calls `f` with the full state_dict name of every parameter, buffer and counter.
    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>));
    /// The output shape for an input shape, without running anything.
    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>>;
    /// PyTorch's printed form, e.g. `ReLU(inplace=True)`; containers print their children.
    fn describe(&self) -> String;
    /// Children with their names (empty for a leaf layer).
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }
    /// Number of trainable scalars: a container's are its children's (leaf layers count their own).
    fn num_params(&self) -> usize {
        self.children().iter().map(|(_, m)| m.num_params()).sum()
    }
    /// The input shape each child sees, for an input of this module; children run in sequence
    /// unless a module says otherwise.
    fn child_inputs(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        let mut shape = input.to_vec();
        let mut inputs = Vec::new();
        for (_, child) in self.children() {
            let next = child.out_shape(&shape)?;
            inputs.push(std::mem::replace(&mut shape, next));
        }
        Ok(inputs)
    }
}

/// PyTorch's printout of `module`, each leaf annotated with its output shape for `input` and its
/// parameter count, then the total.
pub fn summary(name: &str, module: &dyn Module, input: &[usize]) -> Result<String> {
    let mut out = String::new();
    print_tree(&mut out, name, module, input, 0)?;
    out += &format!("\nparameters: {}\n", module.num_params());
    Ok(out)
}

fn print_tree(
    out: &mut String,
    name: &str,
    m: &dyn Module,
    input: &[usize],
    depth: usize,
) -> Result<()> {
    let indent = "  ".repeat(depth);
    let label = if depth == 0 {
        String::new()
    } else {
        format!("({name}): ")
    };
    let children = m.children();
    if children.is_empty() {
        let line = format!("{indent}{label}{}", m.describe());
        let shape = format!("{:?}", m.out_shape(input)?);
        *out += &format!("{line:<100} # {shape:<20} {:>11} params\n", m.num_params());
        return Ok(());
    }
    *out += &format!("{indent}{label}{}(\n", m.describe());
    for ((child_name, child), child_input) in children.iter().zip(m.child_inputs(input)?) {
        print_tree(out, child_name, *child, &child_input, depth + 1)?;
    }
    *out += &format!("{indent})\n");
    Ok(())
}

/// Layers applied in order. Each keeps the index PyTorch gives it, which names its state
/// (`features.3.weight`) and may start above 0 (FCN16s' `vgg_backbone5` holds indices 34..43).
pub struct Sequential {
    pub layers: Vec<(usize, Box<dyn Module>)>,
}

impl Sequential {
    /// Layers numbered from `first`.
    pub fn numbered(first: usize, layers: Vec<Box<dyn Module>>) -> Sequential {
        Sequential {
            layers: layers
                .into_iter()
                .enumerate()
                .map(|(i, l)| (first + i, l))
                .collect(),
        }
    }
}

impl Module for Sequential {
    /// Runs the layers in order; a ReLU goes to the layer before it (`forward_then_relu`), which
    /// may fuse it.
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let mut h = x.clone();
        let mut k = 0;
        while k < self.layers.len() {
            let relu_next = self.layers.get(k + 1).is_some_and(|(_, l)| l.is_relu());
            let (i, layer) = &mut self.layers[k];
            let ctx = ctx.child(*i);
            h = if relu_next && !layer.is_relu() {
                k += 1;
                layer.forward_then_relu(g, &h, &ctx)?
            } else {
                layer.forward(g, &h, &ctx)?
            };
            k += 1;
        }
        Ok(h)
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        for (i, layer) in &mut self.layers {
            layer.visit(&format!("{prefix}{i}."), f);
        }
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.layers
            .iter()
            .try_fold(input.to_vec(), |shape, (_, l)| l.out_shape(&shape))
    }

    fn describe(&self) -> String {
        "Sequential".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers
            .iter()
            .map(|(i, l)| (i.to_string(), l.as_ref() as &dyn Module))
            .collect()
    }
}

/// Moves the gradients `backward` computed into the parameters of `module`.
pub fn collect_grads(module: &mut dyn Module, grads: &mut Gradients) {
    module.visit("", &mut |_, entry| {
        if let Entry::Param(p) = entry {
            p.collect_grad(grads);
        }
    });
}
