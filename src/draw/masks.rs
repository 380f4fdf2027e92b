//! Land-cover masks as pictures: class maps in the homework's colour code, masks blended over their
//! tiles, and the legend of the seven colours with their class names.

use image::{Rgb, RgbImage};

use super::canvas::{BLACK, Canvas, GREY, WHITE};
use super::text::{line_height, text_width};
use crate::data::LAND_COVER;

/// The mask's weight in an overlay: half tile, half mask, so both the ground and the classes show.
pub const OVERLAY_ALPHA: f32 = 0.5;

/// Tiles narrower than this are enlarged (by whole factors, pixels kept square and sharp) before
/// anything is drawn next to them, so the legend and labels fit and the pixels can be seen.
const MIN_PICTURE_WIDTH: u32 = 256;

const LEGEND_TEXT: f32 = 14.0;
const LEGEND_PAD: u32 = 8;

/// A class map ([height, width], row-major) in the land-cover colour code; a class outside 0..6
/// is drawn as "unknown".
pub fn mask_to_rgb(classes: &[i32], size: [usize; 2]) -> RgbImage {
    let [h, w] = size;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let class = classes[y as usize * w + x as usize];
        let known = usize::try_from(class)
            .ok()
            .filter(|&c| c < LAND_COVER.len());
        Rgb(LAND_COVER[known.unwrap_or(LAND_COVER.len() - 1)].1)
    })
}

/// `mask` blended over `image` (same size): each channel round((1 - alpha) * image + alpha * mask).
pub fn overlay(image: &RgbImage, mask: &RgbImage, alpha: f32) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let (i, m) = (image.get_pixel(x, y), mask.get_pixel(x, y));
        Rgb(std::array::from_fn(|c| {
            ((1.0 - alpha) * f32::from(i[c]) + alpha * f32::from(m[c])).round() as u8
        }))
    })
}

/// `img` enlarged `factor` times, each pixel becoming a square block (masks keep exact colours).
pub fn scale_nearest(img: &RgbImage, factor: u32) -> RgbImage {
    let factor = factor.max(1);
    RgbImage::from_fn(img.width() * factor, img.height() * factor, |x, y| {
        *img.get_pixel(x / factor, y / factor)
    })
}

/// The whole factor that brings a picture `width` wide to at least `MIN_PICTURE_WIDTH`.
pub(crate) fn enlargement(width: u32) -> u32 {
    MIN_PICTURE_WIDTH.div_ceil(width.max(1)).max(1)
}

/// The legend of the seven land-cover classes, a swatch and "index name" each, flowing left to
/// right and wrapping at `width` pixels (wider if one entry needs more).
pub fn land_cover_legend(width: u32) -> RgbImage {
    let swatch = line_height(LEGEND_TEXT).round() as u32;
    let entries: Vec<(String, [u8; 3], u32)> = LAND_COVER
        .iter()
        .enumerate()
        .map(|(i, (name, colour))| {
            let label = format!("{i} {name}");
            let w = swatch + 6 + text_width(LEGEND_TEXT, &label).ceil() as u32;
            (label, *colour, w)
        })
        .collect();
    let widest = entries.iter().map(|e| e.2).max().unwrap_or(0);
    let width = width.max(widest + 2 * LEGEND_PAD);
    // Place entries in rows first, to know the height.
    let row_height = swatch + 6;
    let mut places = Vec::new();
    let (mut x, mut y) = (LEGEND_PAD, LEGEND_PAD);
    for (_, _, w) in &entries {
        if x > LEGEND_PAD && x + w > width - LEGEND_PAD {
            x = LEGEND_PAD;
            y += row_height;
        }
        places.push((x, y));
        x += w + 16;
    }
    let mut canvas = Canvas::new(width, y + row_height + LEGEND_PAD - 6, WHITE);
    for ((label, colour, _), (x, y)) in entries.iter().zip(places) {
        let (x, y) = (i64::from(x), i64::from(y));
        canvas.fill_rect(x, y, swatch, swatch, *colour);
        canvas.outline_rect(x, y, swatch, swatch, GREY);
        canvas.text(
            (x + i64::from(swatch) + 6) as f32,
            y as f32,
            LEGEND_TEXT,
            BLACK,
            label,
        );
    }
    canvas.image
}

/// `img` with the land-cover legend under it, centred on a white canvas as wide as the wider.
pub fn with_legend(img: &RgbImage) -> RgbImage {
    let legend = land_cover_legend(img.width());
    let width = img.width().max(legend.width());
    let mut canvas = Canvas::new(width, img.height() + legend.height(), WHITE);
    canvas.paste(img, i64::from((width - img.width()) / 2), 0);
    canvas.paste(&legend, 0, i64::from(img.height()));
    canvas.image
}

/// What `wgnn predict segment --overlay` writes: `mask` blended over `image` with
/// `OVERLAY_ALPHA`, small tiles enlarged by a whole factor, and the legend under it.
pub fn overlay_with_legend(image: &RgbImage, mask: &RgbImage) -> RgbImage {
    let factor = enlargement(image.width());
    let blended = overlay(image, mask, OVERLAY_ALPHA);
    with_legend(&scale_nearest(&blended, factor))
}
