//! A plot area with ticked, labelled axes mapping data to pixels.

use super::canvas::{BLACK, Canvas, LIGHT_GREY};
use super::text::{line_height, text_width};

pub const TICK_TEXT: f32 = 13.0;

/// Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi], about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        // A flat series still gets an axis around its value.
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - half, lo + half)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// The label of a tick: as many decimals as the step between ticks needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{value:.decimals$}")
}

/// The pixel rectangle of a plot and the data ranges its edges stand for.
pub struct Axes {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
    pub x_ticks: Vec<f64>,
    pub y_ticks: Vec<f64>,
}

impl Axes {
    /// The margin left of the plot area that the y tick labels need.
    pub fn y_label_margin(y_ticks: &[f64]) -> f32 {
        let step = tick_step(y_ticks);
        y_ticks
            .iter()
            .map(|&v| text_width(TICK_TEXT, &tick_label(v, step)))
            .fold(0.0, f32::max)
            + 10.0
    }

    fn range(ticks: &[f64]) -> (f64, f64) {
        (
            ticks.first().copied().unwrap_or(0.0),
            ticks.last().copied().unwrap_or(1.0),
        )
    }

    /// The pixel position of data point (x, y).
    pub fn to_pixel(&self, x: f64, y: f64) -> (f32, f32) {
        let (x0, x1) = Self::range(&self.x_ticks);
        let (y0, y1) = Self::range(&self.y_ticks);
        let fx = ((x - x0) / (x1 - x0).max(f64::MIN_POSITIVE)) as f32;
        let fy = ((y - y0) / (y1 - y0).max(f64::MIN_POSITIVE)) as f32;
        (
            self.left + fx * self.width,
            self.top + (1.0 - fy) * self.height,
        )
    }

    /// Grid lines, the frame, tick labels, and `x_label` centred under the x axis.
    pub fn draw(&self, canvas: &mut Canvas, x_label: &str) {
        let (right, bottom) = (self.left + self.width, self.top + self.height);
        let x_step = tick_step(&self.x_ticks);
        let y_step = tick_step(&self.y_ticks);
        for &x in &self.x_ticks {
            let (px, _) = self.to_pixel(x, 0.0);
            canvas.line((px, self.top), (px, bottom), 1.0, LIGHT_GREY);
            canvas.text_centred(px, bottom + 4.0, TICK_TEXT, BLACK, &tick_label(x, x_step));
        }
        let half_line = line_height(TICK_TEXT) / 2.0;
        for &y in &self.y_ticks {
            let (_, py) = self.to_pixel(0.0, y);
            canvas.line((self.left, py), (right, py), 1.0, LIGHT_GREY);
            canvas.text_right(
                self.left - 6.0,
                py - half_line,
                TICK_TEXT,
                BLACK,
                &tick_label(y, y_step),
            );
        }
        for (from, to) in [
            ((self.left, self.top), (right, self.top)),
            ((self.left, bottom), (right, bottom)),
            ((self.left, self.top), (self.left, bottom)),
            ((right, self.top), (right, bottom)),
        ] {
            canvas.line(from, to, 1.0, BLACK);
        }
        if !x_label.is_empty() {
            let y = bottom + 6.0 + line_height(TICK_TEXT);
            canvas.text_centred(self.left + self.width / 2.0, y, TICK_TEXT, BLACK, x_label);
        }
    }
}

fn tick_step(ticks: &[f64]) -> f64 {
    match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    }
}
