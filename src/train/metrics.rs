//! A run's record of epochs: `EpochRecord`, metrics.csv written and read back, and the training
//! curves drawn from it.

use std::path::Path;

use image::RgbImage;

use crate::error::{Error, Result};

/// One row of metrics.csv.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// Validation accuracy or mIoU (NaN without validation data).
    pub val_metric: f64,
    pub seconds: f64,
}

const METRICS_HEADER: &str = "epoch,train_loss,val_metric,seconds";

/// The text of metrics.csv for `records`.
pub fn metrics_csv(records: &[EpochRecord]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for r in records {
        csv += &format!(
            "{},{:.6},{:.6},{:.3}\n",
            r.epoch, r.train_loss, r.val_metric, r.seconds
        );
    }
    csv
}

/// The rows of a metrics.csv that `wgnn train` wrote; `source` names it in errors.
pub fn parse_metrics_csv(text: &str, source: &str) -> Result<Vec<EpochRecord>> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(METRICS_HEADER) {
        return Err(Error::File(format!(
            "{source} is not a metrics.csv of wgnn train: its first line should be {METRICS_HEADER}"
        )));
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let bad = || Error::File(format!("{source}: unreadable row {}: {line:?}", i + 2));
            match line.trim().split(',').collect::<Vec<_>>().as_slice() {
                [epoch, loss, metric, seconds] => Ok(EpochRecord {
                    epoch: epoch.parse().map_err(|_| bad())?,
                    train_loss: loss.parse().map_err(|_| bad())?,
                    val_metric: metric.parse().map_err(|_| bad())?,
                    seconds: seconds.parse().map_err(|_| bad())?,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// The rows of a metrics.csv file that `wgnn train` wrote (`epoch,train_loss,val_metric,seconds`).
pub fn read_metrics_csv(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::File(format!("cannot read {}: {e}", path.display())))?;
    let records = parse_metrics_csv(&text, &path.display().to_string())?;
    if records.is_empty() {
        return Err(Error::File(format!("{} has no epochs yet", path.display())));
    }
    Ok(records)
}

/// The training loss (left) and the validation metric named `metric` (right) of every epoch.
pub fn training_curves(records: &[EpochRecord], metric: &str) -> RgbImage {
    let loss: Vec<(f64, f64)> = records
        .iter()
        .map(|r| (r.epoch as f64, r.train_loss))
        .collect();
    let val: Vec<(f64, f64)> = records
        .iter()
        .map(|r| (r.epoch as f64, r.val_metric))
        .collect();
    crate::draw::curves_by_epoch(&loss, &val, metric)
}
