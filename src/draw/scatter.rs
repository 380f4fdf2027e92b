//! A scatter plot of labelled 2-D points, one colour per class, with a legend beside it.

use image::RgbImage;

use super::axes::{Axes, nice_ticks};
use super::canvas::{BLACK, Canvas, GREY, WHITE};
use super::text::{line_height, text_width};

const PLOT_SIZE: u32 = 720;
const TITLE_TEXT: f32 = 16.0;
const LEGEND_TEXT: f32 = 13.0;

/// Matplotlib's ten "tab10" colours, told apart easily; further classes get hues spread by the
/// golden angle at alternating lightness.
const TAB10: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour of class `class` in scatter plots.
pub fn class_colour(class: usize) -> [u8; 3] {
    if let Some(c) = TAB10.get(class) {
        return *c;
    }
    let k = class - TAB10.len();
    // Starting at 20 degrees keeps the first away from tab10's red.
    let hue = (20.0 + k as f32 * 137.508).rem_euclid(360.0) / 60.0;
    let value = if k.is_multiple_of(2) { 0.85 } else { 0.55 };
    crate::data::hue_rgb(hue).map(|c| (c * value * 255.0).round() as u8)
}

/// `points` coloured by `labels` (indices into `class_names`), titled `title`; the legend lists the
/// classes in columns to the right of the plot.
pub fn scatter_plot(
    points: &[[f32; 2]],
    labels: &[usize],
    class_names: &[String],
    title: &str,
) -> RgbImage {
    let entry_height = line_height(LEGEND_TEXT).ceil() as u32 + 4;
    let swatch = entry_height - 6;
    let plot_top = 16.0 + line_height(TITLE_TEXT);
    let per_column = ((PLOT_SIZE - 40) / entry_height).max(1) as usize;
    let columns = class_names.len().div_ceil(per_column).max(1);
    let column_width = class_names
        .iter()
        .map(|n| text_width(LEGEND_TEXT, n).ceil() as u32)
        .max()
        .unwrap_or(0)
        + swatch
        + 18;
    let (x_lo, x_hi, y_lo, y_hi) = points.iter().fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), p| {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            (a.min(x), b.max(x), c.min(y), d.max(y))
        },
    );
    let (x_ticks, y_ticks) = if points.is_empty() {
        (vec![0.0, 1.0], vec![0.0, 1.0])
    } else {
        // Both axes span the same length, so distances read alike in every direction (t-SNE's
        // plots are only meaningful that way); a margin of 4 % keeps the outermost dots off the
        // frame.
        let half = 0.54 * (x_hi - x_lo).max(y_hi - y_lo);
        let (x_mid, y_mid) = ((x_lo + x_hi) / 2.0, (y_lo + y_hi) / 2.0);
        (
            nice_ticks(x_mid - half, x_mid + half, 6),
            nice_ticks(y_mid - half, y_mid + half, 6),
        )
    };
    let left = 12.0 + Axes::y_label_margin(&y_ticks);
    let plot_width = PLOT_SIZE as f32 - left - 16.0;
    let legend_left = PLOT_SIZE;
    let width = legend_left + columns as u32 * column_width + 12;
    let mut canvas = Canvas::new(width, PLOT_SIZE, WHITE);
    canvas.text_centred(PLOT_SIZE as f32 / 2.0, 8.0, TITLE_TEXT, BLACK, title);
    let axes = Axes {
        left,
        top: plot_top,
        width: plot_width,
        height: PLOT_SIZE as f32 - plot_top - line_height(super::axes::TICK_TEXT) - 16.0,
        x_ticks,
        y_ticks,
    };
    axes.draw(&mut canvas, "");
    for (p, &label) in points.iter().zip(labels) {
        let centre = axes.to_pixel(f64::from(p[0]), f64::from(p[1]));
        canvas.disc(centre, 3.0, class_colour(label));
    }
    for (i, name) in class_names.iter().enumerate() {
        let x = legend_left + (i / per_column) as u32 * column_width;
        let y = plot_top as u32 + (i % per_column) as u32 * entry_height;
        let (x, y) = (i64::from(x), i64::from(y));
        canvas.fill_rect(x, y + 2, swatch, swatch, class_colour(i));
        canvas.outline_rect(x, y + 2, swatch, swatch, GREY);
        canvas.text(
            (x + i64::from(swatch) + 6) as f32,
            y as f32,
            LEGEND_TEXT,
            BLACK,
            name,
        );
    }
    canvas.image
}
