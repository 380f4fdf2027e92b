//! wgnn's VGG16-bn and FCN32s (`src/models/vgg.rs`, `src/models/fcn.rs`) from burn's modules,
//! layer for layer, so whole training steps and inference compare with `wgnn bench`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// torchvision's configuration "D" by block: (3x3 convs, their channels); a 2x2 max pool ends
/// each block.
const VGG16_BLOCKS: [(usize, usize); 5] = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)];

/// A model trained with cross-entropy on rows of class logits.
pub trait Classifier: Module {
    /// Whether there is a label per pixel ([N, H, W]) rather than per image ([N]).
    const PER_PIXEL: bool;
    /// What `forward` returns.
    type Logits;

    /// The model built on `device` for `classes` classes.
    fn new(device: &Device, classes: usize) -> Self;

    fn forward(&self, x: Tensor<4>) -> Self::Logits;

    /// `logits` as [labels, classes], one row per label in the labels' row-major order.
    fn logit_rows(logits: Self::Logits) -> Tensor<2>;
}

/// Conv2d 3x3 (padding 1, bias), BatchNorm2d, ReLU.
#[derive(Module, Debug)]
struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBnRelu {
    fn new(device: &Device, c_in: usize, c_out: usize) -> Self {
        ConvBnRelu {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

/// torchvision's `vgg16_bn().features` (wgnn's `vgg16_features`): 13 ConvBnRelu in blocks of 2,
/// 2, 3, 3 and 3, each block followed by MaxPool2d(2, 2): 512 channels at 1/32 of the size.
#[derive(Module, Debug)]
pub struct Vgg16Features {
    blocks: Vec<Vec<ConvBnRelu>>,
    pool: MaxPool2d,
}

impl Vgg16Features {
    fn new(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = 3;
        for (convs, c) in VGG16_BLOCKS {
            let first = ConvBnRelu::new(device, c_in, c);
            let rest = (1..convs).map(|_| ConvBnRelu::new(device, c, c));
            blocks.push(std::iter::once(first).chain(rest).collect());
            c_in = c;
        }
        Vgg16Features {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, block| {
            let x = block.iter().fold(x, |x, layer| layer.forward(x));
            self.pool.forward(x)
        })
    }
}

/// wgnn's `Vgg16Bn` (torchvision's `vgg16_bn` with one linear layer as classifier): features,
/// AdaptiveAvgPool2d((7, 7)), flatten, Linear(25088, classes).
#[derive(Module, Debug)]
pub struct Vgg16Bn {
    features: Vgg16Features,
    avgpool: AdaptiveAvgPool2d,
    classifier: Linear,
}

impl Classifier for Vgg16Bn {
    const PER_PIXEL: bool = false;
    type Logits = Tensor<2>;

    fn new(device: &Device, classes: usize) -> Self {
        Vgg16Bn {
            features: Vgg16Features::new(device),
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            classifier: LinearConfig::new(512 * 7 * 7, classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.avgpool.forward(self.features.forward(x));
        self.classifier.forward(h.flatten(1, 3))
    }

    fn logit_rows(logits: Tensor<2>) -> Tensor<2> {
        logits
    }
}

/// wgnn's `Fcn32s` (the homework's): the VGG16-bn features to pool5; down_sampling as Conv1x1
/// (512, 4096), ReLU, dropout 0.5, Conv1x1(4096, 4096), ReLU, dropout 0.5, Conv1x1(4096,
/// classes); up_sampling as ConvTranspose2d(classes, classes, kernel 32, stride 32, no bias).
/// burn has no Dropout2d (zeroing whole channels): its `Dropout` zeroes single elements, with the
/// same probability and scaling.
#[derive(Module, Debug)]
pub struct Fcn32s {
    vgg_backbone: Vgg16Features,
    fc6: Conv2d,
    fc7: Conv2d,
    score: Conv2d,
    dropout: Dropout,
    up_sampling: ConvTranspose2d,
}

impl Classifier for Fcn32s {
    const PER_PIXEL: bool = true;
    type Logits = Tensor<4>;

    fn new(device: &Device, classes: usize) -> Self {
        let conv1x1 = |c_in, c_out| Conv2dConfig::new([c_in, c_out], [1, 1]).init(device);
        Fcn32s {
            vgg_backbone: Vgg16Features::new(device),
            fc6: conv1x1(512, 4096),
            fc7: conv1x1(4096, 4096),
            score: conv1x1(4096, classes),
            dropout: DropoutConfig::new(0.5).init(),
            up_sampling: ConvTranspose2dConfig::new([classes, classes], [32, 32])
                .with_stride([32, 32])
                .with_bias(false)
                .init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.vgg_backbone.forward(x);
        let h = self.dropout.forward(relu(self.fc6.forward(h)));
        let h = self.dropout.forward(relu(self.fc7.forward(h)));
        self.up_sampling.forward(self.score.forward(h))
    }

    /// [N, classes, H, W] to [N * H * W, classes].
    fn logit_rows(logits: Tensor<4>) -> Tensor<2> {
        logits.permute([0, 2, 3, 1]).flatten(0, 2)
    }
}
