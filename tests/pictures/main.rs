//! The pictures wgnn draws. First without a GPU: text, masks and their legend, overlays, montages,
//! curves and scatter plots; then the commands that draw them, run as a user would.
//!
//! `WGNN_PICTURES_DIR=DIR` keeps every picture these tests draw in DIR, to look at.

mod commands;
mod drawing;

#[allow(dead_code)] // each test binary uses its own part
#[path = "../support/cli.rs"]
mod cli_support;
#[path = "../support/train.rs"]
mod train_support;

use image::RgbImage;

/// Saves `img` as `name` in `WGNN_PICTURES_DIR`, where it is set.
pub fn keep(name: &str, img: &RgbImage) {
    if let Some(dir) = std::env::var_os("WGNN_PICTURES_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        img.save(std::path::Path::new(&dir).join(name)).unwrap();
    }
}

/// The pixels of `colour` in the columns `x_range`.
pub fn count_colour(img: &RgbImage, colour: [u8; 3], x_range: std::ops::Range<u32>) -> usize {
    img.enumerate_pixels()
        .filter(|(x, _, p)| x_range.contains(x) && p.0 == colour)
        .count()
}
