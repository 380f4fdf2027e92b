//! FCN32s, FCN16s and FCN8s on the VGG16-bn backbone, as the homework defines them.

use super::vgg16_features;
use crate::autograd::{Graph, Var};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::{
    BatchNorm2d, Context, Conv2d, ConvTranspose2d, Dropout2d, Entry, Module, ReLU, Sequential,
    WeightInit,
};
use crate::ops::conv2d::Conv2dArgs;

/// How the transposed convolutions that upsample the logits start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpsamplingInit {
    /// PyTorch's default (Kaiming-uniform), what the homework's modules get.
    #[default]
    Default,
    /// Bilinear interpolation and zero bias, as wkentaro/pytorch-fcn.
    Bilinear,
}

fn conv1x1(gpu: &Gpu, init: &mut WeightInit, c_in: usize, c_out: usize) -> Result<Conv2d> {
    Conv2d::new(gpu, init, [c_in, c_out], 1, Conv2dArgs::default(), true)
}

fn upsampling(
    gpu: &Gpu,
    init: &mut WeightInit,
    classes: usize,
    kernel: usize,
    bias: bool,
    upsampling_init: UpsamplingInit,
) -> Result<ConvTranspose2d> {
    let mut layer = ConvTranspose2d::new(gpu, init, [classes, classes], kernel, kernel, bias)?;
    if upsampling_init == UpsamplingInit::Bilinear {
        layer.init_bilinear(gpu)?;
    }
    Ok(layer)
}

/// FCN16s' and FCN8s' down_sampling: 1x1 convs to 4096, 4096 and the classes, with BN and ReLU.
fn bn_down_sampling(gpu: &Gpu, init: &mut WeightInit, classes: usize) -> Result<Sequential> {
    Ok(Sequential::numbered(
        0,
        vec![
            Box::new(conv1x1(gpu, init, 512, 4096)?),
            Box::new(BatchNorm2d::new(gpu, 4096)?),
            Box::new(ReLU),
            Box::new(conv1x1(gpu, init, 4096, 4096)?),
            Box::new(BatchNorm2d::new(gpu, 4096)?),
            Box::new(ReLU),
            Box::new(conv1x1(gpu, init, 4096, classes)?),
        ],
    ))
}

/// Before a skip connection adds them: the upsampled coarse scores and the skip's scores agree.
fn check_fuse(model: &str, coarse: &str, up: &[usize], fine: &str, skip: &[usize]) -> Result<()> {
    crate::ensure_shape!(
        up == skip,
        "{model}: the upsampled {coarse} scores {up:?} do not match the {fine} scores {skip:?}"
    );
    Ok(())
}

/// vgg_backbone (features 0..43, 1/32 resolution), down_sampling (1x1 convs to 4096, 4096 and
/// the classes, with ReLU and Dropout2d(0.5)), up_sampling (ConvTranspose2d k32 s32, no bias).
pub struct Fcn32s {
    pub vgg_backbone: Sequential,
    pub down_sampling: Sequential,
    pub up_sampling: ConvTranspose2d,
}

impl Fcn32s {
    pub fn new(
        gpu: &Gpu,
        init: &mut WeightInit,
        classes: usize,
        upsampling_init: UpsamplingInit,
    ) -> Result<Fcn32s> {
        let vgg_backbone = Sequential::numbered(0, vgg16_features(gpu, init)?);
        let down_sampling = Sequential::numbered(
            0,
            vec![
                Box::new(conv1x1(gpu, init, 512, 4096)?),
                Box::new(ReLU),
                Box::new(Dropout2d(0.5)),
                Box::new(conv1x1(gpu, init, 4096, 4096)?),
                Box::new(ReLU),
                Box::new(Dropout2d(0.5)),
                Box::new(conv1x1(gpu, init, 4096, classes)?),
            ],
        );
        Ok(Fcn32s {
            vgg_backbone,
            down_sampling,
            up_sampling: upsampling(gpu, init, classes, 32, false, upsampling_init)?,
        })
    }
}

impl Module for Fcn32s {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let h = self.vgg_backbone.forward(g, x, &ctx.child(0))?;
        let h = self.down_sampling.forward(g, &h, &ctx.child(1))?;
        self.up_sampling.forward(g, &h, &ctx.child(2))
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.vgg_backbone
            .visit(&format!("{prefix}vgg_backbone."), f);
        self.down_sampling
            .visit(&format!("{prefix}down_sampling."), f);
        self.up_sampling.visit(&format!("{prefix}up_sampling."), f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let h = self.vgg_backbone.out_shape(input)?;
        self.up_sampling
            .out_shape(&self.down_sampling.out_shape(&h)?)
    }

    fn describe(&self) -> String {
        "FCN32s".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("vgg_backbone".into(), &self.vgg_backbone as &dyn Module),
            ("down_sampling".into(), &self.down_sampling),
            ("up_sampling".into(), &self.up_sampling),
        ]
    }
}

/// vgg_backbone4 (features 0..33, pool4 at 1/16), vgg_backbone5 (features 34..43, pool5 at 1/32),
/// down_sampling (1x1 convs with BN), reduce_channel (pool4 to the classes), up_sampling2 (x2) and
/// up_sampling32 (x16): out = up_sampling32(up_sampling2(down_sampling(x5)) + reduce_channel(x4)).
pub struct Fcn16s {
    pub vgg_backbone4: Sequential,
    pub vgg_backbone5: Sequential,
    pub down_sampling: Sequential,
    pub reduce_channel: Conv2d,
    pub up_sampling2: ConvTranspose2d,
    pub up_sampling32: ConvTranspose2d,
}

impl Fcn16s {
    pub fn new(
        gpu: &Gpu,
        init: &mut WeightInit,
        classes: usize,
        upsampling_init: UpsamplingInit,
    ) -> Result<Fcn16s> {
        let mut features = vgg16_features(gpu, init)?;
        let block5 = features.split_off(34);
        let down_sampling = bn_down_sampling(gpu, init, classes)?;
        Ok(Fcn16s {
            vgg_backbone4: Sequential::numbered(0, features),
            vgg_backbone5: Sequential::numbered(34, block5),
            down_sampling,
            reduce_channel: conv1x1(gpu, init, 512, classes)?,
            up_sampling2: upsampling(gpu, init, classes, 2, true, upsampling_init)?,
            up_sampling32: upsampling(gpu, init, classes, 16, true, upsampling_init)?,
        })
    }
}

impl Module for Fcn16s {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let x4 = self.vgg_backbone4.forward(g, x, &ctx.child(0))?;
        let x5 = self.vgg_backbone5.forward(g, &x4, &ctx.child(1))?;
        let coarse = self.down_sampling.forward(g, &x5, &ctx.child(2))?;
        let up = self.up_sampling2.forward(g, &coarse, &ctx.child(4))?;
        let skip = self.reduce_channel.forward(g, &x4, &ctx.child(3))?;
        let fused = g.add(&up, &skip)?;
        self.up_sampling32.forward(g, &fused, &ctx.child(5))
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.vgg_backbone4
            .visit(&format!("{prefix}vgg_backbone4."), f);
        self.vgg_backbone5
            .visit(&format!("{prefix}vgg_backbone5."), f);
        self.down_sampling
            .visit(&format!("{prefix}down_sampling."), f);
        self.reduce_channel
            .visit(&format!("{prefix}reduce_channel."), f);
        self.up_sampling2
            .visit(&format!("{prefix}up_sampling2."), f);
        self.up_sampling32
            .visit(&format!("{prefix}up_sampling32."), f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let x4 = self.vgg_backbone4.out_shape(input)?;
        let x5 = self.vgg_backbone5.out_shape(&x4)?;
        let up = self
            .up_sampling2
            .out_shape(&self.down_sampling.out_shape(&x5)?)?;
        let skip = self.reduce_channel.out_shape(&x4)?;
        check_fuse("FCN16s", "pool5", &up, "pool4", &skip)?;
        self.up_sampling32.out_shape(&up)
    }

    fn describe(&self) -> String {
        "FCN16s".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("vgg_backbone4".into(), &self.vgg_backbone4 as &dyn Module),
            ("vgg_backbone5".into(), &self.vgg_backbone5),
            ("down_sampling".into(), &self.down_sampling),
            ("reduce_channel".into(), &self.reduce_channel),
            ("up_sampling2".into(), &self.up_sampling2),
            ("up_sampling32".into(), &self.up_sampling32),
        ]
    }

    fn child_inputs(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        let x4 = self.vgg_backbone4.out_shape(input)?;
        let x5 = self.vgg_backbone5.out_shape(&x4)?;
        let coarse = self.down_sampling.out_shape(&x5)?;
        let up = self.up_sampling2.out_shape(&coarse)?;
        Ok(vec![input.to_vec(), x4.clone(), x5, x4, coarse, up])
    }
}

/// vgg_backbone3 (features 0..23, pool3 at 1/8), vgg_backbone4 (24..33, pool4 at 1/16),
/// vgg_backbone5 (34..43, pool5 at 1/32), down_sampling as FCN16s', reduce_channel4 and
/// reduce_channel3 (pool4 and pool3 to the classes), up_sampling2 and up_sampling2b (x2 each) and
/// up_sampling8 (x8): y = up_sampling2(down_sampling(x5)) + reduce_channel4(x4),
/// out = up_sampling8(up_sampling2b(y) + reduce_channel3(x3)).
pub struct Fcn8s {
    pub vgg_backbone3: Sequential,
    pub vgg_backbone4: Sequential,
    pub vgg_backbone5: Sequential,
    pub down_sampling: Sequential,
    pub reduce_channel4: Conv2d,
    pub reduce_channel3: Conv2d,
    pub up_sampling2: ConvTranspose2d,
    pub up_sampling2b: ConvTranspose2d,
    pub up_sampling8: ConvTranspose2d,
}

/// FCN8s' intermediate shapes for one input: pool3, pool4, pool5, the coarse scores and the two
/// fused score maps (at 1/16 and 1/8).
struct Fcn8sShapes {
    x3: Vec<usize>,
    x4: Vec<usize>,
    x5: Vec<usize>,
    coarse: Vec<usize>,
    fused4: Vec<usize>,
    fused3: Vec<usize>,
}

impl Fcn8s {
    pub fn new(
        gpu: &Gpu,
        init: &mut WeightInit,
        classes: usize,
        upsampling_init: UpsamplingInit,
    ) -> Result<Fcn8s> {
        let mut block3 = vgg16_features(gpu, init)?;
        let mut block4 = block3.split_off(24);
        let block5 = block4.split_off(10);
        Ok(Fcn8s {
            vgg_backbone3: Sequential::numbered(0, block3),
            vgg_backbone4: Sequential::numbered(24, block4),
            vgg_backbone5: Sequential::numbered(34, block5),
            down_sampling: bn_down_sampling(gpu, init, classes)?,
            reduce_channel4: conv1x1(gpu, init, 512, classes)?,
            reduce_channel3: conv1x1(gpu, init, 256, classes)?,
            up_sampling2: upsampling(gpu, init, classes, 2, true, upsampling_init)?,
            up_sampling2b: upsampling(gpu, init, classes, 2, true, upsampling_init)?,
            up_sampling8: upsampling(gpu, init, classes, 8, true, upsampling_init)?,
        })
    }

    fn shapes(&self, input: &[usize]) -> Result<Fcn8sShapes> {
        let x3 = self.vgg_backbone3.out_shape(input)?;
        let x4 = self.vgg_backbone4.out_shape(&x3)?;
        let x5 = self.vgg_backbone5.out_shape(&x4)?;
        let coarse = self.down_sampling.out_shape(&x5)?;
        let fused4 = self.up_sampling2.out_shape(&coarse)?;
        check_fuse(
            "FCN8s",
            "pool5",
            &fused4,
            "pool4",
            &self.reduce_channel4.out_shape(&x4)?,
        )?;
        let fused3 = self.up_sampling2b.out_shape(&fused4)?;
        check_fuse(
            "FCN8s",
            "fused pool4",
            &fused3,
            "pool3",
            &self.reduce_channel3.out_shape(&x3)?,
        )?;
        Ok(Fcn8sShapes {
            x3,
            x4,
            x5,
            coarse,
            fused4,
            fused3,
        })
    }
}

impl Module for Fcn8s {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let x3 = self.vgg_backbone3.forward(g, x, &ctx.child(0))?;
        let x4 = self.vgg_backbone4.forward(g, &x3, &ctx.child(1))?;
        let x5 = self.vgg_backbone5.forward(g, &x4, &ctx.child(2))?;
        let coarse = self.down_sampling.forward(g, &x5, &ctx.child(3))?;
        let up = self.up_sampling2.forward(g, &coarse, &ctx.child(6))?;
        let skip4 = self.reduce_channel4.forward(g, &x4, &ctx.child(4))?;
        let fused4 = g.add(&up, &skip4)?;
        let up = self.up_sampling2b.forward(g, &fused4, &ctx.child(7))?;
        let skip3 = self.reduce_channel3.forward(g, &x3, &ctx.child(5))?;
        let fused3 = g.add(&up, &skip3)?;
        self.up_sampling8.forward(g, &fused3, &ctx.child(8))
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.vgg_backbone3
            .visit(&format!("{prefix}vgg_backbone3."), f);
        self.vgg_backbone4
            .visit(&format!("{prefix}vgg_backbone4."), f);
        self.vgg_backbone5
            .visit(&format!("{prefix}vgg_backbone5."), f);
        self.down_sampling
            .visit(&format!("{prefix}down_sampling."), f);
        self.reduce_channel4
            .visit(&format!("{prefix}reduce_channel4."), f);
        self.reduce_channel3
            .visit(&format!("{prefix}reduce_channel3."), f);
        self.up_sampling2
            .visit(&format!("{prefix}up_sampling2."), f);
        self.up_sampling2b
            .visit(&format!("{prefix}up_sampling2b."), f);
        self.up_sampling8
            .visit(&format!("{prefix}up_sampling8."), f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.up_sampling8.out_shape(&self.shapes(input)?.fused3)
    }

    fn describe(&self) -> String {
        "FCN8s".into()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("vgg_backbone3".into(), &self.vgg_backbone3 as &dyn Module),
            ("vgg_backbone4".into(), &self.vgg_backbone4),
            ("vgg_backbone5".into(), &self.vgg_backbone5),
            ("down_sampling".into(), &self.down_sampling),
            ("reduce_channel4".into(), &self.reduce_channel4),
            ("reduce_channel3".into(), &self.reduce_channel3),
            ("up_sampling2".into(), &self.up_sampling2),
            ("up_sampling2b".into(), &self.up_sampling2b),
            ("up_sampling8".into(), &self.up_sampling8),
        ]
    }

    fn child_inputs(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        let s = self.shapes(input)?;
        Ok(vec![
            input.to_vec(),
            s.x3.clone(),
            s.x4.clone(),
            s.x5,
            s.x4,
            s.x3,
            s.coarse,
            s.fused4,
            s.fused3,
        ])
    }
}
