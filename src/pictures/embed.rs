//! `wgnn embed`: VGG16-bn features of a classification folder, embedded in 2-D by t-SNE
//! (Barnes-Hut, from the `bhtsne` crate) and drawn one colour per class.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::autograd::{Graph, Var};
use crate::checkpoint::Checkpoint;
use crate::data::{Batches, Dataset};
use crate::error::{Error, Result};
use crate::evaluate::logits;
use crate::gpu::Gpu;
use crate::models::{Architecture, Model, Vgg16Bn};
use crate::nn::{Context, Entry, Module, WeightInit};

/// Which activations of VGG16-bn are embedded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureLayer {
    /// The output of `features` (pool5: 512 x H/32 x W/32).
    Features,
    /// The input of `classifier`: pool5 after AdaptiveAvgPool2d((7, 7)), 25088 values.
    ClassifierInput,
}

/// VGG16-bn whose forward stops at `layer`. It has every module and state_dict name of the whole
/// model, so a checkpoint of it loads unchanged.
struct Truncated {
    vgg: Vgg16Bn,
    layer: FeatureLayer,
}

impl Module for Truncated {
    fn forward(&mut self, g: &Graph, x: &Var, ctx: &Context) -> Result<Var> {
        let h = self.vgg.features.forward(g, x, &ctx.child(0))?;
        match self.layer {
            FeatureLayer::Features => Ok(h),
            FeatureLayer::ClassifierInput => self.vgg.avgpool.forward(g, &h, &ctx.child(1)),
        }
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        self.vgg.visit(prefix, f);
    }

    fn out_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let h = self.vgg.features.out_shape(input)?;
        match self.layer {
            FeatureLayer::Features => Ok(h),
            FeatureLayer::ClassifierInput => self.vgg.avgpool.out_shape(&h),
        }
    }

    fn describe(&self) -> String {
        self.vgg.describe()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut children = vec![("features".to_owned(), &self.vgg.features as &dyn Module)];
        if self.layer == FeatureLayer::ClassifierInput {
            children.push(("avgpool".to_owned(), &self.vgg.avgpool));
        }
        children
    }

    fn num_params(&self) -> usize {
        self.vgg.num_params()
    }
}

/// Features of one image per row, with its id and label.
pub struct Features {
    pub ids: Vec<String>,
    pub labels: Vec<usize>,
    /// Values per image.
    pub dim: usize,
    /// Row-major, one row per image.
    pub values: Vec<f32>,
}

/// The `layer` activations of the VGG16-bn in `weights` for every image of `data` (in id order).
pub fn extract_features(
    gpu: &Gpu,
    weights: &Checkpoint,
    classes: usize,
    layer: FeatureLayer,
    data: Arc<dyn Dataset>,
    batch_size: usize,
) -> Result<Features> {
    let mut model = Model {
        arch: Architecture::Vgg16bn,
        classes,
        net: Box::new(Truncated {
            vgg: Vgg16Bn::new(gpu, &mut WeightInit::Unwritten, classes)?,
            layer,
        }),
    };
    weights.load_into(gpu, &mut model)?;
    let mut f = Features {
        ids: Vec::new(),
        labels: Vec::new(),
        dim: 0,
        values: Vec::new(),
    };
    for batch in Batches::new(data, batch_size, None, Default::default()) {
        let batch = batch?;
        let out = logits(gpu, &mut model, &batch)?;
        f.dim = out.shape()[1..].iter().product();
        f.values.extend(out.to_f32(gpu)?);
        let labels = batch
            .labels
            .as_ref()
            .ok_or_else(|| Error::File("an embedding needs labelled images".into()))?;
        f.labels.extend(labels.iter().map(|&l| l.max(0) as usize));
        f.ids.extend(batch.ids);
    }
    Ok(f)
}

/// The largest perplexity t-SNE accepts for `n` points: each point needs 3 x perplexity
/// neighbours.
pub fn max_perplexity(n: usize) -> f32 {
    (n.saturating_sub(1) / 3) as f32
}

/// Fails unless t-SNE can embed `n` points with `perplexity` (it would panic).
pub fn check_perplexity(n: usize, perplexity: f32) -> Result<()> {
    if n < 4 {
        return Err(Error::Shape(format!(
            "t-SNE needs at least 4 images, got {n}"
        )));
    }
    if !(perplexity > 0.0 && perplexity <= max_perplexity(n)) {
        return Err(Error::Shape(format!(
            "--perplexity {perplexity} does not fit {n} images: it must be above 0 and at most {} ((images - 1) / 3)",
            max_perplexity(n)
        )));
    }
    Ok(())
}

/// 2-D t-SNE coordinates of `values` (rows of `dim`), Barnes-Hut with theta 0.5 over Euclidean
/// distances, 1000 iterations (early exaggeration 12 for the first 250), started from small
/// random positions drawn from `seed`.
pub fn tsne(values: &[f32], dim: usize, perplexity: f32, seed: u64) -> Result<Vec<[f32; 2]>> {
    let rows: Vec<&[f32]> = values.chunks(dim.max(1)).collect();
    let n = rows.len();
    check_perplexity(n, perplexity)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let start: Vec<f32> = (0..2 * n).map(|_| rng.random_range(-1e-4..1e-4)).collect();
    let embedding = bhtsne::tSNE::<f32, &[f32], 2>::new(&rows)
        .perplexity(perplexity)
        .epochs(1000)
        // bhtsne's automatic rate, max(n / 48, 50), collapses clusters of a few hundred points
        // into single dots; the classic 200, growing as n / 12 (Belkina et al., 2019), does not.
        .learning_rate((n as f32 / 12.0).max(200.0))
        .initial_embedding(start)
        .barnes_hut(0.5, |a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt()
        })
        .embedding();
    Ok(embedding.chunks(2).map(|p| [p[0], p[1]]).collect())
}

/// `image_id,label,x,y` rows.
pub fn embedding_csv(ids: &[String], labels: &[usize], points: &[[f32; 2]]) -> String {
    let mut csv = String::from("image_id,label,x,y\n");
    for ((id, label), p) in ids.iter().zip(labels).zip(points) {
        csv += &format!("{id},{label},{},{}\n", p[0], p[1]);
    }
    csv
}
