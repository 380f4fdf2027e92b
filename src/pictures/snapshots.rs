//! `wgnn train segment --snapshot IDS`: the predicted masks of chosen validation tiles after
//! chosen epochs, each kept as `DIR/snapshots/epoch-{E}_{id}.png`, and the montage
//! `DIR/snapshots.png` redrawn from those files after every epoch. Drawing from the files (not from
//! memory) is what lets a resumed run show the epochs before its interruption too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::RgbImage;

use super::tiles;
use crate::data::{Dataset, Subset};
use crate::draw::{Montage, mask_to_rgb, save_png};
use crate::error::Result;
use crate::evaluate::predict;
use crate::gpu::Gpu;
use crate::models::Model;

/// Whether epoch `epoch` of `epochs` gets a snapshot: the first, every `every`-th and the last,
/// so early, middle and final masks are always there.
pub fn is_snapshot_epoch(epoch: usize, every: usize, epochs: usize) -> bool {
    epoch == 1 || epoch == epochs || epoch.is_multiple_of(every.max(1))
}

fn snapshot_path(dir: &Path, epoch: usize, id: &str) -> PathBuf {
    dir.join(format!("epoch-{epoch:04}_{id}.png"))
}

/// The snapshots of one run: which tiles, which epochs, and where they go.
pub struct Snapshots {
    /// The chosen validation tiles, in the order given.
    chosen: Arc<dyn Dataset>,
    /// The run's folder: snapshots go to `snapshots/`, the montage to `snapshots.png`.
    out: PathBuf,
    every: usize,
    epochs: usize,
    batch_size: usize,
    model_name: &'static str,
}

/// What `Snapshots` needs to know of the run.
pub struct SnapshotSettings<'a> {
    /// Validation data and the ids of the chosen tiles in it.
    pub val: Arc<dyn Dataset>,
    pub ids: &'a [String],
    /// How errors name the validation data.
    pub source: &'a str,
    pub out: PathBuf,
    /// Snapshot epochs: the first, every this many, and the last of `epochs`.
    pub every: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub model_name: &'static str,
}

impl Snapshots {
    /// An unknown tile id is an error naming it.
    pub fn new(s: SnapshotSettings) -> Result<Snapshots> {
        Ok(Snapshots {
            chosen: Arc::new(Subset::by_ids(s.val, s.ids, s.source)?),
            out: s.out,
            every: s.every,
            epochs: s.epochs,
            batch_size: s.batch_size,
            model_name: s.model_name,
        })
    }

    /// After the validation of the last epoch of `losses` ((epoch, training loss) of every epoch
    /// so far): saves its snapshot if it is due, then redraws the montage of every epoch whose
    /// snapshot files exist.
    pub fn after_epoch(&self, gpu: &Gpu, model: &mut Model, losses: &[(usize, f64)]) -> Result<()> {
        let Some(&(epoch, _)) = losses.last() else {
            return Ok(());
        };
        let dir = self.out.join("snapshots");
        if is_snapshot_epoch(epoch, self.every, self.epochs) {
            crate::fsutil::create_folder(&dir)?;
            let p = predict(gpu, model, Arc::clone(&self.chosen), self.batch_size, false)?;
            let plane = p.size[0] * p.size[1];
            for (id, classes) in p.ids.iter().zip(p.classes.chunks(plane)) {
                save_png(
                    &mask_to_rgb(classes, p.size),
                    &snapshot_path(&dir, epoch, id),
                )?;
            }
        }
        let montage = snapshot_montage(self.chosen.as_ref(), &dir, losses, self.model_name)?;
        save_png(&montage.render(), &self.out.join("snapshots.png"))
    }
}

/// Rows: the satellite images, the ground truth, then one row per epoch of `losses` ((epoch,
/// training loss) pairs) whose snapshots are all in `dir`, labelled with the epoch and its loss.
/// Columns: the tiles.
pub fn snapshot_montage(
    chosen: &dyn Dataset,
    dir: &Path,
    losses: &[(usize, f64)],
    model_name: &str,
) -> Result<Montage> {
    let tiles = tiles(chosen)?;
    let mut rows = vec![
        (
            "satellite".to_owned(),
            tiles.iter().map(|t| t.image.clone()).collect(),
        ),
        (
            "ground truth".to_owned(),
            tiles.iter().map(|t| t.mask.clone()).collect(),
        ),
    ];
    for &(epoch, loss) in losses {
        let paths: Vec<PathBuf> = tiles
            .iter()
            .map(|t| snapshot_path(dir, epoch, &t.id))
            .collect();
        if !paths.iter().all(|p| p.is_file()) {
            continue;
        }
        let masks = paths
            .iter()
            .map(|p| crate::data::read_rgb(p))
            .collect::<Result<Vec<RgbImage>>>()?;
        rows.push((format!("epoch {epoch}\nloss {loss:.4}"), masks));
    }
    Ok(Montage {
        title: Some(format!("{model_name}: predicted masks of validation tiles")),
        column_labels: tiles.iter().map(|t| format!("tile {}", t.id)).collect(),
        rows,
        legend: true,
    })
}
