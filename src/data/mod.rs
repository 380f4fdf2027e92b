//! Data: the homework's folder layouts, a built-in synthetic set, the mask colour code, and a loader
//! that decodes batches on CPU threads while the GPU works.

mod folders;
mod loader;
mod synthetic;

pub use folders::{ClassifyFolder, ImageFolder, SegmentFolder};
pub use loader::{Augment, Batch, Batches};
pub use synthetic::{SyntheticClassify, SyntheticSegment};

use crate::error::Result;

/// ImageNet statistics used to normalise inputs, as torchvision's pretrained VGG expects.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Land-cover classes of the segmentation masks, with their colours (class 6 is "unknown").
pub const LAND_COVER: [(&str, [u8; 3]); 7] = [
    ("urban", [0, 255, 255]),
    ("agriculture", [255, 255, 0]),
    ("rangeland", [255, 0, 255]),
    ("forest", [0, 255, 0]),
    ("water", [0, 0, 255]),
    ("barren", [255, 255, 255]),
    ("unknown", [0, 0, 0]),
];

/// The class of a mask pixel: each channel thresholded at 128, code = 4R + 2G + B.
pub fn mask_class(rgb: [u8; 3]) -> i32 {
    let bit = |v: u8| i32::from(v >= 128);
    match 4 * bit(rgb[0]) + 2 * bit(rgb[1]) + bit(rgb[2]) {
        3 => 0,
        6 => 1,
        5 => 2,
        2 => 3,
        1 => 4,
        7 => 5,
        _ => 6,
    }
}

/// An RGB image as normalised CHW floats: pixels / 255, minus the ImageNet mean, over its std.
pub fn normalize(rgb: &image::RgbImage) -> Vec<f32> {
    let (w, h) = rgb.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0.0; 3 * plane];
    for (i, p) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(p[c]) / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}

/// What an example is labelled with.
#[derive(Clone, Debug)]
pub enum Target {
    /// A class index.
    Label(i32),
    /// A class per pixel, row-major.
    Mask(Vec<i32>),
    /// Nothing (images to predict).
    None,
}

/// One decoded example.
#[derive(Clone, Debug)]
pub struct Example {
    pub id: String,
    /// Normalised CHW pixels.
    pub image: Vec<f32>,
    /// [height, width].
    pub size: [usize; 2],
    pub target: Target,
}

/// A collection of examples, decodable from any thread.
pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The id of example `i` (a file name, or a tile id), in a stable sorted order.
    fn id(&self, i: usize) -> String;
    fn get(&self, i: usize) -> Result<Example>;
    /// The number of classes the labels imply.
    fn classes(&self) -> usize;
}
