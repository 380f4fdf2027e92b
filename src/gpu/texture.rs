//! The device's two operand textures, for kernels that read their operands through the texture
//! path: on lavapipe without AVX-512 a texel fetch costs about a quarter of a storage load
//! (PERFORMANCE.md 38). They hold copies of storage bindings (the batched products; stacked
//! several to a texture for the optimisers) or what a kernel stored into them (the weight
//! gradient's channels-last copies); either way vec4 i of a copy is at texel (i % TEXELS_PER_ROW,
//! i / TEXELS_PER_ROW) of its rows of an rgba32float texture, as batched_operands_textures.wgsl
//! and conv_weight_grad_textures.wgsl read it.

use std::ops::Range;

use super::{Gpu, View, split_ranges};
use crate::error::Result;

/// Texels in a row of an operand texture (the texture preludes' twin): 64 KiB rows, so a
/// 128 MiB binding needs 2048 rows, within WebGPU's 8192.
pub const TEXELS_PER_ROW: u32 = 4096;

/// Bytes of one rgba32float texel, and the alignment a copy's source offset needs.
pub(crate) const TEXEL_BYTES: u64 = 16;

impl Gpu {
    /// Runs `work` with the device's two operand textures, texture i at least `texels[i]` texels
    /// (in rows of TEXELS_PER_ROW), held until it returns, so no other thread's commands touch
    /// them in between. `work` gets None where a texture would need more rows than the plan
    /// allows; it must not call this again.
    pub(crate) fn with_textures<R>(
        &self,
        texels: [u64; 2],
        work: impl FnOnce(Option<[&wgpu::Texture; 2]>) -> Result<R>,
    ) -> Result<R> {
        let rows = texels.map(|t| t.div_ceil(u64::from(TEXELS_PER_ROW)).max(1));
        if rows
            .iter()
            .any(|&r| r > u64::from(self.plan.max_texture_rows))
        {
            return work(None);
        }
        let mut textures = self.textures.lock().expect("operand textures lock");
        let [first, second] = &mut *textures;
        work(Some([
            self.operand_texture(first, rows[0] as u32),
            self.operand_texture(second, rows[1] as u32),
        ]))
    }

    /// Records copies of `views`' whole bindings into the device's two operand textures (texel i
    /// holding a binding's vec4 i), then `launch` with views of them, holding the textures until
    /// it has recorded. `launch` gets None where a binding needs more rows than the plan allows or
    /// starts at an offset a copy cannot (it reads the buffers instead); it must not call this
    /// again.
    pub(crate) fn with_texture_copies<R>(
        &self,
        views: [&View; 2],
        launch: impl FnOnce(Option<[wgpu::TextureView; 2]>) -> Result<R>,
    ) -> Result<R> {
        let rows = views.map(copied_rows);
        let [Some(first), Some(second)] = rows else {
            return launch(None);
        };
        self.with_copies([&views[..1], &views[1..]], [first, second], |textures| {
            launch(textures.map(|t| t.map(texture_view)))
        })
    }

    /// `with_texture_copies` for one binding, copied into the second operand texture (the first
    /// is left as it is).
    pub(crate) fn with_texture_copy<R>(
        &self,
        view: &View,
        launch: impl FnOnce(Option<wgpu::TextureView>) -> Result<R>,
    ) -> Result<R> {
        let Some(rows) = copied_rows(view) else {
            return launch(None);
        };
        self.with_copies([&[], &[view]], [0, rows], |textures| {
            launch(textures.map(|[_, t]| texture_view(t)))
        })
    }

    /// Records copies of the bindings `views[i]` into operand texture i, stacked: the k-th from
    /// row k * `rows_each`, so its vec4 v is texel k * rows_each * TEXELS_PER_ROW + v. Then
    /// `launch` with views of both textures, as `with_texture_copies`; None also where a binding
    /// needs more than `rows_each` rows. `stacked_ranges` splits work into views that fit.
    pub(crate) fn with_stacked_copies<R>(
        &self,
        views: [&[&View]; 2],
        rows_each: u64,
        launch: impl FnOnce(Option<[wgpu::TextureView; 2]>) -> Result<R>,
    ) -> Result<R> {
        let fits = |v: &&View| copied_rows(v).is_some_and(|rows| rows <= rows_each);
        if !views.iter().all(|list| list.iter().all(fits)) {
            return launch(None);
        }
        self.with_copies(views, [rows_each; 2], |textures| {
            launch(textures.map(|t| t.map(texture_view)))
        })
    }

    /// Ranges of `len` elements for a kernel that reads `per_texture` views of each range stacked
    /// in one operand texture (`with_stacked_copies`): every view of a range fits in the rows
    /// returned beside them (at most `rows_each`, fewer where the plan allows fewer or `len` needs
    /// fewer) and in one binding. None where an operand texture may not hold `per_texture` rows.
    pub(crate) fn stacked_ranges(
        &self,
        len: usize,
        rows_each: u64,
        per_texture: u64,
    ) -> Option<(Vec<Range<usize>>, u64)> {
        // A view starts up to an alignment's worth of elements before its range (`Gpu::view`)
        // and ends on a 32-byte boundary, up to 8 elements past it, so a range of `rows` rows'
        // elements less that slack fits.
        let slack = self.plan.binding_offset_alignment / 4 + 8;
        let per_row = u64::from(TEXELS_PER_ROW) * 4;
        let needed = (len as u64 + slack).div_ceil(per_row);
        let rows = rows_each
            .min(u64::from(self.plan.max_texture_rows) / per_texture)
            .min(needed.max(1));
        if rows == 0 {
            return None;
        }
        let fits = (rows * per_row).saturating_sub(slack) as usize;
        let cap = fits.min(self.max_view_elems()).max(1);
        Some((split_ranges(len, cap), rows))
    }

    /// Records copies of the bindings `views[i]` into operand texture i, the k-th from row
    /// k * rows_each[i], then `work` with the textures (None where they would need more rows than
    /// the plan allows). Each binding fits in its rows (the callers check).
    fn with_copies<R>(
        &self,
        views: [&[&View]; 2],
        rows_each: [u64; 2],
        work: impl FnOnce(Option<[&wgpu::Texture; 2]>) -> Result<R>,
    ) -> Result<R> {
        let row = u64::from(TEXELS_PER_ROW);
        let texels = [0, 1].map(|i| rows_each[i] * views[i].len() as u64 * row);
        self.with_textures(texels, |textures| {
            let Some(textures) = textures else {
                return work(None);
            };
            let copied: u64 = views
                .iter()
                .flat_map(|list| list.iter())
                .map(|v| copied_bytes(v))
                .sum();
            // Read and written once each.
            self.record_transfer("copy_buffer_to_texture", 2.0 * copied as f64, |encoder| {
                for (i, list) in views.iter().enumerate() {
                    for (k, view) in list.iter().enumerate() {
                        record_copy(encoder, view, textures[i], k as u64 * rows_each[i]);
                    }
                }
            })?;
            work(Some(textures))
        })
    }

    /// Bytes of the operand textures held now (the buffer pool's statistics leave them out).
    pub fn texture_copy_bytes(&self) -> u64 {
        let copies = self.textures.lock().expect("operand textures lock");
        copies
            .iter()
            .flatten()
            .map(|t| u64::from(t.width()) * u64::from(t.height()) * TEXEL_BYTES)
            .sum()
    }

    /// The texture in `slot`, made anew if it has fewer than `rows` rows: each grows to the most
    /// rows a launch has needed and is then reused. Reuse is safe because commands run in
    /// recorded order and `with_textures` holds the textures from the commands that fill them
    /// until the launch that reads them is recorded.
    fn operand_texture<'t>(
        &self,
        slot: &'t mut Option<wgpu::Texture>,
        rows: u32,
    ) -> &'t wgpu::Texture {
        if slot.as_ref().is_none_or(|t| t.height() < rows) {
            *slot = Some(self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("wgnn operand copy"),
                size: wgpu::Extent3d {
                    width: TEXELS_PER_ROW,
                    height: rows,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            }));
        }
        slot.as_ref().expect("operand texture just made")
    }
}

/// Records the copy of `view`'s binding into `texture` from row `at_row`: its full rows, then the
/// last part-row.
fn record_copy(
    encoder: &mut wgpu::CommandEncoder,
    view: &View,
    texture: &wgpu::Texture,
    at_row: u64,
) {
    let binding = &view.binding;
    let texels = copied_bytes(view) / TEXEL_BYTES;
    let row = u64::from(TEXELS_PER_ROW);
    let (full_rows, rest) = (texels / row, (texels % row) as u32);
    let copy = |encoder: &mut wgpu::CommandEncoder, first_row: u64, size: [u32; 2]| {
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: binding.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: binding.offset + first_row * u64::from(TEXELS_PER_ROW) * TEXEL_BYTES,
                    bytes_per_row: Some(TEXELS_PER_ROW * TEXEL_BYTES as u32),
                    rows_per_image: None,
                },
            },
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: 0,
                    y: (at_row + first_row) as u32,
                    z: 0,
                },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
        );
    };
    if full_rows > 0 {
        copy(encoder, 0, [TEXELS_PER_ROW, full_rows as u32]);
    }
    if rest > 0 {
        copy(encoder, full_rows, [rest, 1]);
    }
}

/// The bytes a copy of `view`'s binding moves: its whole vec4s.
fn copied_bytes(view: &View) -> u64 {
    let size = view.binding.size.expect("views have a size").get();
    size / TEXEL_BYTES * TEXEL_BYTES
}

/// The rows a copy of `view`'s binding takes; None where the binding starts at an offset a copy
/// cannot start from.
fn copied_rows(view: &View) -> Option<u64> {
    let binding = &view.binding;
    binding.offset.is_multiple_of(TEXEL_BYTES).then(|| {
        let texels = copied_bytes(view) / TEXEL_BYTES;
        texels.div_ceil(u64::from(TEXELS_PER_ROW)).max(1)
    })
}

/// A view of all of `texture`, to bind.
pub(crate) fn texture_view(texture: &wgpu::Texture) -> wgpu::TextureView {
    texture.create_view(&wgpu::TextureViewDescriptor::default())
}
