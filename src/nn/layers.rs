//! The layers the homework's models use.

use super::{Context, Entry, Module, Param, WeightInit};
use crate::autograd::{Graph, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::conv2d::Conv2dArgs;
use crate::ops::pool::MaxPoolArgs;
use crate::tensor::Tensor;

pub(super) fn nchw(layer: &str, input: &[usize], channels: usize) -> Result<[usize; 4]> {
    match *input {
        [n, c, h, w] if c == channels => Ok([n, c, h, w]),
        _ => Err(crate::shape_err!(
            "{layer} expects input [N, {channels}, H, W], got {input:?}"
        )),
    }
}

pub(super) fn upload(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Result<Param> {
    Ok(Param::new(Tensor::from_f32(gpu, shape, data)?))
}

/// Conv2d(in, out, kernel, stride, padding), bias optional.
pub struct Conv2d {
    pub weight: Param,
    pub bias: Option<Param>,
    pub args: Conv2dArgs,
}

impl Conv2d {
    /// PyTorch's default initialisation (or none, see `WeightInit`).
    pub fn new(
        gpu: &Gpu,
        init: &mut WeightInit,
        [c_in, c_out]: [usize; 2],
        kernel: usize,
        args: Conv2dArgs,
        bias: bool,
    ) -> Result<Conv2d> {
        let fan_in = c_in * kernel * kernel;
        Ok(Conv2d {
            weight: init.kaiming_uniform(gpu, &[c_out, c_in, kernel, kernel], fan_in)?,
            bias: bias
                .then(|| init.kaiming_uniform(gpu, &[c_out], fan_in))
                .transpose()?,
            args,
        })
    }
}

/// State of a layer with a weight and an optional bias, in PyTorch's order.
fn visit_weight_and_bias(
    prefix: &str,
    weight: &mut Param,
    bias: &mut Option<Param>,
    f: &mut dyn FnMut(&str, Entry<'_>),
) {
    f(&format!("{prefix}weight"), Entry::Param(weight));
    if let Some(b) = bias {
        f(&format!("{prefix}bias"), Entry::Param(b));
    }
}

fn pair(v: [usize; 2]) -> String {
    format!("({}, {})", v[0], v[1])
}

impl Module for Conv2d {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        let w = self.weight.bind(g);
        let b = self.bias.as_ref().map(|b| b.bind(g));
        g.conv2d(x, &w, b.as_ref(), self.args)
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        visit_weight_and_bias(prefix, &mut self.weight, &mut self.bias, f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let ws = self.weight.value.shape();
        let [n, _, h, w] = nchw("Conv2d", input, ws[1])?;
        match self.args.out_hw([h, w], [ws[2], ws[3]]) {
            Some([oh, ow]) => Ok(vec![n, ws[0], oh, ow]),
            None => Err(crate::shape_err!(
                "Conv2d: input {input:?} is smaller than the kernel"
            )),
        }
    }

    fn describe(&self) -> String {
        let ws = self.weight.value.shape();
        let mut s = format!(
            "Conv2d({}, {}, kernel_size={}, stride={}",
            ws[1],
            ws[0],
            pair([ws[2], ws[3]]),
            pair(self.args.stride)
        );
        if self.args.padding != [0, 0] {
            s += &format!(", padding={}", pair(self.args.padding));
        }
        if self.bias.is_none() {
            s += ", bias=False";
        }
        s + ")"
    }

    fn num_params(&self) -> usize {
        self.weight.value.numel() + self.bias.as_ref().map_or(0, |b| b.value.numel())
    }
}

/// ConvTranspose2d(in, out, kernel, stride), weight [in, out, k, k], bias optional.
pub struct ConvTranspose2d {
    pub weight: Param,
    pub bias: Option<Param>,
    pub args: Conv2dArgs,
}

impl ConvTranspose2d {
    /// PyTorch's default initialisation (fan_in from the weight's second dimension, as PyTorch
    /// computes it for transposed convolutions), or none (see `WeightInit`).
    pub fn new(
        gpu: &Gpu,
        init: &mut WeightInit,
        [c_in, c_out]: [usize; 2],
        kernel: usize,
        stride: usize,
        bias: bool,
    ) -> Result<ConvTranspose2d> {
        let fan_in = c_out * kernel * kernel;
        Ok(ConvTranspose2d {
            weight: init.kaiming_uniform(gpu, &[c_in, c_out, kernel, kernel], fan_in)?,
            bias: bias
                .then(|| init.kaiming_uniform(gpu, &[c_out], fan_in))
                .transpose()?,
            args: Conv2dArgs {
                stride: [stride, stride],
                padding: [0, 0],
            },
        })
    }

    /// Bilinear upsampling weights and a zero bias (wkentaro/pytorch-fcn's FCN initialisation).
    pub fn init_bilinear(&mut self, gpu: &Gpu) -> Result<()> {
        let ws = self.weight.value.shape().to_vec();
        crate::ensure_shape!(
            ws[0] == ws[1] && ws[2] == ws[3],
            "bilinear initialisation needs a square [C, C, k, k] weight, got {ws:?}"
        );
        self.weight = upload(gpu, &ws, &super::bilinear_upsampling(ws[0], ws[2]))?;
        if let Some(b) = &mut self.bias {
            *b = upload(gpu, &[ws[1]], &vec![0.0; ws[1]])?;
        }
        Ok(())
    }
}

impl Module for ConvTranspose2d {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        let w = self.weight.bind(g);
        let b = self.bias.as_ref().map(|b| b.bind(g));
        g.conv_transpose2d(x, &w, b.as_ref(), self.args)
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        visit_weight_and_bias(prefix, &mut self.weight, &mut self.bias, f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let ws = self.weight.value.shape();
        let [n, _, h, w] = nchw("ConvTranspose2d", input, ws[0])?;
        match self.args.transpose_out_hw([h, w], [ws[2], ws[3]]) {
            Some([oh, ow]) => Ok(vec![n, ws[1], oh, ow]),
            None => Err(crate::shape_err!(
                "ConvTranspose2d: empty output for input {input:?}"
            )),
        }
    }

    fn describe(&self) -> String {
        let ws = self.weight.value.shape();
        let mut s = format!(
            "ConvTranspose2d({}, {}, kernel_size={}, stride={}",
            ws[0],
            ws[1],
            pair([ws[2], ws[3]]),
            pair(self.args.stride)
        );
        if self.bias.is_none() {
            s += ", bias=False";
        }
        s + ")"
    }

    fn num_params(&self) -> usize {
        self.weight.value.numel() + self.bias.as_ref().map_or(0, |b| b.value.numel())
    }
}

/// ReLU (PyTorch's models print it in place; wgnn always writes a new tensor).
pub struct ReLU;

impl Module for ReLU {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        g.relu(x)
    }

    fn is_relu(&self) -> bool {
        true
    }

    fn visit(&mut self, _: &str, _: &mut dyn FnMut(&str, Entry<'_>)) {}

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    fn describe(&self) -> String {
        "ReLU(inplace=True)".into()
    }

    fn num_params(&self) -> usize {
        0
    }
}

/// MaxPool2d(kernel, stride).
pub struct MaxPool2d(pub MaxPoolArgs);

impl Module for MaxPool2d {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        g.max_pool2d(x, self.0)
    }

    fn visit(&mut self, _: &str, _: &mut dyn FnMut(&str, Entry<'_>)) {}

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match *input {
            [n, c, h, w] => match self.0.out_hw([h, w]) {
                Some([oh, ow]) => Ok(vec![n, c, oh, ow]),
                None => Err(crate::shape_err!(
                    "MaxPool2d: input {input:?} is smaller than the window"
                )),
            },
            _ => Err(crate::shape_err!(
                "MaxPool2d expects [N, C, H, W], got {input:?}"
            )),
        }
    }

    fn describe(&self) -> String {
        format!(
            "MaxPool2d(kernel_size={}, stride={}, padding={}, dilation=1, ceil_mode=False)",
            self.0.kernel[0], self.0.stride[0], self.0.padding[0]
        )
    }

    fn num_params(&self) -> usize {
        0
    }
}

/// AdaptiveAvgPool2d(output_size).
pub struct AdaptiveAvgPool2d(pub [usize; 2]);

impl Module for AdaptiveAvgPool2d {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        g.adaptive_avg_pool2d(x, self.0)
    }

    fn visit(&mut self, _: &str, _: &mut dyn FnMut(&str, Entry<'_>)) {}

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match *input {
            [n, c, _, _] => Ok(vec![n, c, self.0[0], self.0[1]]),
            _ => Err(crate::shape_err!(
                "AdaptiveAvgPool2d expects [N, C, H, W], got {input:?}"
            )),
        }
    }

    fn describe(&self) -> String {
        format!("AdaptiveAvgPool2d(output_size={})", pair(self.0))
    }

    fn num_params(&self) -> usize {
        0
    }
}

/// Dropout2d(p): whole channels, only in training.
pub struct Dropout2d(pub f32);

impl Module for Dropout2d {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        if ctx.training {
            g.dropout2d(x, self.0, ctx.seed)
        } else {
            Ok(x.clone())
        }
    }

    fn visit(&mut self, _: &str, _: &mut dyn FnMut(&str, Entry<'_>)) {}

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    fn describe(&self) -> String {
        format!("Dropout2d(p={}, inplace=False)", self.0)
    }

    fn num_params(&self) -> usize {
        0
    }
}

/// Linear(in, out) on [N, in]; inputs of more dimensions are flattened after the batch
/// (VGG's classifier takes the [N, 512, 7, 7] pooled features as [N, 25088]).
pub struct Linear {
    pub weight: Param,
    pub bias: Param,
}

impl Linear {
    pub fn new(gpu: &Gpu, init: &mut WeightInit, c_in: usize, c_out: usize) -> Result<Linear> {
        Ok(Linear {
            weight: init.kaiming_uniform(gpu, &[c_out, c_in], c_in)?,
            bias: init.kaiming_uniform(gpu, &[c_out], c_in)?,
        })
    }

    fn features(&self) -> [usize; 2] {
        let s = self.weight.value.shape();
        [s[1], s[0]]
    }
}

impl Module for Linear {
    fn forward(&mut self, g: &Graph, x: &Var, _: &Context) -> Result<Var> {
        let n = x.value.shape().first().copied().unwrap_or(0);
        let flat = g.reshape(x, &[n, x.value.numel() / n.max(1)])?;
        let (w, b) = (self.weight.bind(g), self.bias.bind(g));
        g.linear(&flat, &w, Some(&b))
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        f(&format!("{prefix}weight"), Entry::Param(&mut self.weight));
        f(&format!("{prefix}bias"), Entry::Param(&mut self.bias));
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let [c_in, c_out] = self.features();
        let per_item: usize = input.iter().skip(1).product();
        crate::ensure_shape!(
            !input.is_empty() && per_item == c_in,
            "Linear expects {c_in} features per item, got input {input:?}"
        );
        Ok(vec![input[0], c_out])
    }

    fn describe(&self) -> String {
        let [c_in, c_out] = self.features();
        format!("Linear(in_features={c_in}, out_features={c_out}, bias=True)")
    }

    fn num_params(&self) -> usize {
        self.weight.value.numel() + self.bias.value.numel()
    }
}
