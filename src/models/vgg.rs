//! VGG16-bn: torchvision's `vgg16_bn` features, AdaptiveAvgPool2d((7, 7)), Linear(25088, classes).

use crate::autograd::{Graph, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{
    AdaptiveAvgPool2d, BatchNorm2d, Context, Conv2d, Entry, Linear, MaxPool2d, Module, ReLU,
    Sequential, WeightInit,
};
use crate::ops::conv2d::Conv2dArgs;
use crate::ops::pool::MaxPoolArgs;

/// torchvision's configuration "D": channels of each 3x3 conv, 0 for a 2x2 max pool.
const VGG16: [usize; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

/// The 44 modules of `features`: (Conv 3x3 pad 1, BN, ReLU) per conv, MaxPool(2, 2) per 0.
pub fn vgg16_features(gpu: &Gpu, init: &mut WeightInit) -> Result<Vec<Box<dyn Module>>> {
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    let mut c_in = 3;
    for &c in &VGG16 {
        if c == 0 {
            layers.push(Box::new(MaxPool2d(MaxPoolArgs::square(2))));
            continue;
        }
        let args = Conv2dArgs {
            stride: [1, 1],
            padding: [1, 1],
        };
        layers.push(Box::new(Conv2d::new(gpu, init, [c_in, c], 3, args, true)?));
        layers.push(Box::new(BatchNorm2d::new(gpu, c)?));
        layers.push(Box::new(ReLU));
        c_in = c;
    }
    Ok(layers)
}

pub struct Vgg16Bn {
    pub features: Sequential,
    pub avgpool: AdaptiveAvgPool2d,
    pub classifier: Linear,
}

impl Vgg16Bn {
    pub fn new(gpu: &Gpu, init: &mut WeightInit, classes: usize) -> Result<Vgg16Bn> {
        Ok(Vgg16Bn {
            features: Sequential::numbered(0, vgg16_features(gpu, init)?),
            avgpool: AdaptiveAvgPool2d([7, 7]),
            classifier: Linear::new(gpu, init, 512 * 7 * 7, classes)?,
        })
    }
}

impl Module for Vgg16Bn {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let h = self.features.forward(g, x, &ctx.child(0))?;
        let h = self.avgpool.forward(g, &h, &ctx.child(1))?;
        self.classifier.forward(g, &h, &ctx.child(2))
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.features.visit(&format!("{prefix}features."), f);
        self.classifier.visit(&format!("{prefix}classifier."), f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let h = self.features.out_shape(input)?;
        self.classifier.out_shape(&self.avgpool.out_shape(&h)?)
    }

    fn describe(&self) -> String {
        "VGG16bn".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("features".into(), &self.features as &dyn Module),
            ("avgpool".into(), &self.avgpool),
            ("classifier".into(), &self.classifier),
        ]
    }
}
