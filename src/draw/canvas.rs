//! An RGB canvas: rectangles, anti-aliased lines and discs, pasted images and text.

use image::{Rgb, RgbImage};

use super::blend_pixel;
use super::text::{draw_text, line_height, text_width};

pub const WHITE: [u8; 3] = [255, 255, 255];
pub const BLACK: [u8; 3] = [0, 0, 0];
pub const GREY: [u8; 3] = [128, 128, 128];
pub const LIGHT_GREY: [u8; 3] = [225, 225, 225];

pub struct Canvas {
    pub image: RgbImage,
}

impl Canvas {
    pub fn new(width: u32, height: u32, background: [u8; 3]) -> Canvas {
        Canvas {
            image: RgbImage::from_pixel(width.max(1), height.max(1), Rgb(background)),
        }
    }

    pub fn width(&self) -> u32 {
        self.image.width()
    }

    pub fn height(&self) -> u32 {
        self.image.height()
    }

    /// Fills the rectangle of `width` x `height` pixels whose top-left corner is (x, y), clipped to
    /// the canvas.
    pub fn fill_rect(&mut self, x: i64, y: i64, width: u32, height: u32, colour: [u8; 3]) {
        for py in y.max(0)..(y + i64::from(height)).min(i64::from(self.height())) {
            for px in x.max(0)..(x + i64::from(width)).min(i64::from(self.width())) {
                self.image.put_pixel(px as u32, py as u32, Rgb(colour));
            }
        }
    }

    /// A one-pixel outline just outside the rectangle of `width` x `height` at (x, y).
    pub fn outline_rect(&mut self, x: i64, y: i64, width: u32, height: u32, colour: [u8; 3]) {
        let (w, h) = (width + 2, height + 2);
        self.fill_rect(x - 1, y - 1, w, 1, colour);
        self.fill_rect(x - 1, y + i64::from(height), w, 1, colour);
        self.fill_rect(x - 1, y - 1, 1, h, colour);
        self.fill_rect(x + i64::from(width), y - 1, 1, h, colour);
    }

    /// Copies `img` with its top-left corner at (x, y), clipped to the canvas.
    pub fn paste(&mut self, img: &RgbImage, x: i64, y: i64) {
        image::imageops::replace(&mut self.image, img, x, y);
    }

    /// A line `width` pixels wide from (x0, y0) to (x1, y1); each pixel is covered by how far its
    /// centre lies inside the stroke, so slopes look smooth.
    pub fn line(&mut self, from: (f32, f32), to: (f32, f32), width: f32, colour: [u8; 3]) {
        let half = width / 2.0;
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let length_sq = (dx * dx + dy * dy).max(f32::EPSILON);
        let reach = half + 1.0;
        let (x_min, x_max) = (from.0.min(to.0) - reach, from.0.max(to.0) + reach);
        let (y_min, y_max) = (from.1.min(to.1) - reach, from.1.max(to.1) + reach);
        for py in y_min.floor() as i64..=y_max.ceil() as i64 {
            for px in x_min.floor() as i64..=x_max.ceil() as i64 {
                let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                let t = (((cx - from.0) * dx + (cy - from.1) * dy) / length_sq).clamp(0.0, 1.0);
                let distance = (cx - from.0 - t * dx).hypot(cy - from.1 - t * dy);
                let coverage = (half + 0.5 - distance).clamp(0.0, 1.0);
                if coverage > 0.0 {
                    blend_pixel(&mut self.image, px, py, colour, coverage);
                }
            }
        }
    }

    /// A filled disc of `radius` pixels centred on (x, y), its rim anti-aliased.
    pub fn disc(&mut self, centre: (f32, f32), radius: f32, colour: [u8; 3]) {
        self.line(centre, centre, 2.0 * radius, colour);
    }

    /// Text with the top-left corner of its line box at (x, y).
    pub fn text(&mut self, x: f32, y: f32, size: f32, colour: [u8; 3], text: &str) {
        draw_text(&mut self.image, x, y, size, colour, text);
    }

    /// Text centred horizontally on `centre_x`, its line box starting at `y`.
    pub fn text_centred(&mut self, centre_x: f32, y: f32, size: f32, colour: [u8; 3], text: &str) {
        let x = centre_x - text_width(size, text) / 2.0;
        self.text(x, y, size, colour, text);
    }

    /// Text whose right edge is at `right_x`.
    pub fn text_right(&mut self, right_x: f32, y: f32, size: f32, colour: [u8; 3], text: &str) {
        let x = right_x - text_width(size, text);
        self.text(x, y, size, colour, text);
    }

    /// Lines of text one under the other, the first line box starting at `y`, each line centred on
    /// `centre_x`.
    pub fn lines_centred(&mut self, centre_x: f32, y: f32, size: f32, colour: [u8; 3], text: &str) {
        for (i, line) in text.lines().enumerate() {
            self.text_centred(
                centre_x,
                y + i as f32 * line_height(size),
                size,
                colour,
                line,
            );
        }
    }
}

/// The width and height a block of lines of text needs.
pub fn text_block_size(size: f32, text: &str) -> (f32, f32) {
    let width = text
        .lines()
        .map(|l| text_width(size, l))
        .fold(0.0, f32::max);
    (width, text.lines().count() as f32 * line_height(size))
}
