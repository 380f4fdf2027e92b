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
use crate::error::{Error, Result};
use crate::evaluate::predict;
use crate::gpu::Gpu;
use crate::models::Model;
use crate::train::{EpochRecord, TrainOptions};

/// Whether epoch `epoch` of `epochs` gets a snapshot: the first, every `every`-th and the last,
/// so early, middle and final masks are always there.
pub fn is_snapshot_epoch(epoch: usize, every: usize, epochs: usize) -> bool {
    epoch == 1 || epoch == epochs || epoch.is_multiple_of(every.max(1))
}

fn snapshot_path(dir: &Path, epoch: usize, id: &str) -> PathBuf {
    dir.join(format!("epoch-{epoch:04}_{id}.png"))
}

/// After the validation of the last epoch in `records`: saves its snapshot if it is due, then
/// redraws the montage of every epoch whose snapshot files exist. Nothing without `--snapshot`.
pub fn after_epoch(
    gpu: &Gpu,
    o: &TrainOptions,
    model: &mut Model,
    records: &[EpochRecord],
) -> Result<()> {
    let (Some(val), Some(last)) = (&o.val, records.last()) else {
        return Ok(());
    };
    if o.snapshot.is_empty() {
        return Ok(());
    }
    let chosen: Arc<dyn Dataset> = Arc::new(Subset::by_ids(
        Arc::clone(val),
        &o.snapshot,
        "the validation data",
    )?);
    let dir = o.out.join("snapshots");
    if is_snapshot_epoch(last.epoch, o.snapshot_every, o.epochs) {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::File(format!("cannot create {}: {e}", dir.display())))?;
        let p = predict(gpu, model, Arc::clone(&chosen), o.batch_size, false)?;
        let plane = p.size[0] * p.size[1];
        for (id, classes) in p.ids.iter().zip(p.classes.chunks(plane)) {
            save_png(
                &mask_to_rgb(classes, p.size),
                &snapshot_path(&dir, last.epoch, id),
            )?;
        }
    }
    let montage = snapshot_montage(chosen.as_ref(), &dir, records, o.arch.name())?;
    save_png(&montage.render(), &o.out.join("snapshots.png"))
}

/// Rows: the satellite images, the ground truth, then one row per epoch of `records` whose
/// snapshots are all in `dir`, labelled with the epoch and its training loss. Columns: the tiles.
pub fn snapshot_montage(
    chosen: &dyn Dataset,
    dir: &Path,
    records: &[EpochRecord],
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
    for r in records {
        let paths: Vec<PathBuf> = tiles
            .iter()
            .map(|t| snapshot_path(dir, r.epoch, &t.id))
            .collect();
        if !paths.iter().all(|p| p.is_file()) {
            continue;
        }
        let masks = paths
            .iter()
            .map(|p| crate::data::read_rgb(p))
            .collect::<Result<Vec<RgbImage>>>()?;
        rows.push((
            format!("epoch {}\nloss {:.4}", r.epoch, r.train_loss),
            masks,
        ));
    }
    Ok(Montage {
        title: Some(format!("{model_name}: predicted masks of validation tiles")),
        column_labels: tiles.iter().map(|t| format!("tile {}", t.id)).collect(),
        rows,
        legend: true,
    })
}
