//! The GPU kernel family (tiled.wgsl): strided products, convolutions, transposed convolutions
//! and weight gradients as one workgroup-tiled matrix product, the operands staged in workgroup
//! memory. Chosen by `Tuning::family`; the register-block kernels of the other files are the CPU
//! family.

use super::reduce::sum_columns_into;
use super::{optional_input, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader, View};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

kernel_params! {
    /// tiled.wgsl's launch parameters.
    struct Params {
        m: u32, n: u32, k: u32, a_row: u32, a_col: u32, b_row: u32, b_col: u32, has_bias: u32,
        accumulate: u32, a_off: u32, b_off: u32, c_off: u32, a_batch: u32, b_batch: u32,
        c_batch: u32, batch: u32, tiles_m: u32, tiles_n: u32, k_split: u32, c_in: u32, h: u32,
        w: u32, oh: u32, ow: u32, kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32,
        a_vec4: u32, b_vec4: u32,
    }
}

slots! {
    /// tiled.wgsl's storage bindings.
    mod slot {
        A: a = 1, B: b = 2, BIAS: bias = 3, C: c = 4, A4: a4 = 5, B4: b4 = 6,
    }
}

/// Workgroups a weight gradient aims for: its output is small (c_out x c_in kh kw) and its sum
/// long (every pixel of the batch), so the sum is split across grid layers until a large GPU's
/// cores are all busy.
const WEIGHT_GRAD_WORKGROUPS: usize = 1024;

/// What tiled.wgsl's A, B and C are (its `MODE` override).
#[derive(Clone, Copy)]
enum Mode {
    Product = 0,
    Convolution = 1,
    Transposed = 2,
    WeightGrad = 3,
}

/// The values launches give tiled.wgsl's `MODE` (for tests/shaders).
pub(crate) const OVERRIDES: &[(&str, &[f64])] = &[("MODE", &[0.0, 1.0, 2.0, 3.0])];

impl Mode {
    /// The name profiles show beside the entry point.
    fn name(self) -> &'static str {
        match self {
            Mode::Product => "product",
            Mode::Convolution => "convolution",
            Mode::Transposed => "transposed convolution",
            Mode::WeightGrad => "weight gradient",
        }
    }
}

/// Strides of an operand: element (i, j) is at i * row + j * col.
#[derive(Clone, Copy)]
pub(crate) struct Strides {
    pub(crate) row: usize,
    pub(crate) col: usize,
}

/// Which index of C a bias follows.
#[derive(Clone, Copy)]
pub(crate) enum BiasAlong {
    Columns = 1,
    Rows = 2,
}

/// `batch` products C_z [m, n] (+)= A_z(m, k) B_z(k, n) (+ bias), the z-th operands `strides`
/// = [a, b, c] elements after the previous ones; C row-major.
pub(crate) struct Product<'a> {
    pub(crate) dims: [usize; 3],
    pub(crate) batch: (usize, [usize; 3]),
    pub(crate) a: (&'a View<'a>, Strides),
    pub(crate) b: (&'a View<'a>, Strides),
    pub(crate) c: &'a View<'a>,
    pub(crate) bias: Option<(&'a View<'a>, BiasAlong)>,
    pub(crate) accumulate: bool,
}

/// A convolution's sizes: x [images, c_in, h, w], output [.., out_hw], kernel, stride, padding.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) c_in: usize,
    pub(crate) in_hw: [usize; 2],
    pub(crate) c_out: usize,
    pub(crate) out_hw: [usize; 2],
    pub(crate) kernel: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) padding: [usize; 2],
}

impl Geometry {
    fn params(&self) -> Params {
        Params {
            c_in: u32_of(self.c_in),
            h: u32_of(self.in_hw[0]),
            w: u32_of(self.in_hw[1]),
            oh: u32_of(self.out_hw[0]),
            ow: u32_of(self.out_hw[1]),
            kh: u32_of(self.kernel[0]),
            kw: u32_of(self.kernel[1]),
            sh: u32_of(self.stride[0]),
            sw: u32_of(self.stride[1]),
            ph: u32_of(self.padding[0]),
            pw: u32_of(self.padding[1]),
            ..Params::default()
        }
    }
}

/// The views a launch binds: A, B and C, and a bias where one is added.
struct Operands<'a> {
    a: &'a View<'a>,
    b: &'a View<'a>,
    c: &'a View<'a>,
    bias: Option<&'a View<'a>>,
}

/// Records one tiled launch of `params` (its m, n and batch set) with C's `max_columns` per grid
/// layer. A and B are also bound as a4 and b4, which MODE 0 reads where a_vec4 and b_vec4 say.
fn launch(
    gpu: &Gpu,
    mode: Mode,
    mut params: Params,
    max_columns: usize,
    operands: Operands,
    flops: f64,
) -> Result<()> {
    let [rows, cols] = gpu.tuning().tile.output();
    params.tiles_m = u32_of((params.m as usize).div_ceil(rows));
    params.tiles_n = u32_of(max_columns.div_ceil(cols));
    let workgroups = [params.tiles_m, params.tiles_n, params.batch]
        .iter()
        .map(|&v| v as usize)
        .product();
    let (entry, buffers) = optional_input(
        ["tiled", "tiled_bias"],
        operands.bias.map(|b| (slot::BIAS, b)),
        &[
            (slot::A, operands.a),
            (slot::B, operands.b),
            (slot::C, operands.c),
            (slot::A4, operands.a),
            (slot::B4, operands.b),
        ],
    );
    Launch::new(Shader::Tiled, entry, &params, &buffers)
        .constants(&[("MODE", mode as u32 as f64)])
        .variant(mode.name())
        .flops(flops)
        .run_tiles(gpu, workgroups)
}

/// `a_vec4` / `b_vec4` for an operand: ROW_MAJOR where its rows (col 1) start on vec4s,
/// COLUMN_MAJOR where its columns (row 1) do, else 0 (one value at a time).
const ROW_MAJOR: u32 = 1;
const COLUMN_MAJOR: u32 = 2;

fn vec4_layout((view, strides): (&View, Strides), batch_stride: usize) -> u32 {
    let aligned = |stride: usize| {
        stride.is_multiple_of(4) && batch_stride.is_multiple_of(4) && view.shift.is_multiple_of(4)
    };
    match (strides.row, strides.col) {
        (row, 1) if aligned(row) => ROW_MAJOR,
        (1, col) if aligned(col) => COLUMN_MAJOR,
        _ => 0,
    }
}

/// The products of `p` in one dispatch.
pub(crate) fn product(gpu: &Gpu, p: &Product) -> Result<()> {
    let [m, n, k] = p.dims;
    let (batch, [a_batch, b_batch, c_batch]) = p.batch;
    let params = Params {
        m: u32_of(m),
        n: u32_of(n),
        k: u32_of(k),
        a_row: u32_of(p.a.1.row),
        a_col: u32_of(p.a.1.col),
        b_row: u32_of(p.b.1.row),
        b_col: u32_of(p.b.1.col),
        has_bias: p.bias.map_or(0, |(_, along)| along as u32),
        accumulate: u32::from(p.accumulate),
        a_off: p.a.0.shift,
        b_off: p.b.0.shift,
        c_off: p.c.shift,
        a_vec4: vec4_layout(p.a, a_batch),
        b_vec4: u32::from(vec4_layout(p.b, b_batch) == ROW_MAJOR),
        a_batch: u32_of(a_batch),
        b_batch: u32_of(b_batch),
        c_batch: u32_of(c_batch),
        batch: u32_of(batch),
        ..Params::default()
    };
    launch(
        gpu,
        Mode::Product,
        params,
        n,
        Operands {
            a: p.a.0,
            b: p.b.0,
            c: p.c,
            bias: p.bias.map(|(v, _)| v),
        },
        2.0 * (batch * m * n * k) as f64,
    )
}

/// Which convolution `convolution` computes.
#[derive(Clone, Copy)]
pub(crate) enum Convolution {
    /// conv2d(x, weight) + bias, weight [c_out, c_in, kh, kw].
    Direct,
    /// conv_transpose2d(x, weight) + bias, weight [c_in, c_out, kh, kw] (also conv2d's input
    /// gradient), one grid layer per output phase.
    Transposed,
}

/// y [images, c_out, out_hw] of x [images, c_in, in_hw], images chunked to fit the bindings.
pub(crate) fn convolution(
    gpu: &Gpu,
    kind: Convolution,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    g: Geometry,
) -> Result<Tensor> {
    let (mode, op) = match kind {
        Convolution::Direct => (Mode::Convolution, "conv2d"),
        Convolution::Transposed => (Mode::Transposed, "conv_transpose2d"),
    };
    let images = x.shape()[0];
    let [oh, ow] = g.out_hw;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let y = Tensor::uninit(gpu, &[images, g.c_out, oh, ow], DType::F32);
    let wv = gpu.whole(weight, &format!("{op} weight"))?;
    let bv = bias
        .map(|b| gpu.whole(b, &format!("{op} bias")))
        .transpose()?;
    let per_x = g.c_in * g.in_hw[0] * g.in_hw[1];
    let per_y = g.c_out * oh * ow;
    let (k, phases, pixels) = match mode {
        Mode::Transposed => (
            g.c_in * kh.div_ceil(sh) * kw.div_ceil(sw),
            sh * sw,
            oh.div_ceil(sh) * ow.div_ceil(sw),
        ),
        _ => (g.c_in * kh * kw, 1, oh * ow),
    };
    for chunk in gpu.batch_chunks(
        images,
        &[
            (&format!("{op} input"), per_x),
            (&format!("{op} output"), per_y),
        ],
    )? {
        let xv = gpu.view(x, chunk.start * per_x, chunk.len() * per_x);
        let yv = gpu.view(&y, chunk.start * per_y, chunk.len() * per_y);
        let columns = chunk.len() * oh * ow;
        let params = Params {
            m: u32_of(g.c_out),
            // Transposed: the images; the columns of each phase's layer follow from its pixels.
            n: u32_of(if matches!(mode, Mode::Transposed) {
                chunk.len()
            } else {
                columns
            }),
            k: u32_of(k),
            has_bias: if bias.is_some() { 2 } else { 0 },
            a_off: wv.shift,
            b_off: xv.shift,
            c_off: yv.shift,
            batch: u32_of(phases),
            ..g.params()
        };
        launch(
            gpu,
            mode,
            params,
            chunk.len() * pixels,
            Operands {
                a: &wv,
                b: &xv,
                c: &yv,
                bias: bv.as_ref(),
            },
            match mode {
                Mode::Transposed => 2.0 * (chunk.len() * per_x * g.c_out * kh * kw) as f64,
                _ => 2.0 * (g.c_out * columns * g.c_in * kh * kw) as f64,
            },
        )?;
    }
    Ok(y)
}

/// grad [c_out, c_in, kh, kw] = sum over images and output pixels of gy[image, co, oy, ox] *
/// x[image, ci, oy sh - ph + ky, ox sw - pw + kx]: conv2d's weight gradient (gy = dy), and
/// conv_transpose2d's (gy its input, x its dy). The sum is split into grid layers whose partial
/// sums are added in a fixed order.
pub(crate) fn weight_grad(gpu: &Gpu, gy: &Tensor, x: &Tensor, g: Geometry) -> Result<Tensor> {
    let images = x.shape()[0];
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out_hw;
    let (m, n) = (g.c_out, g.c_in * kh * kw);
    let dw = Tensor::uninit(gpu, &[g.c_out, g.c_in, kh, kw], DType::F32);
    if images * oh * ow == 0 {
        gpu.with_encoder(|e| e.clear_buffer(dw.buffer(), 0, None));
        return Ok(dw);
    }
    let per_gy = g.c_out * oh * ow;
    let per_x = g.c_in * g.in_hw[0] * g.in_hw[1];
    let [rows, cols] = gpu.tuning().tile.output();
    let tiles = m.div_ceil(rows) * n.div_ceil(cols);
    let chunks = gpu.batch_chunks(
        images,
        &[("conv output gradient", per_gy), ("conv input", per_x)],
    )?;
    for (i, chunk) in chunks.iter().enumerate() {
        let k = chunk.len() * oh * ow;
        let max_layers = (gpu.max_view_elems() / (m * n)).max(1);
        let wanted = WEIGHT_GRAD_WORKGROUPS.div_ceil(tiles);
        let tk = gpu.tuning().tile.tk as usize;
        let layers = wanted.min(max_layers).min(k.div_ceil(tk)).max(1);
        let k_split = k.div_ceil(layers);
        let layers = k.div_ceil(k_split);
        // One layer of the only chunk is the gradient itself: no partial sums to add up.
        let direct = layers == 1 && chunks.len() == 1;
        let partial = if direct {
            dw.clone()
        } else {
            Tensor::uninit(gpu, &[layers, m * n], DType::F32)
        };
        let pv = gpu.whole(&partial, "conv weight-gradient partial sums")?;
        let gv = gpu.view(gy, chunk.start * per_gy, chunk.len() * per_gy);
        let xv = gpu.view(x, chunk.start * per_x, chunk.len() * per_x);
        let params = Params {
            m: u32_of(m),
            n: u32_of(n),
            k: u32_of(k),
            a_off: gv.shift,
            b_off: xv.shift,
            c_off: pv.shift,
            c_batch: u32_of(m * n),
            batch: u32_of(layers),
            k_split: u32_of(k_split),
            ..g.params()
        };
        launch(
            gpu,
            Mode::WeightGrad,
            params,
            n,
            Operands {
                a: &gv,
                b: &xv,
                c: &pv,
                bias: None,
            },
            2.0 * (m * n * k) as f64,
        )?;
        if !direct {
            sum_columns_into(gpu, &partial, layers, m * n, &dw, i > 0)?;
        }
    }
    Ok(dw)
}
