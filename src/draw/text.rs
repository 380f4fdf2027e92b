//! Text in DejaVu Sans (bundled in `assets/`, so pictures look the same on every machine), laid out
//! on one baseline with kerning and drawn with anti-aliased coverage.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::RgbImage;

static FONT: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    FontRef::try_from_slice(include_bytes!("../../assets/DejaVuSans.ttf"))
        .expect("the bundled DejaVu Sans is a valid TrueType font")
});

/// The width in pixels of `text` at `size` pixels per em.
pub fn text_width(size: f32, text: &str) -> f32 {
    let font = FONT.as_scaled(PxScale::from(size));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

/// The height of one line of text: ascent to descent, so nothing of any glyph is cut.
pub fn line_height(size: f32) -> f32 {
    let font = FONT.as_scaled(PxScale::from(size));
    font.ascent() - font.descent()
}

/// Draws `text` with the top of its line box at `top` and its left edge at `left`, blending
/// `colour` over what is there by each pixel's coverage. Pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, left: f32, top: f32, size: f32, colour: [u8; 3], text: &str) {
    let scale = PxScale::from(size);
    let font = FONT.as_scaled(scale);
    let baseline = top + font.ascent();
    let mut x = left;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            x += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        x += font.h_advance(id);
        previous = Some(id);
        let Some(outline) = FONT.outline_glyph(glyph) else {
            // Spaces have no outline.
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            super::blend_pixel(img, px, py, colour, coverage);
        });
    }
}
