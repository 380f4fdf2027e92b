//! The homework's folder layouts: `{label}_{index}.png` for classification, `{id}_sat.jpg` (or
//! `.png`) with `{id}_mask.png` for segmentation, and a plain folder of images for prediction.

use std::path::{Path, PathBuf};

use super::{Dataset, Example, Target, mask_class, normalize};
use crate::error::{Error, Result};

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::File(format!("cannot read folder {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn is_image(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase)
            .as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn read_rgb(path: &Path) -> Result<image::RgbImage> {
    image::open(path)
        .map(|i| i.to_rgb8())
        .map_err(|e| Error::File(format!("cannot decode image {}: {e}", path.display())))
}

/// `items`, the things found in `dir`, or the error that it holds no `what` when there are none.
fn found<T>(items: Vec<T>, dir: &Path, what: &str) -> Result<Vec<T>> {
    if items.is_empty() {
        return Err(Error::File(format!("{} holds no {what}", dir.display())));
    }
    Ok(items)
}

fn example_image(path: &Path) -> Result<(Vec<f32>, [usize; 2])> {
    let rgb = read_rgb(path)?;
    let size = [rgb.height() as usize, rgb.width() as usize];
    Ok((normalize(&rgb), size))
}

/// A folder of `{label}_{index}.png` images.
pub struct ClassifyFolder {
    files: Vec<(PathBuf, i32)>,
    classes: usize,
}

impl ClassifyFolder {
    pub fn open(dir: &Path) -> Result<ClassifyFolder> {
        let mut files = Vec::new();
        for path in list(dir)?.into_iter().filter(|p| is_image(p)) {
            let name = file_name(&path);
            let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
            let label = stem
                .split_once('_')
                .filter(|(l, i)| i.parse::<u64>().is_ok() && !l.is_empty())
                .and_then(|(l, _)| l.parse::<i32>().ok())
                .filter(|&l| l >= 0)
                .ok_or_else(|| {
                    Error::File(format!(
                        "{} does not follow the classification layout {{label}}_{{index}}.png",
                        path.display()
                    ))
                })?;
            files.push((path, label));
        }
        let files = found(files, dir, "{label}_{index}.png images")?;
        let classes = files.iter().map(|f| f.1).max().unwrap_or(0) as usize + 1;
        Ok(ClassifyFolder { files, classes })
    }
}

impl Dataset for ClassifyFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn id(&self, i: usize) -> String {
        file_name(&self.files[i].0)
    }

    fn get(&self, i: usize) -> Result<Example> {
        let (path, label) = &self.files[i];
        let (image, size) = example_image(path)?;
        Ok(Example {
            id: self.id(i),
            image,
            size,
            target: Target::Label(*label),
        })
    }

    fn classes(&self) -> usize {
        self.classes
    }
}

/// A folder of `{id}_sat.jpg` / `{id}_sat.png` tiles with `{id}_mask.png` masks.
pub struct SegmentFolder {
    tiles: Vec<(String, PathBuf, PathBuf)>,
}

impl SegmentFolder {
    pub fn open(dir: &Path) -> Result<SegmentFolder> {
        let files = list(dir)?;
        let mut tiles: Vec<(String, PathBuf, PathBuf)> = Vec::new();
        // An image that is neither a tile nor a mask is a mistake (a mask saved as JPEG, a tile
        // renamed by hand) rather than something to skip silently; other files are ignored.
        for path in files.iter().filter(|p| is_image(p)) {
            let name = file_name(path);
            if name
                .strip_suffix("_mask.png")
                .is_some_and(|id| !id.is_empty())
            {
                // Masks are matched with their tiles below.
                continue;
            }
            let tile_id = name.rsplit_once("_sat.").map(|(id, _)| id);
            let Some(id) = tile_id.filter(|id| !id.is_empty()) else {
                return Err(Error::File(format!(
                    "{} does not follow the segmentation layout {{id}}_sat.jpg with {{id}}_mask.png",
                    path.display()
                )));
            };
            if let Some((_, other, _)) = tiles.iter().find(|t| t.0 == id) {
                return Err(Error::File(format!(
                    "{} and {} are two images for the one mask {id}_mask.png",
                    other.display(),
                    path.display()
                )));
            }
            let mask = dir.join(format!("{id}_mask.png"));
            if !mask.is_file() {
                return Err(Error::File(format!(
                    "{} has no mask {}",
                    path.display(),
                    mask.display()
                )));
            }
            tiles.push((id.to_owned(), path.clone(), mask));
        }
        for path in &files {
            let name = file_name(path);
            if let Some(id) = name.strip_suffix("_mask.png")
                && !tiles.iter().any(|t| t.0 == id)
            {
                return Err(Error::File(format!(
                    "mask {} has no image {id}_sat.jpg or {id}_sat.png",
                    path.display()
                )));
            }
        }
        let tiles = found(tiles, dir, "{id}_sat.jpg tiles with {id}_mask.png masks")?;
        Ok(SegmentFolder { tiles })
    }
}

impl Dataset for SegmentFolder {
    fn len(&self) -> usize {
        self.tiles.len()
    }

    fn id(&self, i: usize) -> String {
        self.tiles[i].0.clone()
    }

    fn get(&self, i: usize) -> Result<Example> {
        let (id, sat, mask_path) = &self.tiles[i];
        let (image, size) = example_image(sat)?;
        let mask = read_rgb(mask_path)?;
        let mask_size = [mask.height() as usize, mask.width() as usize];
        if mask_size != size {
            return Err(Error::File(format!(
                "mask {} is {}x{} but its image is {}x{}",
                mask_path.display(),
                mask_size[0],
                mask_size[1],
                size[0],
                size[1]
            )));
        }
        Ok(Example {
            id: id.clone(),
            image,
            size,
            target: Target::Mask(mask.pixels().map(|p| mask_class(p.0)).collect()),
        })
    }

    fn classes(&self) -> usize {
        super::LAND_COVER.len()
    }
}

/// Every PNG or JPEG image in a folder, unlabelled (for prediction). Segmentation tiles named
/// `{id}_sat.*` get the id `{id}`; other images keep their file name.
pub struct ImageFolder {
    files: Vec<PathBuf>,
}

impl ImageFolder {
    pub fn open(dir: &Path) -> Result<ImageFolder> {
        let files: Vec<PathBuf> = list(dir)?
            .into_iter()
            .filter(|p| is_image(p) && !file_name(p).ends_with("_mask.png"))
            .collect();
        Ok(ImageFolder {
            files: found(files, dir, "PNG or JPEG images")?,
        })
    }
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn id(&self, i: usize) -> String {
        let name = file_name(&self.files[i]);
        match name.rsplit_once("_sat.") {
            Some((id, _)) => id.to_owned(),
            None => name,
        }
    }

    fn get(&self, i: usize) -> Result<Example> {
        let (image, size) = example_image(&self.files[i])?;
        Ok(Example {
            id: self.id(i),
            image,
            size,
            target: Target::None,
        })
    }

    fn classes(&self) -> usize {
        0
    }
}
