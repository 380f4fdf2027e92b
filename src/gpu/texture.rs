//! Texture copies of storage bindings, for kernels that read their operands through the texture
//! path: on lavapipe without AVX-512 a texel fetch costs about a quarter of a storage load
//! (PERFORMANCE.md 38). Vec4 i of a binding lands at texel (i % TEXELS_PER_ROW, i /
//! TEXELS_PER_ROW) of an rgba32float texture (batched_operands_textures.wgsl reads it so).

use super::{Gpu, View};
use crate::error::Result;

/// Texels in a row of a texture copy (batched_operands_textures.wgsl's twin): 64 KiB rows, so a
/// 128 MiB binding needs 2048 rows, within WebGPU's 8192.
pub const TEXELS_PER_ROW: u32 = 4096;

/// Bytes of one rgba32float texel, and the alignment a copy's source offset needs.
const TEXEL_BYTES: u64 = 16;

impl Gpu {
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
        let rows = views.map(rows_for);
        let limit = u64::from(self.plan.max_texture_rows);
        let unaligned = views
            .iter()
            .any(|v| !v.binding.offset.is_multiple_of(TEXEL_BYTES));
        if unaligned || rows.iter().any(|&(total, _, _)| total > limit) {
            return launch(None);
        }
        let mut copies = self.textures.lock().expect("texture copies lock");
        let copied = [0, 1].map(|i| {
            let texture = self.copy_texture(&mut copies[i], rows[i].0 as u32);
            self.record_copy(views[i], texture, rows[i]);
            texture.create_view(&wgpu::TextureViewDescriptor::default())
        });
        launch(Some(copied))
    }

    /// Bytes of the operand textures held now (the buffer pool's statistics leave them out).
    pub fn texture_copy_bytes(&self) -> u64 {
        let copies = self.textures.lock().expect("texture copies lock");
        copies
            .iter()
            .flatten()
            .map(|t| u64::from(t.width()) * u64::from(t.height()) * TEXEL_BYTES)
            .sum()
    }

    /// The texture in `slot`, made anew if it has fewer than `rows` rows: each grows to the most
    /// rows a launch has needed and is then reused. Reuse is safe because commands run in
    /// recorded order and `with_texture_copies` holds the textures from its copies until the
    /// launch that reads them is recorded, so no other thread's copy lands in between.
    fn copy_texture<'t>(
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
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            }));
        }
        slot.as_ref().expect("texture copy just made")
    }

    /// Records the copy of `view`'s binding into `texture`: its full rows, then the last part-row.
    fn record_copy(
        &self,
        view: &View,
        texture: &wgpu::Texture,
        (_, full_rows, rest): (u64, u64, u32),
    ) {
        let binding = &view.binding;
        let copy = |encoder: &mut wgpu::CommandEncoder, first_row: u64, size: [u32; 2]| {
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: binding.buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: binding.offset
                            + first_row * u64::from(TEXELS_PER_ROW) * TEXEL_BYTES,
                        bytes_per_row: Some(TEXELS_PER_ROW * TEXEL_BYTES as u32),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: first_row as u32,
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
        self.with_encoder(|encoder| {
            if full_rows > 0 {
                copy(encoder, 0, [TEXELS_PER_ROW, full_rows as u32]);
            }
            if rest > 0 {
                copy(encoder, full_rows, [rest, 1]);
            }
        });
    }
}

/// Rows a texture copy of `view`'s binding needs (at least one), its full rows, and the texels
/// of its last part-row. Views are whole vec4s (`Gpu::view`), so the texels are too.
fn rows_for(view: &View) -> (u64, u64, u32) {
    let binding = &view.binding;
    let bytes = binding.size.expect("views have a size").get();
    let texels = bytes / TEXEL_BYTES;
    let row = u64::from(TEXELS_PER_ROW);
    let (full_rows, rest) = (texels / row, (texels % row) as u32);
    ((full_rows + u64::from(rest > 0)).max(1), full_rows, rest)
}
