//! The homework's three models, module for module as its PyTorch printouts
//! (`../shared/spec/pytorch/`), so their state_dicts carry the same names and shapes.

mod fcn;
mod vgg;

pub use fcn::{Fcn16s, Fcn32s, UpsamplingInit};
pub use vgg::{Vgg16Bn, vgg16_features};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::autograd::{Graph, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{Context, Entry, Module};

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Architecture {
    Vgg16bn,
    Fcn32s,
    Fcn16s,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Vgg16bn => "vgg16bn",
            Architecture::Fcn32s => "fcn32s",
            Architecture::Fcn16s => "fcn16s",
        }
    }

    /// Whether the model segments (per-pixel logits) rather than classifies.
    pub fn is_segmentation(self) -> bool {
        self != Architecture::Vgg16bn
    }

    /// The architecture whose state_dict has these tensor names, if any.
    pub fn from_tensor_names<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<Architecture> {
        names.find_map(|n| {
            if n.starts_with("vgg_backbone4.") || n.starts_with("up_sampling32.") {
                Some(Architecture::Fcn16s)
            } else if n.starts_with("vgg_backbone.") || n.starts_with("up_sampling.") {
                Some(Architecture::Fcn32s)
            } else if n.starts_with("classifier.") {
                Some(Architecture::Vgg16bn)
            } else {
                None
            }
        })
    }
}

/// A model: its architecture, class count and layers.
pub struct Model {
    pub arch: Architecture,
    pub classes: usize,
    pub net: Box<dyn Module>,
}

impl Model {
    /// A freshly initialised model (PyTorch's default initialisation, seeded).
    pub fn new(
        gpu: &Gpu,
        arch: Architecture,
        classes: usize,
        seed: u64,
        upsampling: UpsamplingInit,
    ) -> Result<Model> {
        crate::ensure_shape!(classes > 0, "a model needs at least one class");
        let mut rng = StdRng::seed_from_u64(seed);
        let net: Box<dyn Module> = match arch {
            Architecture::Vgg16bn => Box::new(Vgg16Bn::new(gpu, &mut rng, classes)?),
            Architecture::Fcn32s => Box::new(Fcn32s::new(gpu, &mut rng, classes, upsampling)?),
            Architecture::Fcn16s => Box::new(Fcn16s::new(gpu, &mut rng, classes, upsampling)?),
        };
        Ok(Model { arch, classes, net })
    }

    /// Logits: [N, classes] for vgg16bn, [N, classes, H, W] for the FCNs.
    pub fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        if self.arch.is_segmentation() {
            let s = x.value.shape();
            crate::ensure_shape!(
                s.len() == 4
                    && s[2].is_multiple_of(32)
                    && s[3].is_multiple_of(32)
                    && s[2] > 0
                    && s[3] > 0,
                "{} needs input height and width that are multiples of 32, got {}x{}",
                self.arch.name(),
                s.get(2).copied().unwrap_or(0),
                s.get(3).copied().unwrap_or(0)
            );
        }
        self.net.forward(g, x, ctx)
    }

    pub fn visit(&mut self, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.net.visit("", f);
    }
}
