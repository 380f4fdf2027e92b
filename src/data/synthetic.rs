//! Built-in data, generated from a seed, so `wgnn train` runs with no download: small images a
//! VGG16-bn or FCN learns in minutes even on a CPU driver. Both sets can also be written out in the
//! homework's folder layout (`wgnn synth`).

use std::path::Path;

use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Dataset, Example, LAND_COVER, Target, normalize};
use crate::error::{Error, Result};

/// A colour per class, far apart in hue.
fn class_colour(class: usize, classes: usize) -> [f32; 3] {
    super::hue_rgb(class as f32 / classes as f32 * 6.0).map(|c| c * 230.0)
}

fn pixel(rgb: [f32; 3], rng: &mut StdRng, noise: f32) -> Rgb<u8> {
    Rgb(rgb.map(|c| (c + rng.random_range(-noise..noise)).clamp(0.0, 255.0) as u8))
}

/// Classification: a 32x32 grey, noisy background with a square of the class's colour at a random
/// place and size. Training and validation sets differ by seed.
pub struct SyntheticClassify {
    pub count: usize,
    pub classes: usize,
    pub seed: u64,
}

impl SyntheticClassify {
    /// The built-in classification set: 10 classes, 200 training or 50 validation images.
    pub fn builtin(validation: bool) -> SyntheticClassify {
        SyntheticClassify {
            count: if validation { 50 } else { 200 },
            classes: 10,
            seed: if validation { 2 } else { 1 },
        }
    }

    pub fn render(&self, i: usize) -> (RgbImage, i32) {
        let class = i % self.classes;
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(1_000_003) ^ i as u64);
        let colour = class_colour(class, self.classes);
        let side = rng.random_range(14..26u32);
        let (x0, y0) = (
            rng.random_range(0..32 - side),
            rng.random_range(0..32 - side),
        );
        let grey = rng.random_range(60.0..190.0);
        let img = RgbImage::from_fn(32, 32, |x, y| {
            let inside = (x0..x0 + side).contains(&x) && (y0..y0 + side).contains(&y);
            pixel(if inside { colour } else { [grey; 3] }, &mut rng, 25.0)
        });
        (img, class as i32)
    }

    /// Writes `{label}_{index}.png` files.
    pub fn write_folder(&self, dir: &Path) -> Result<()> {
        for i in 0..self.count {
            let (img, label) = self.render(i);
            save(&img, &dir.join(format!("{label}_{i}.png")))?;
        }
        Ok(())
    }
}

impl Dataset for SyntheticClassify {
    fn len(&self) -> usize {
        self.count
    }

    fn id(&self, i: usize) -> String {
        format!("{}_{i}.png", i % self.classes)
    }

    fn get(&self, i: usize) -> Result<Example> {
        let (img, label) = self.render(i);
        Ok(Example {
            id: self.id(i),
            image: normalize(&img),
            size: [32, 32],
            target: Target::Label(label),
        })
    }

    fn classes(&self) -> usize {
        self.classes
    }
}

/// Segmentation: `size` x `size` tiles cut into regions (nearest of a few random centres), each a
/// land-cover class drawn in its own noisy ground colour. Tile i contains class i mod 6 at least.
pub struct SyntheticSegment {
    pub count: usize,
    pub size: u32,
    pub seed: u64,
}

/// The colour the synthetic "satellite" draws each class with (not the mask colour).
const GROUND: [[f32; 3]; 7] = [
    [150.0, 150.0, 160.0],
    [200.0, 190.0, 90.0],
    [170.0, 140.0, 100.0],
    [40.0, 100.0, 40.0],
    [40.0, 70.0, 160.0],
    [220.0, 210.0, 190.0],
    [20.0, 20.0, 20.0],
];

impl SyntheticSegment {
    /// The built-in segmentation set: 64x64 tiles, 24 for training or 8 for validation.
    pub fn builtin(validation: bool) -> SyntheticSegment {
        SyntheticSegment {
            count: if validation { 8 } else { 24 },
            size: 64,
            seed: if validation { 2 } else { 1 },
        }
    }

    pub fn render(&self, i: usize) -> (RgbImage, RgbImage) {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(1_000_033) ^ i as u64);
        let s = self.size;
        let regions: Vec<(f32, f32, usize)> = (0..5)
            .map(|k| {
                let class = if k == 0 {
                    i % 6
                } else {
                    rng.random_range(0..7)
                };
                (
                    rng.random_range(0.0..s as f32),
                    rng.random_range(0.0..s as f32),
                    class,
                )
            })
            .collect();
        let class_at = |x: u32, y: u32| {
            let d = |r: &(f32, f32, usize)| (r.0 - x as f32).powi(2) + (r.1 - y as f32).powi(2);
            regions
                .iter()
                .min_by(|a, b| d(a).total_cmp(&d(b)))
                .map_or(6, |r| r.2)
        };
        let sat = RgbImage::from_fn(s, s, |x, y| pixel(GROUND[class_at(x, y)], &mut rng, 30.0));
        let mask = RgbImage::from_fn(s, s, |x, y| Rgb(LAND_COVER[class_at(x, y)].1));
        (sat, mask)
    }

    /// Writes `{id}_sat.png` and `{id}_mask.png` files with four-digit ids.
    pub fn write_folder(&self, dir: &Path) -> Result<()> {
        for i in 0..self.count {
            let (sat, mask) = self.render(i);
            save(&sat, &dir.join(format!("{i:04}_sat.png")))?;
            save(&mask, &dir.join(format!("{i:04}_mask.png")))?;
        }
        Ok(())
    }
}

impl Dataset for SyntheticSegment {
    fn len(&self) -> usize {
        self.count
    }

    fn id(&self, i: usize) -> String {
        format!("{i:04}")
    }

    fn get(&self, i: usize) -> Result<Example> {
        let (sat, mask) = self.render(i);
        Ok(Example {
            id: self.id(i),
            image: normalize(&sat),
            size: [self.size as usize; 2],
            target: Target::Mask(mask.pixels().map(|p| super::mask_class(p.0)).collect()),
        })
    }

    fn classes(&self) -> usize {
        LAND_COVER.len()
    }
}

/// Writes `img` atomically in the format its extension names (PNG or JPEG).
fn save(img: &RgbImage, path: &Path) -> Result<()> {
    let format = image::ImageFormat::from_path(path)
        .map_err(|e| Error::File(format!("cannot write {}: {e}", path.display())))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)
        .map_err(|e| Error::File(format!("cannot encode {}: {e}", path.display())))?;
    crate::fsutil::write_atomically(path, &bytes.into_inner())
}
