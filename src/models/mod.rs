//! The homework's models and FCN8s, the next of the family, module for module as their PyTorch
//! printouts (`../shared/spec/pytorch/`), so their state_dicts carry the same names and shapes.

mod fcn;
mod vgg;

pub use fcn::{Fcn8s, Fcn16s, Fcn32s, UpsamplingInit};
pub use vgg::{Vgg16Bn, vgg16_features};

use crate::autograd::{Graph, Var};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::{Context, Entry, Module, WeightInit};

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Vgg16bn,
    Fcn32s,
    Fcn16s,
    Fcn8s,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [
        Architecture::Vgg16bn,
        Architecture::Fcn32s,
        Architecture::Fcn16s,
        Architecture::Fcn8s,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::Vgg16bn => "vgg16bn",
            Architecture::Fcn32s => "fcn32s",
            Architecture::Fcn16s => "fcn16s",
            Architecture::Fcn8s => "fcn8s",
        }
    }

    /// Whether the model segments (per-pixel logits) rather than classifies.
    pub fn is_segmentation(self) -> bool {
        self != Architecture::Vgg16bn
    }

    /// The homework's class count: 50 image classes, or 7 land-cover classes.
    pub fn homework_classes(self) -> usize {
        if self.is_segmentation() { 7 } else { 50 }
    }

    /// The homework's image height and width: 32x32 images, or 512x512 tiles.
    pub fn homework_size(self) -> usize {
        if self.is_segmentation() { 512 } else { 32 }
    }

    /// Images per training step unless told otherwise: what fits a small GPU at the homework's size.
    pub fn default_batch_size(self) -> usize {
        if self.is_segmentation() { 4 } else { 16 }
    }

    /// The validation metric training keeps the best checkpoint by.
    pub fn metric_name(self) -> &'static str {
        if self.is_segmentation() {
            "mIoU"
        } else {
            "accuracy"
        }
    }

    /// The architecture whose state_dict has these tensor names, if any.
    pub fn from_tensor_names<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<Architecture> {
        let any = |n: &str, prefixes: &[&str]| prefixes.iter().any(|p| n.starts_with(p));
        names.find_map(|n| {
            if any(n, &["vgg_backbone3.", "reduce_channel3.", "up_sampling8."]) {
                Some(Architecture::Fcn8s)
            } else if any(
                n,
                &["vgg_backbone4.0.", "reduce_channel.", "up_sampling32."],
            ) {
                Some(Architecture::Fcn16s)
            } else if any(n, &["vgg_backbone.", "up_sampling."]) {
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
        Model::with_init(gpu, arch, classes, WeightInit::seeded(seed), upsampling)
    }

    /// A model whose weights and biases are allocated and not written: for a checkpoint that
    /// replaces every tensor (`Checkpoint::load_into`, which fails on any it lacks), or where only
    /// shapes matter (`wgnn summary`).
    pub fn unwritten(gpu: &Gpu, arch: Architecture, classes: usize) -> Result<Model> {
        let init = WeightInit::Unwritten;
        Model::with_init(gpu, arch, classes, init, UpsamplingInit::Default)
    }

    fn with_init(
        gpu: &Gpu,
        arch: Architecture,
        classes: usize,
        mut init: WeightInit,
        upsampling: UpsamplingInit,
    ) -> Result<Model> {
        crate::ensure_shape!(classes > 0, "a model needs at least one class");
        let init = &mut init;
        let net: Box<dyn Module> = match arch {
            Architecture::Vgg16bn => Box::new(Vgg16Bn::new(gpu, init, classes)?),
            Architecture::Fcn32s => Box::new(Fcn32s::new(gpu, init, classes, upsampling)?),
            Architecture::Fcn16s => Box::new(Fcn16s::new(gpu, init, classes, upsampling)?),
            Architecture::Fcn8s => Box::new(Fcn8s::new(gpu, init, classes, upsampling)?),
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
        self.check_fits(g.gpu(), x.value.shape())?;
        self.net.forward(g, x, ctx)
    }

    /// Before anything runs: every layer's output for `input` fits the device, a whole batch in
    /// one buffer and one image's share in one binding (ops split batches across bindings).
    fn check_fits(&self, gpu: &Gpu, input: &[usize]) -> Result<()> {
        let mut outputs = Vec::new();
        layer_outputs(self.net.as_ref(), "", input, &mut outputs)?;
        // The first of the largest: the layer where the limit is first met.
        let Some((layer, shape)) = outputs
            .into_iter()
            .rev()
            .max_by_key(|(_, s)| s.iter().product::<usize>())
        else {
            return Ok(());
        };
        let limits = gpu.plan_limits();
        let bytes = 4 * shape.iter().product::<usize>() as u64;
        let n = shape.first().copied().unwrap_or(1).max(1) as u64;
        let per_image = bytes / n;
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        let device = crate::gpu::describe(gpu.adapter_info());
        if per_image > limits.max_binding_bytes {
            return Err(Error::Limit(format!(
                "{}x{} images are too large for {device}: one image's output of {layer} ({:?}) \
                 needs {:.0} MiB, more than the {:.0} MiB one storage binding holds; use smaller images",
                input.get(2).copied().unwrap_or(0),
                input.get(3).copied().unwrap_or(0),
                &shape[1..],
                mib(per_image),
                mib(limits.max_binding_bytes)
            )));
        }
        if bytes > limits.max_buffer_bytes {
            return Err(Error::Limit(format!(
                "a batch of {n} is too large for {device}: the output of {layer} ({shape:?}) needs \
                 {:.0} MiB, more than its largest buffer ({:.0} MiB); use a batch size of at most {}",
                mib(bytes),
                mib(limits.max_buffer_bytes),
                limits.max_buffer_bytes / per_image
            )));
        }
        Ok(())
    }

    pub fn visit(&mut self, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.net.visit("", f);
    }
}

/// (state_dict-style name, output shape) of every leaf layer of `m` for `input`.
fn layer_outputs(
    m: &dyn Module,
    name: &str,
    input: &[usize],
    out: &mut Vec<(String, Vec<usize>)>,
) -> Result<()> {
    let children = m.children();
    if children.is_empty() {
        out.push((name.to_owned(), m.out_shape(input)?));
        return Ok(());
    }
    for ((child, module), child_input) in children.iter().zip(m.child_inputs(input)?) {
        let path = if name.is_empty() {
            child.clone()
        } else {
            format!("{name}.{child}")
        };
        layer_outputs(*module, &path, &child_input, out)?;
    }
    Ok(())
}
