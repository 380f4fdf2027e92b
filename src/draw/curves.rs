//! Training curves: the training loss and the validation metric by epoch, side by side.

use image::RgbImage;

use super::axes::{Axes, nice_ticks};
use super::canvas::{BLACK, Canvas, GREY, WHITE};
use super::text::line_height;

const PANEL_WIDTH: u32 = 480;
const PANEL_HEIGHT: u32 = 340;
const TITLE_TEXT: f32 = 16.0;
const LOSS_COLOUR: [u8; 3] = [31, 119, 180];
const METRIC_COLOUR: [u8; 3] = [214, 39, 40];

/// One panel: `title` above, epochs along x, the points joined by a line with a dot at each.
fn panel(title: &str, points: &[(f64, f64)], colour: [u8; 3]) -> RgbImage {
    let mut canvas = Canvas::new(PANEL_WIDTH, PANEL_HEIGHT, WHITE);
    canvas.text_centred(PANEL_WIDTH as f32 / 2.0, 8.0, TITLE_TEXT, BLACK, title);
    // Only the metric can be undefined throughout: a run without validation data writes NaN.
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let plot_top = 16.0 + line_height(TITLE_TEXT);
    if finite.is_empty() {
        canvas.text_centred(
            PANEL_WIDTH as f32 / 2.0,
            PANEL_HEIGHT as f32 / 2.0,
            TITLE_TEXT,
            GREY,
            "no validation data",
        );
        return canvas.image;
    }
    let last_epoch = points.iter().map(|p| p.0).fold(1.0, f64::max);
    let x_ticks: Vec<f64> = nice_ticks(1.0, last_epoch.max(2.0), 8)
        .into_iter()
        .filter(|&x| x.fract() == 0.0)
        .collect();
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let y_ticks = nice_ticks(lo, hi, 5);
    let left = 12.0 + Axes::y_label_margin(&y_ticks);
    let bottom_margin = 2.0 * line_height(super::axes::TICK_TEXT) + 14.0;
    let axes = Axes {
        left,
        top: plot_top,
        width: PANEL_WIDTH as f32 - left - 20.0,
        height: PANEL_HEIGHT as f32 - plot_top - bottom_margin,
        x_ticks,
        y_ticks,
    };
    axes.draw(&mut canvas, "epoch");
    let pixels: Vec<(f32, f32)> = finite.iter().map(|&(x, y)| axes.to_pixel(x, y)).collect();
    for pair in pixels.windows(2) {
        canvas.line(pair[0], pair[1], 2.0, colour);
    }
    for &p in &pixels {
        canvas.disc(p, 3.5, colour);
    }
    canvas.image
}

/// Two panels side by side, (epoch, value) points each: the training loss, and the validation
/// metric named `metric` (NaN where undefined).
pub fn curves_by_epoch(loss: &[(f64, f64)], val: &[(f64, f64)], metric: &str) -> RgbImage {
    let mut canvas = Canvas::new(2 * PANEL_WIDTH, PANEL_HEIGHT, WHITE);
    canvas.paste(&panel("training loss", loss, LOSS_COLOUR), 0, 0);
    canvas.paste(
        &panel(&format!("validation {metric}"), val, METRIC_COLOUR),
        i64::from(PANEL_WIDTH),
        0,
    );
    canvas.image
}
