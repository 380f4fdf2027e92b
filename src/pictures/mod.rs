//! The homework's picture deliverables, drawn by running models on the GPU and `draw` on the CPU:
//! models' predictions side by side (`wgnn compare`), mask snapshots during training (`wgnn
//! train segment --snapshot`) and a t-SNE embedding of VGG features (`wgnn embed`).

pub mod compare;
pub mod embed;
pub mod snapshots;

use image::RgbImage;

use crate::data::{Dataset, Target, denormalize};
use crate::error::{Error, Result};
use crate::ops::metrics::IouCounts;

/// A labelled tile as pictures: its id, the satellite image, its ground-truth classes and mask.
pub struct Tile {
    pub id: String,
    pub image: RgbImage,
    pub classes: Vec<i32>,
    pub mask: RgbImage,
}

/// Every tile of `data` (in order) as pictures.
pub fn tiles(data: &dyn Dataset) -> Result<Vec<Tile>> {
    (0..data.len())
        .map(|i| {
            let e = data.get(i)?;
            let Target::Mask(classes) = e.target else {
                return Err(Error::File(format!("{} has no mask", e.id)));
            };
            Ok(Tile {
                image: denormalize(&e.image, e.size),
                mask: crate::draw::mask_to_rgb(&classes, e.size),
                classes,
                id: e.id,
            })
        })
        .collect()
}

/// The homework's mean IoU (classes 0..5, pixels pooled) over the classes it is defined for: on
/// a few tiles a class is often in neither the labels nor the predictions, and its 0 / 0 says
/// nothing about the model. NaN if no class is defined.
pub fn mean_iou_of_present_classes(iou: &IouCounts) -> f64 {
    let defined: Vec<f64> = (0..6.min(iou.both.len()))
        .map(|i| iou.iou(i))
        .filter(|v| !v.is_nan())
        .collect();
    defined.iter().sum::<f64>() / defined.len() as f64
}
