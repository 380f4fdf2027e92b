//! Data: the homework's folder layouts, a built-in synthetic set, the mask colour code, and a loader
//! that decodes batches on CPU threads while the GPU works.

mod folders;
mod loader;
mod synthetic;

pub(crate) use folders::read_rgb;
pub use folders::{ClassifyFolder, ImageFolder, SegmentFolder};
pub use loader::{Augment, Batch, Batches};
pub use synthetic::{SyntheticClassify, SyntheticSegment};

use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};

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

/// Full-saturation, full-value RGB (each in [0, 1]) of `hue` in sixths of the circle ([0, 6)).
pub fn hue_rgb(hue: f32) -> [f32; 3] {
    let x = 1.0 - (hue % 2.0 - 1.0).abs();
    match hue as u32 {
        0 => [1.0, x, 0.0],
        1 => [x, 1.0, 0.0],
        2 => [0.0, 1.0, x],
        3 => [0.0, x, 1.0],
        4 => [x, 0.0, 1.0],
        _ => [1.0, 0.0, x],
    }
}

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

/// The RGB image that `normalize` made `image` (CHW, [height, width]) from, to draw it.
pub fn denormalize(image: &[f32], size: [usize; 2]) -> image::RgbImage {
    let [h, w] = size;
    let plane = h * w;
    image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            let v = (image[c * plane + i] * IMAGENET_STD[c] + IMAGENET_MEAN[c]) * 255.0;
            v.round().clamp(0.0, 255.0) as u8
        }))
    })
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

/// Chosen examples of a dataset, by id, in the order asked for.
pub struct Subset {
    data: Arc<dyn Dataset>,
    indices: Vec<usize>,
}

impl Subset {
    /// The examples of `data` with these ids; an id it lacks is an error listing some it has.
    /// `source` names the data in that error.
    pub fn by_ids(data: Arc<dyn Dataset>, ids: &[String], source: &str) -> Result<Subset> {
        let all: Vec<String> = (0..data.len()).map(|i| data.id(i)).collect();
        let indices = ids
            .iter()
            .map(|id| {
                all.iter().position(|a| a == id).ok_or_else(|| {
                    let some: Vec<&str> = all.iter().take(8).map(String::as_str).collect();
                    Error::File(format!(
                        "{source} has no tile {id} (it has {}{})",
                        some.join(", "),
                        if all.len() > some.len() { ", ..." } else { "" }
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Subset { data, indices })
    }
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn id(&self, i: usize) -> String {
        self.data.id(self.indices[i])
    }

    fn get(&self, i: usize) -> Result<Example> {
        self.data.get(self.indices[i])
    }

    fn classes(&self) -> usize {
        self.data.classes()
    }
}

/// What a full pass over a dataset found.
#[derive(Clone, Debug)]
pub struct Scan {
    /// [height, width] of every image.
    pub size: [usize; 2],
    /// The largest label (an image's class, or a mask pixel's) and the id of its example; None for
    /// unlabelled images.
    pub max_label: Option<(i32, String)>,
}

/// Decodes every example once (in parallel, keeping nothing) and checks that they share one size.
/// Commands scan their data first, so a corrupt, truncated or odd-sized file stops them before they
/// write anything or spend time on the GPU, with an error naming the file.
pub fn scan(data: &dyn Dataset) -> Result<Scan> {
    let found = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let e = data.get(i)?;
            let max_label = match &e.target {
                Target::Label(l) => Some(*l),
                Target::Mask(m) => m.iter().max().copied(),
                Target::None => None,
            };
            Ok((e.id, e.size, max_label))
        })
        .collect::<Result<Vec<_>>>()?;
    // The size most images have is the expected one: the error names an image that differs from it.
    let mut counts: Vec<([usize; 2], usize)> = Vec::new();
    for (_, size, _) in &found {
        match counts.iter_mut().find(|(s, _)| s == size) {
            Some((_, n)) => *n += 1,
            None => counts.push((*size, 1)),
        }
    }
    let Some(&(size, common)) = counts.iter().max_by_key(|(_, n)| *n) else {
        return Err(Error::File("there are no images to read".into()));
    };
    if let Some((id, odd, _)) = found.iter().find(|(_, s, _)| *s != size) {
        return Err(Error::File(format!(
            "image {id} is {}x{} but {common} of the {} images are {}x{}; all images must share one size",
            odd[0],
            odd[1],
            found.len(),
            size[0],
            size[1]
        )));
    }
    let max_label = found
        .into_iter()
        .filter_map(|(id, _, label)| label.map(|l| (l, id)))
        .max_by_key(|(l, _)| *l);
    Ok(Scan { size, max_label })
}
