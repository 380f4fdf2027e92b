//! A grid of equally sized pictures with a label for every row and every column, an optional title
//! above and the land-cover legend below.

use image::RgbImage;

use super::canvas::{BLACK, Canvas, LIGHT_GREY, WHITE, text_block_size};
use super::masks::{land_cover_legend, scale_nearest};
use super::text::line_height;

const LABEL_TEXT: f32 = 15.0;
const TITLE_TEXT: f32 = 18.0;
const PAD: u32 = 10;
const GAP: u32 = 6;
/// Cells are scaled to between these widths: small tiles enlarged by whole factors, large ones
/// reduced by whole divisors, nearest pixel either way so mask colours stay exact.
const MIN_CELL: u32 = 160;
const MAX_CELL: u32 = 256;

pub struct Montage {
    pub title: Option<String>,
    /// One label per column (lines separated by '\n').
    pub column_labels: Vec<String>,
    /// Each row's label (lines separated by '\n') and pictures, one per column, all the same size.
    pub rows: Vec<(String, Vec<RgbImage>)>,
    /// Draw the land-cover legend under the grid.
    pub legend: bool,
}

/// Where a montage puts things, in pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MontageLayout {
    pub width: u32,
    pub height: u32,
    /// The size every picture is drawn at.
    pub cell: (u32, u32),
    /// The top-left corner of each picture, by row then column.
    pub cells: Vec<Vec<(u32, u32)>>,
    /// The top of the legend, if any.
    pub legend_top: Option<u32>,
}

/// The size a picture of `width` x `height` is drawn at in a montage.
fn cell_size(width: u32, height: u32) -> (u32, u32) {
    let w = width.max(1);
    if w < MIN_CELL {
        let factor = MIN_CELL.div_ceil(w);
        (width * factor, height * factor)
    } else if w > MAX_CELL {
        let divisor = w.div_ceil(MAX_CELL);
        (width / divisor, (height / divisor).max(1))
    } else {
        (width, height)
    }
}

/// A picture at the montage's cell scale.
fn fit_cell(img: &RgbImage) -> RgbImage {
    let (w, h) = cell_size(img.width(), img.height());
    if w > img.width() {
        scale_nearest(img, w / img.width())
    } else if w < img.width() {
        image::imageops::resize(img, w, h, image::imageops::FilterType::Nearest)
    } else {
        img.clone()
    }
}

impl Montage {
    pub fn layout(&self) -> MontageLayout {
        let (cw, ch) = self
            .rows
            .iter()
            .flat_map(|(_, cells)| cells)
            .map(|c| cell_size(c.width(), c.height()))
            .fold((0, 0), |(w, h), (cw, ch)| (w.max(cw), h.max(ch)));
        let block = |t: &str| {
            let (w, h) = text_block_size(LABEL_TEXT, t);
            (w.ceil() as u32, h.ceil() as u32)
        };
        let label_width = self.rows.iter().map(|(l, _)| block(l).0).max().unwrap_or(0) + 2 * PAD;
        let columns = self
            .rows
            .iter()
            .map(|(_, c)| c.len())
            .chain([self.column_labels.len()])
            .max()
            .unwrap_or(0);
        let column_widths: Vec<u32> = (0..columns)
            .map(|i| {
                let label = self.column_labels.get(i).map_or(0, |l| block(l).0 + 8);
                cw.max(label)
            })
            .collect();
        let header = self
            .column_labels
            .iter()
            .map(|l| block(l).1)
            .max()
            .unwrap_or(0);
        let header = if header > 0 { header + GAP } else { 0 };
        let title = if self.title.is_some() {
            line_height(TITLE_TEXT).ceil() as u32 + GAP
        } else {
            0
        };
        let row_heights: Vec<u32> = self.rows.iter().map(|(l, _)| ch.max(block(l).1)).collect();
        let grid_width: u32 = column_widths
            .iter()
            .map(|w| w + GAP)
            .sum::<u32>()
            .saturating_sub(GAP);
        let width = PAD + label_width + grid_width + PAD;
        let mut y = PAD + title + header;
        let mut cells = Vec::new();
        for &row_height in &row_heights {
            let mut x = PAD + label_width;
            let mut row = Vec::new();
            for &column_width in &column_widths {
                row.push((x + (column_width - cw) / 2, y + (row_height - ch) / 2));
                x += column_width + GAP;
            }
            cells.push(row);
            y += row_height + GAP;
        }
        let grid_bottom = y.saturating_sub(GAP) + PAD;
        let (width, height, legend_top) = if self.legend {
            let legend = land_cover_legend(width);
            (
                width.max(legend.width()),
                grid_bottom + legend.height(),
                Some(grid_bottom),
            )
        } else {
            (width, grid_bottom, None)
        };
        MontageLayout {
            width,
            height,
            cell: (cw, ch),
            cells,
            legend_top,
        }
    }

    pub fn render(&self) -> RgbImage {
        let layout = self.layout();
        let mut canvas = Canvas::new(layout.width, layout.height, WHITE);
        let (cw, ch) = layout.cell;
        if let Some(title) = &self.title {
            canvas.text_centred(
                layout.width as f32 / 2.0,
                PAD as f32,
                TITLE_TEXT,
                BLACK,
                title,
            );
        }
        for ((label, pictures), places) in self.rows.iter().zip(&layout.cells) {
            let Some(&(_, top)) = places.first() else {
                continue;
            };
            let (_, label_height) = text_block_size(LABEL_TEXT, label);
            let label_top = top as f32 + (ch as f32 - label_height) / 2.0;
            for (i, line) in label.lines().enumerate() {
                let y = label_top + i as f32 * line_height(LABEL_TEXT);
                canvas.text(PAD as f32, y, LABEL_TEXT, BLACK, line);
            }
            for (picture, &(x, y)) in pictures.iter().zip(places) {
                let (x, y) = (i64::from(x), i64::from(y));
                canvas.outline_rect(x, y, cw, ch, LIGHT_GREY);
                canvas.paste(&fit_cell(picture), x, y);
            }
        }
        if let Some(first_row) = layout.cells.first() {
            for (label, &(x, y)) in self.column_labels.iter().zip(first_row) {
                let (_, label_height) = text_block_size(LABEL_TEXT, label);
                let top = y as f32 - GAP as f32 - label_height;
                canvas.lines_centred(x as f32 + cw as f32 / 2.0, top, LABEL_TEXT, BLACK, label);
            }
        }
        if let Some(top) = layout.legend_top {
            canvas.paste(&land_cover_legend(layout.width), 0, i64::from(top));
        }
        canvas.image
    }
}
