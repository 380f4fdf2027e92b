//! Pictures as PNG files, drawn on the CPU with no GPU and no Python: a canvas with anti-aliased
//! lines, discs and text, land-cover masks with their legend, labelled montages, training curves
//! and scatter plots.

mod axes;
mod canvas;
mod curves;
mod masks;
mod montage;
mod scatter;
mod text;

pub use canvas::Canvas;
pub use curves::curves_by_epoch;
pub use masks::{
    OVERLAY_ALPHA, land_cover_legend, mask_to_rgb, overlay, overlay_with_legend, scale_nearest,
    with_legend,
};
pub use montage::{Montage, MontageLayout};
pub use scatter::{class_colour, scatter_plot};
pub use text::{line_height, text_width};

use std::path::Path;

use image::RgbImage;

use crate::error::{Error, Result};

/// Blends `colour` over pixel (x, y) with weight `alpha` in [0, 1]; pixels outside are skipped.
fn blend_pixel(img: &mut RgbImage, x: i64, y: i64, colour: [u8; 3], alpha: f32) {
    if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let alpha = alpha.clamp(0.0, 1.0);
    let p = img.get_pixel_mut(x as u32, y as u32);
    for c in 0..3 {
        let mixed = (1.0 - alpha) * f32::from(p[c]) + alpha * f32::from(colour[c]);
        p[c] = mixed.round() as u8;
    }
}

/// PNG bytes of `img`.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::File(format!("cannot encode a PNG image: {e}")))?;
    Ok(bytes.into_inner())
}

/// Writes `img` as a PNG file under a temporary name, then renames it, so a reader (an image
/// viewer refreshing during training) never sees half a file.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    crate::fsutil::write_atomically(path, &png_bytes(img)?)
}
