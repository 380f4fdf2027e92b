//! `wgnn compare`: tiles with their ground truth and several models' predictions side by side.

use std::sync::Arc;

use image::RgbImage;

use super::{mean_iou_of_present_classes, tiles};
use crate::data::Dataset;
use crate::draw::{Montage, mask_to_rgb};
use crate::error::Result;
use crate::evaluate::predict;
use crate::gpu::Gpu;
use crate::models::Model;
use crate::ops::metrics::IouCounts;

/// A model to compare and the name its column is titled with.
pub struct Contender {
    pub name: String,
    pub model: Model,
}

/// The comparison montage (rows: tiles; columns: image, ground truth, then each model's
/// prediction, titled with its name and its mean IoU over these tiles) and those mean IoUs.
pub fn compare(
    gpu: &Gpu,
    contenders: &mut [Contender],
    data: Arc<dyn Dataset>,
    batch_size: usize,
) -> Result<(RgbImage, Vec<f64>)> {
    let tiles = tiles(data.as_ref())?;
    let mut column_labels = vec!["image".to_owned(), "ground truth".to_owned()];
    let mut rows: Vec<(String, Vec<RgbImage>)> = tiles
        .iter()
        .map(|t| {
            (
                format!("tile {}", t.id),
                vec![t.image.clone(), t.mask.clone()],
            )
        })
        .collect();
    let mut scores = Vec::new();
    for c in contenders.iter_mut() {
        let p = predict(gpu, &mut c.model, Arc::clone(&data), batch_size, false)?;
        let plane = p.size[0] * p.size[1];
        let mut iou = IouCounts::new(c.model.classes);
        for ((tile, classes), row) in tiles.iter().zip(p.classes.chunks(plane)).zip(&mut rows) {
            iou.add(classes, &tile.classes);
            row.1.push(mask_to_rgb(classes, p.size));
        }
        let score = mean_iou_of_present_classes(&iou);
        column_labels.push(format!("{}\nmIoU {score:.4}", c.name));
        scores.push(score);
    }
    let montage = Montage {
        title: None,
        column_labels,
        rows,
        legend: true,
    };
    Ok((montage.render(), scores))
}
