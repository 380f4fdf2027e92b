//! 3x3 stride-1 convolutions by Winograd's minimal filtering, in two variants: F(2x2, 3x3)
//! (winograd.wgsl; F(3x3, 2x2) for weight gradients) and F(4x4, 3x3) (winograd4x4.wgsl; F(3x3,
//! 4x4)), each as transforms around one matrix product per transformed position. The two shader
//! files share one interface (winograd_common.wgsl), so this one file is the Rust side of both:
//! conv2d uses them from MIN_CHANNELS input channels, each layer taking the variant with fewer
//! multiplies in its products, in chunks of tiles whose transformed operands fit one binding.

use super::VEC;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader, Slot, View, distinct_binding_bytes};
use crate::ops::batched_matmul::{ALayout, batched_products};
use crate::ops::interface::{kernel_params, slots};
use crate::ops::{nchw, optional_input, u32_of};
use crate::tensor::{DType, Tensor};

/// One variant of the algorithm: its shader file (whose entry points are named as winograd.wgsl's)
/// and the file compiled to read its vec4 operands from texture copies, if it has them, the side of
/// its output tiles, and its transformed positions per tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Variant {
    shader: Shader,
    textures: Option<Shader>,
    side: usize,
    positions: usize,
    /// Whether `output_transform` takes one invocation per (co, vec4 of tiles), not per (co, tile).
    output_by_vec4: bool,
}

/// F(2x2, 3x3): 4x4 transformed values per 2x2 outputs.
const F2X2: Variant = Variant {
    shader: Shader::Winograd,
    textures: None,
    side: 2,
    positions: 16,
    output_by_vec4: false,
};

/// F(4x4, 3x3): 6x6 transformed values per 4x4 outputs, output transform by vec4s of tiles.
const F4X4: Variant = Variant {
    shader: Shader::Winograd4x4,
    textures: Some(Shader::Winograd4x4Textures),
    side: 4,
    positions: 36,
    output_by_vec4: true,
};

impl Variant {
    /// Tiles of one output plane of `[oh, ow]`.
    fn plane_tiles(self, [oh, ow]: [usize; 2]) -> usize {
        oh.div_ceil(self.side) * ow.div_ceil(self.side)
    }

    /// The most tiles a chunk may hold when each tile takes `positions` * `widest` floats of one
    /// operand: a multiple of VEC, zero if not even VEC fit one binding.
    fn max_chunk_tiles(self, gpu: &Gpu, widest: usize) -> usize {
        gpu.max_view_elems() / (self.positions * widest) / VEC * VEC
    }
}

/// Of the variants `fits` accepts, the one whose products multiply least for `images` planes of
/// `out_hw` outputs: F(4x4, 3x3) on large planes (36 per 16 outputs against 64), F(2x2, 3x3) on
/// planes of at most 2 rows or columns, where F(4x4, 3x3)'s tiles are mostly padding, and on ties.
fn cheaper(images: usize, out_hw: [usize; 2], fits: impl Fn(Variant) -> bool) -> Option<Variant> {
    [F2X2, F4X4]
        .into_iter()
        .filter(|&v| fits(v))
        .min_by_key(|v| v.positions * images * v.plane_tiles(out_hw))
}
/// Input channels below which the direct kernels win on lavapipe (PERFORMANCE.md 27): with 64
/// (VGG16-bn's and FCN's conv1_2 and conv2_1) Winograd takes VGG16-bn's step at batch 32 from
/// 2.36-2.38 s to 2.15-2.33 s, and FCN16s' at 512x512 from 38.7 s to 36.2 s; below 64 the products'
/// k is too short (the first layer has 3).
const MIN_CHANNELS: usize = 64;

kernel_params! {
    /// winograd.wgsl's and winograd4x4.wgsl's launch parameters (winograd_common.wgsl).
    struct Params {
        c_in: u32, h: u32, w: u32, c_out: u32, oh: u32, ow: u32, ph: u32, pw: u32,
        tiles_h: u32, tiles_w: u32, t_pad: u32, co_pad: u32, x_off: u32,
        y_off: u32, ci_pad: u32, t0: u32, t_count: u32, chunks: u32, _pad0: u32, _pad1: u32,
    }
}

impl Params {
    /// The geometry of a 3x3 stride-1 convolution of images [c_in, h, w] into [c_out, oh, ow]
    /// with `padding`: the tiles of `variant` and channels padded to vec4s. Launches add which
    /// images and tiles they take.
    fn new(
        variant: Variant,
        [c_in, h, w]: [usize; 3],
        [c_out, oh, ow]: [usize; 3],
        padding: [usize; 2],
    ) -> Params {
        Params {
            c_in: u32_of(c_in),
            h: u32_of(h),
            w: u32_of(w),
            c_out: u32_of(c_out),
            oh: u32_of(oh),
            ow: u32_of(ow),
            ph: u32_of(padding[0]),
            pw: u32_of(padding[1]),
            tiles_h: u32_of(oh.div_ceil(variant.side)),
            tiles_w: u32_of(ow.div_ceil(variant.side)),
            co_pad: u32_of(c_out.div_ceil(VEC) * VEC),
            ci_pad: u32_of(c_in.div_ceil(VEC) * VEC),
            chunks: 1,
            ..Params::default()
        }
    }
}

slots! {
    /// winograd.wgsl's and winograd4x4.wgsl's storage bindings, their operands in buffers.
    mod slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, OUT4: out4 = 5, M: m = 6,
        DY: dy = 7, DWEIGHT: dweight = 8, M4: m4 = 9, X4: x4 = 10,
    }
}

slots! {
    /// winograd4x4.wgsl's storage bindings when a launch reads its operand from a texture copy,
    /// bound at OPERAND_TEXTURE.
    mod texture_slot {
        WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, OUT4: out4 = 5, DWEIGHT: dweight = 8,
    }
}

/// winograd_operands_textures.wgsl's binding of the operand's texture copy.
const OPERAND_TEXTURE: u32 = 11;

/// A transform's launch: `entry` of `variant` with `params`, reading `operand` from a texture
/// copy, besides the bindings `others`; or `from_buffer`, an entry point and its storage slot for
/// the operand, reading it from its buffer: `entry` itself, or the scalar form of an entry point
/// whose vec4 reads pay only from texels (PERFORMANCE.md 33, 45).
struct Transform<'a> {
    variant: Variant,
    entry: &'static str,
    params: &'a Params,
    operand: &'a View<'a>,
    others: &'a [(Slot, &'a View<'a>)],
    from_buffer: (&'static str, Slot),
}

impl Transform<'_> {
    /// Runs `invocations` invocations, reading the operand from a texture copy where the device
    /// reads operands from textures and the variant can (its entry points that read vec4s: a
    /// float read alone would cost a whole texel), else from its buffer.
    fn run(&self, gpu: &Gpu, invocations: usize) -> Result<()> {
        self.run_where(true, gpu, invocations)
    }

    /// As `run` where `vec4s_fit` (the launch's shape lets `entry` read vec4s), else `from_buffer`
    /// straight from the buffer.
    fn run_where(&self, vec4s_fit: bool, gpu: &Gpu, invocations: usize) -> Result<()> {
        let (entry, slot) = self.from_buffer;
        let mut buffers = self.others.to_vec();
        buffers.push((slot, self.operand));
        let from_buffer =
            || Launch::new(self.variant.shader, entry, self.params, &buffers).run(gpu, invocations);
        let textures = self
            .variant
            .textures
            .filter(|_| vec4s_fit && gpu.tuning().reads_texture_copies());
        let Some(textures) = textures else {
            return from_buffer();
        };
        gpu.with_texture_copy(self.operand, |copy| {
            let Some(copy) = copy else {
                return from_buffer();
            };
            Launch::new(textures, self.entry, self.params, self.others)
                .textures(&[(OPERAND_TEXTURE, &copy)])
                .variant("from a texture copy")
                .bytes(distinct_binding_bytes(&buffers))
                .run(gpu, invocations)
        })
    }
}

/// Whether F(4x4, 3x3)'s `input_transform_rows` can take a chunk: each invocation's four tiles
/// side by side in one tile row (the chunk's first tile, its tile count and the tiles of a row
/// multiples of 4), one column of padding, and input rows of whole vec4s from a vec4 boundary.
fn by_rows_of_vec4s(variant: Variant, p: &Params) -> bool {
    variant.side == 4
        && p.pw == 1
        && [p.t0, p.t_count, p.tiles_w, p.w, p.x_off]
            .iter()
            .all(|v| v.is_multiple_of(4))
}

/// Whether F(3x3, 4x4)'s `input_by_tile_rows` can take a chunk: one column of padding, and input
/// rows of whole vec4s from a vec4 boundary.
fn by_tile_rows_fit(variant: Variant, p: &Params) -> bool {
    variant.side == 4 && p.pw == 1 && [p.w, p.x_off].iter().all(|v| v.is_multiple_of(4))
}

/// Whether F(3x3, 4x4)'s `grad_transform_rows` can take a chunk: each invocation's four tiles side
/// by side in one tile row, all inside the chunk (the chunk's first tile, its tile count and the
/// tiles of a row multiples of 4), and output rows of whole vec4s from a vec4 boundary.
fn grad_rows_fit(variant: Variant, p: &Params) -> bool {
    variant.side == 4
        && [p.t0, p.t_count, p.tiles_w, p.ow, p.y_off]
            .iter()
            .all(|v| v.is_multiple_of(4))
}

/// Chunks of at most `max` tiles (a positive multiple of VEC) covering `tiles`, as even as whole
/// vec4s allow: (first tile, tiles).
fn tile_chunks(tiles: usize, max: usize) -> Vec<(usize, usize)> {
    let per = tiles.div_ceil(tiles.div_ceil(max)).next_multiple_of(VEC);
    (0..tiles)
        .step_by(per)
        .map(|t0| (t0, per.min(tiles - t0)))
        .collect()
}

/// The convolution of x [N, Cin, H, W] with a 3x3 `weight` (stride 1, `padding`) into [N, Cout,
/// out_hw], as conv2d's forward (`flip` false: weight [Cout, Cin, 3, 3]) or as the input gradient
/// (`flip`: weight [Cin', Cout', 3, 3] = the forward's, flipped and transposed), by the cheaper
/// variant whose transformed weight fits one binding. Images are taken as many at a time as one
/// binding holds, and their tiles in chunks whose transforms fit one binding. None with fewer than
/// MIN_CHANNELS input channels, or when no variant's transformed weight or one image would fit one
/// binding; the caller then takes the direct kernels.
pub(crate) fn conv3x3(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    flip: bool,
    bias: Option<&Tensor>,
    out_hw: [usize; 2],
    padding: [usize; 2],
) -> Result<Option<Tensor>> {
    let [n, c_in, h, w] = nchw("conv2d", "input", x.shape())?;
    let [a, b, _, _] = nchw("conv2d", "weight", weight.shape())?;
    let c_out = if flip { b } else { a };
    let [oh, ow] = out_hw;
    let ci_pad = c_in.div_ceil(VEC) * VEC;
    let cap = gpu.max_view_elems();
    // U[xi, co, ci], rows along c_in: the row-major A of the products, which run 1.2-1.8x faster
    // from rows than k-major (PERFORMANCE.md 40).
    let u_rows = [c_out, ci_pad];
    let (per_x, per_y) = (c_in * h * w, c_out * oh * ow);
    if c_in < MIN_CHANNELS || n * oh * ow == 0 || per_x > cap || per_y > cap {
        return Ok(None);
    }
    let Some(variant) = cheaper(n, out_hw, |v| {
        v.positions * u_rows[0] * u_rows[1] <= cap && v.max_chunk_tiles(gpu, c_in.max(c_out)) > 0
    }) else {
        return Ok(None);
    };
    let xi = variant.positions;
    let plane_tiles = variant.plane_tiles(out_hw);
    let max_tiles = variant.max_chunk_tiles(gpu, c_in.max(c_out));
    let images = gpu.batch_chunks(n, &[("conv2d input", per_x), ("conv2d output", per_y)])?;
    let most_tiles = images.iter().map(|c| c.len()).max().unwrap_or(0) * plane_tiles;
    let t_most = most_tiles.min(max_tiles).next_multiple_of(VEC);
    let shape = Params::new(variant, [c_in, h, w], [c_out, oh, ow], padding);
    let u = Tensor::uninit(gpu, &[xi, u_rows[0], u_rows[1]], DType::F32);
    let v = Tensor::uninit(gpu, &[xi, c_in, t_most], DType::F32);
    let m = Tensor::uninit(gpu, &[xi, c_out, t_most], DType::F32);
    let y = Tensor::uninit(gpu, &[n, c_out, oh, ow], DType::F32);
    let (wv, uv) = (
        gpu.whole(weight, "conv2d weight")?,
        gpu.whole(&u, "Winograd-transformed weight")?,
    );
    Launch::new(
        variant.shader,
        if flip {
            "flipped_weights_transform_rows"
        } else {
            "weights_transform_rows"
        },
        &shape,
        &[(slot::WEIGHT, &wv), (slot::OUT4, &uv)],
    )
    .run(gpu, u_rows[0] * u_rows[1] / VEC)?;
    let bv = bias.map(|b| gpu.whole(b, "conv2d bias")).transpose()?;
    for images in images {
        let xv = gpu.view(x, images.start * per_x, images.len() * per_x);
        let yv = gpu.view(&y, images.start * per_y, images.len() * per_y);
        for (t0, t_count) in tile_chunks(images.len() * plane_tiles, max_tiles) {
            let t_pad = t_count.next_multiple_of(VEC);
            let params = Params {
                x_off: xv.shift,
                y_off: yv.shift,
                t0: u32_of(t0),
                t_count: u32_of(t_count),
                t_pad: u32_of(t_pad),
                ..shape
            };
            let vv = gpu.view(&v, 0, xi * c_in * t_pad);
            if by_rows_of_vec4s(variant, &params) {
                Transform {
                    variant,
                    entry: "input_transform_rows",
                    params: &params,
                    operand: &xv,
                    others: &[(slot::OUT4, &vv)],
                    from_buffer: ("input_transform_rows", slot::X4),
                }
                .run(gpu, c_in * t_pad / VEC)?;
            } else {
                Launch::new(
                    variant.shader,
                    "input_transform",
                    &params,
                    &[(slot::X, &xv), (slot::OUT4, &vv)],
                )
                .run(gpu, c_in * t_pad / VEC)?;
            }
            // Products over the padded tile count (the padding tiles' columns are zero), so rows
            // of M are whole vec4s.
            let mv = gpu.view(&m, 0, xi * c_out * t_pad);
            batched_products(
                gpu,
                (xi, [u_rows[0] * u_rows[1], c_in * t_pad, c_out * t_pad]),
                [c_out, t_pad, c_in],
                (&uv, ALayout::Rows(ci_pad)),
                (&vv, t_pad),
                &mv,
                None,
            )?;
            let (entry, others) = optional_input(
                ["output_transform", "output_transform_bias"],
                bv.as_ref().map(|b| (slot::BIAS, b)),
                &[(slot::Y, &yv)],
            );
            if variant.output_by_vec4 {
                Transform {
                    variant,
                    entry,
                    params: &params,
                    operand: &mv,
                    others: &others,
                    from_buffer: (entry, slot::M4),
                }
                .run(gpu, c_out * t_pad / VEC)?;
            } else {
                let mut buffers = others;
                buffers.push((slot::M, &mv));
                Launch::new(variant.shader, entry, &params, &buffers).run(gpu, c_out * t_count)?;
            }
        }
    }
    Ok(Some(y))
}

/// dweight [Cout, Cin, 3, 3] of y = conv2d(x, weight) with stride 1 and `padding`, from x [N, Cin,
/// H, W] and dy [N, Cout, OH, OW], by the cheaper variant whose chunks' products fit one binding.
/// Images and tiles are chunked as in conv3x3, each chunk's products kept apart and summed by the
/// output transform. None with fewer than MIN_CHANNELS input channels, or when one image or every
/// variant's products would not fit one binding.
pub(crate) fn weight_grad3x3(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    padding: [usize; 2],
) -> Result<Option<Tensor>> {
    let [n, c_in, h, w] = nchw("conv2d backward", "input", x.shape())?;
    let [dn, c_out, oh, ow] = nchw("conv2d backward", "dy", dy.shape())?;
    if dn != n || oh + 2 != h + 2 * padding[0] || ow + 2 != w + 2 * padding[1] {
        // Mismatched shapes: the direct kernel's checks name them.
        return Ok(None);
    }
    let ci_pad = c_in.div_ceil(VEC) * VEC;
    let co_pad = c_out.div_ceil(VEC) * VEC;
    let cap = gpu.max_view_elems();
    let (per_x, per_dy) = (c_in * h * w, c_out * oh * ow);
    if c_in < MIN_CHANNELS || n * oh * ow == 0 || per_x > cap || per_dy > cap {
        return Ok(None);
    }
    let images = gpu.batch_chunks(
        n,
        &[("conv2d input", per_x), ("conv2d output gradient", per_dy)],
    )?;
    // Each chunk of tiles: its images and (first tile, tiles).
    let chunks_of = |variant: Variant| -> Vec<_> {
        let (plane_tiles, max_tiles) = (
            variant.plane_tiles([oh, ow]),
            variant.max_chunk_tiles(gpu, ci_pad.max(co_pad)),
        );
        if max_tiles == 0 {
            return Vec::new();
        }
        images
            .iter()
            .flat_map(|images| {
                tile_chunks(images.len() * plane_tiles, max_tiles)
                    .into_iter()
                    .map(move |tiles| (images.clone(), tiles))
            })
            .collect()
    };
    let fits = |v: Variant| {
        let chunks = chunks_of(v).len();
        chunks > 0 && chunks * v.positions * c_out * ci_pad <= cap
    };
    let Some(variant) = cheaper(n, [oh, ow], fits) else {
        return Ok(None);
    };
    let (xi, chunks) = (variant.positions, chunks_of(variant));
    let per_m = xi * c_out * ci_pad;
    let t_most = chunks.iter().map(|(_, (_, t))| *t).max().unwrap_or(0);
    let v = Tensor::uninit(gpu, &[xi, t_most, ci_pad], DType::F32);
    let g = Tensor::uninit(gpu, &[xi, c_out, t_most.next_multiple_of(VEC)], DType::F32);
    let m = Tensor::uninit(gpu, &[chunks.len(), xi, c_out, ci_pad], DType::F32);
    let dw = Tensor::uninit(gpu, &[c_out, c_in, 3, 3], DType::F32);
    let shape = Params::new(variant, [c_in, h, w], [c_out, oh, ow], padding);
    for (k, (images, (t0, t_count))) in chunks.iter().enumerate() {
        let t_pad = t_count.next_multiple_of(VEC);
        let xv = gpu.view(x, images.start * per_x, images.len() * per_x);
        let dv = gpu.view(dy, images.start * per_dy, images.len() * per_dy);
        let params = Params {
            x_off: xv.shift,
            y_off: dv.shift,
            t0: u32_of(*t0),
            t_count: u32_of(*t_count),
            t_pad: u32_of(t_pad),
            ..shape
        };
        let vv = gpu.view(&v, 0, xi * t_count * ci_pad);
        Transform {
            variant,
            entry: "input_by_tile_rows",
            params: &params,
            operand: &xv,
            others: &[(slot::OUT4, &vv)],
            from_buffer: ("input_by_tile", slot::X),
        }
        .run_where(
            by_tile_rows_fit(variant, &params),
            gpu,
            t_count * ci_pad / VEC,
        )?;
        let gv = gpu.view(&g, 0, xi * c_out * t_pad);
        Transform {
            variant,
            entry: "grad_transform_rows",
            params: &params,
            operand: &dv,
            others: &[(slot::OUT4, &gv)],
            from_buffer: ("grad_transform", slot::DY),
        }
        .run_where(grad_rows_fit(variant, &params), gpu, c_out * t_pad / VEC)?;
        // Columns past c_in (products with the repeated last channel) are computed, never read.
        let mv = gpu.view(&m, k * per_m, per_m);
        batched_products(
            gpu,
            (xi, [c_out * t_pad, t_count * ci_pad, c_out * ci_pad]),
            [c_out, ci_pad, *t_count],
            (&gv, ALayout::Rows(t_pad)),
            (&vv, ci_pad),
            &mv,
            None,
        )?;
    }
    // dweight as vec4s when c_in is a multiple of 4 (each invocation's 36 floats then start on a
    // vec4), else as scalars.
    let (entry, out) = if c_in % VEC == 0 {
        ("weight_grad_output_vec4", slot::OUT4)
    } else {
        ("weight_grad_output", slot::DWEIGHT)
    };
    let (mv, wv) = (
        gpu.whole(&m, "Winograd products")?,
        gpu.whole(&dw, "conv2d weight gradient")?,
    );
    Transform {
        variant,
        entry,
        params: &Params {
            chunks: u32_of(chunks.len()),
            ..shape
        },
        operand: &mv,
        others: &[(out, &wv)],
        from_buffer: (entry, slot::M4),
    }
    .run(gpu, c_out * ci_pad / VEC)?;
    Ok(Some(dw))
}
