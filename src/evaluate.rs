//! Running a model over a dataset without gradients: metrics, and predictions with their logits.

use std::sync::Arc;

use crate::autograd::Graph;
use crate::data::{Batch, Batches, Dataset};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::models::Model;
use crate::nn::Context;
use crate::ops::metrics::{IouCounts, argmax_channels};
use crate::tensor::Tensor;

/// Metrics of a model on a labelled dataset.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean cross-entropy over all labels.
    pub loss: f64,
    /// Fraction of correctly classified images (classification).
    pub accuracy: Option<f64>,
    /// Pixel counts for IoU (segmentation).
    pub iou: Option<IouCounts>,
}

impl Evaluation {
    /// The metric training keeps the best checkpoint by: accuracy or mean IoU.
    pub fn metric(&self) -> f64 {
        match &self.iou {
            Some(iou) => iou.mean_iou(),
            None => self.accuracy.unwrap_or(f64::NAN),
        }
    }
}

/// Logits of one batch in evaluation mode.
pub fn logits(gpu: &Gpu, model: &mut Model, batch: &Batch) -> Result<Tensor> {
    let g = Graph::inference(gpu);
    let x = g.input(Tensor::from_f32(gpu, &batch.shape, &batch.images)?);
    let ctx = Context::eval();
    Ok(model.forward(&g, &x, &ctx)?.value)
}

/// The labels of `batch`, each within the model's `classes` (an out-of-range label cannot be
/// scored); `purpose` ("training") names what needs them in the error for unlabelled data.
pub fn checked_labels<'b>(batch: &'b Batch, classes: usize, purpose: &str) -> Result<&'b [i32]> {
    check_labels(batch, classes)?;
    batch
        .labels
        .as_deref()
        .ok_or_else(|| Error::File(format!("{purpose} needs labelled data")))
}

fn check_labels(batch: &Batch, classes: usize) -> Result<()> {
    if let Some(bad) = batch
        .labels
        .iter()
        .flatten()
        .find(|&&l| l < 0 || l as usize >= classes)
    {
        return Err(Error::File(format!(
            "label {bad} in batch starting at {} is outside the model's {classes} classes",
            batch.ids[0]
        )));
    }
    Ok(())
}

/// Accuracy or IoU counts, and mean loss, of `model` on `data`.
pub fn evaluate(
    gpu: &Gpu,
    model: &mut Model,
    data: Arc<dyn Dataset>,
    batch_size: usize,
) -> Result<Evaluation> {
    let segmentation = model.arch.is_segmentation();
    let mut iou = IouCounts::new(model.classes);
    let (mut correct, mut seen, mut loss_sum, mut loss_weight) = (0usize, 0usize, 0.0f64, 0.0f64);
    for batch in Batches::new(data, batch_size, None, Default::default()) {
        let batch = batch?;
        let labels = checked_labels(&batch, model.classes, "evaluation")?;
        // Uploaded before the forward is recorded: an upload submits the work recorded so far.
        let targets = Tensor::from_i32(gpu, &batch.label_shape(), labels)?;
        let out = logits(gpu, model, &batch)?;
        let loss = crate::ops::loss::cross_entropy(gpu, &out, &targets, None)?;
        let pred = argmax_channels(gpu, &out)?.to_i32(gpu)?;
        loss_sum += f64::from(loss.loss.to_f32(gpu)?[0]) * labels.len() as f64;
        loss_weight += labels.len() as f64;
        if segmentation {
            iou.add(&pred, labels);
        } else {
            correct += pred.iter().zip(labels).filter(|(p, l)| p == l).count();
        }
        seen += labels.len();
    }
    Ok(Evaluation {
        loss: loss_sum / loss_weight,
        accuracy: (!segmentation).then(|| correct as f64 / seen.max(1) as f64),
        iou: segmentation.then_some(iou),
    })
}

/// A model's predictions over a dataset, in id order.
pub struct Predictions {
    pub ids: Vec<String>,
    /// Predicted class per image (classification) or per pixel, image after image (segmentation).
    pub classes: Vec<i32>,
    /// [height, width] of every image.
    pub size: [usize; 2],
    /// Raw outputs [N, C] or [N, C, H, W], if asked for.
    pub logits: Option<(Vec<usize>, Vec<f32>)>,
}

/// Runs `model` over every image of `data` (in id order).
pub fn predict(
    gpu: &Gpu,
    model: &mut Model,
    data: Arc<dyn Dataset>,
    batch_size: usize,
    keep_logits: bool,
) -> Result<Predictions> {
    let mut p = Predictions {
        ids: Vec::new(),
        classes: Vec::new(),
        size: [0, 0],
        logits: keep_logits.then(|| (Vec::new(), Vec::new())),
    };
    for batch in Batches::new(data, batch_size, None, Default::default()) {
        let batch = batch?;
        let size = [batch.shape[2], batch.shape[3]];
        if p.ids.is_empty() {
            p.size = size;
        } else if size != p.size {
            return Err(Error::File(format!(
                "image {} is {}x{} but earlier images are {}x{}; predict needs images of one size",
                batch.ids[0], size[0], size[1], p.size[0], p.size[1]
            )));
        }
        let out = logits(gpu, model, &batch)?;
        p.classes.extend(argmax_channels(gpu, &out)?.to_i32(gpu)?);
        if let Some((shape, values)) = &mut p.logits {
            values.extend(out.to_f32(gpu)?);
            *shape = [p.ids.len() + batch.ids.len()]
                .into_iter()
                .chain(out.shape()[1..].iter().copied())
                .collect();
        }
        p.ids.extend(batch.ids);
    }
    Ok(p)
}

impl Predictions {
    /// `image_id,label` rows.
    pub fn write_csv(&self, path: &std::path::Path) -> Result<()> {
        let mut csv = String::from("image_id,label\n");
        for (id, class) in self.ids.iter().zip(&self.classes) {
            csv += &format!("{id},{class}\n");
        }
        crate::fsutil::write_atomically(path, csv.as_bytes())
    }

    /// `{id}_mask.png` per image in the land-cover colour code.
    pub fn write_masks(&self, dir: &std::path::Path) -> Result<()> {
        crate::fsutil::create_folder(dir)?;
        let [h, w] = self.size;
        for (id, classes) in self.ids.iter().zip(self.classes.chunks(h * w)) {
            let img = crate::draw::mask_to_rgb(classes, self.size);
            crate::draw::save_png(&img, &dir.join(format!("{id}_mask.png")))?;
        }
        Ok(())
    }

    /// `{id}_overlay.png` per image of `data` (the images predicted, in the same order): the
    /// predicted mask blended over the image, with the land-cover legend.
    pub fn write_overlays(&self, data: &dyn Dataset, dir: &std::path::Path) -> Result<()> {
        let [h, w] = self.size;
        for (i, (id, classes)) in self.ids.iter().zip(self.classes.chunks(h * w)).enumerate() {
            let example = data.get(i)?;
            let image = crate::data::denormalize(&example.image, example.size);
            let mask = crate::draw::mask_to_rgb(classes, self.size);
            let picture = crate::draw::overlay_with_legend(&image, &mask);
            crate::draw::save_png(&picture, &dir.join(format!("{id}_overlay.png")))?;
        }
        Ok(())
    }

    /// The logits as the safetensors tensor `logits`, rows in id order.
    pub fn write_logits(&self, path: &std::path::Path) -> Result<()> {
        let Some((shape, values)) = &self.logits else {
            return Err(Error::File("no logits were kept".into()));
        };
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            shape.clone(),
            bytemuck::cast_slice(values),
        )
        .map_err(|e| Error::File(format!("cannot serialise logits: {e}")))?;
        let bytes = safetensors::serialize([("logits", view)], None)
            .map_err(|e| Error::File(format!("cannot serialise logits: {e}")))?;
        crate::fsutil::write_atomically(path, &bytes)
    }
}
