//! The batched products behind Winograd, 1x1 and stride-equals-kernel convolutions, in the
//! device's kernels: the GPU family's workgroup tiles (tiled.wgsl), or the CPU family's register
//! blocks of the device's `ProductBlock`: 8 x 8 (matmul.wgsl), 16 x 16 or 32 x 32
//! (batched_matmul.wgsl, reading its operands from their buffers or from texture copies of them,
//! as the device's `ProductOperands` says).

use super::matmul::batched_products_8x8;
use super::tiled::{self, BiasAlong, Product, Strides};
use super::{optional_input, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, ProductBlock, ProductOperands, Shader, Slot, View};
use crate::ops::interface::{kernel_params, slots};

kernel_params! {
    /// batched_matmul.wgsl's launch parameters.
    struct Params {
        m: u32, n: u32, k: u32, a_stride: u32, b_row: u32, a_off: u32, b_off: u32, c_off: u32,
        batch: u32, a_batch: u32, b_batch: u32, c_batch: u32,
    }
}

slots! {
    /// batched_matmul.wgsl's storage bindings, reading its operands from their buffers.
    mod slot {
        A4: a4 = 1, B4: b4 = 2, BIAS: bias = 3, C4: c4 = 4,
    }
}

slots! {
    /// batched_matmul.wgsl's storage bindings when it reads texture copies of A and B, bound at
    /// slot::A4's and slot::B4's binding numbers.
    mod texture_slot {
        BIAS: bias = 3, C4: c4 = 4,
    }
}

/// How a batched product's A operand is laid out.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ALayout {
    /// Element (i, kk) at kk * stride + i: `matmul_vec4x2` (or `matmul_vec4x4`, `matmul_vec4x8`).
    KMajor(usize),
    /// Element (i, kk) at i * stride + kk, zero from k to the row's end: `matmul_rows_vec4x2`
    /// (or `matmul_rows_vec4x4`, `matmul_rows_vec4x8`).
    Rows(usize),
}

/// `batch` products c_z [m, n] = A_z(m, k) B_z(k, n) (+ row_bias[m]) in one dispatch: A_z as
/// `a_layout` says, B_z row-major with rows of b_row floats, c_z row-major, each z-th operand
/// `strides` = [a, b, c] elements after the previous one. Row lengths, strides and shifts must be
/// multiples of 4.
pub(crate) fn batched_products(
    gpu: &Gpu,
    (batch, strides): (usize, [usize; 3]),
    [m, n, k]: [usize; 3],
    (a, a_layout): (&View, ALayout),
    (b, b_row): (&View, usize),
    c: &View,
    row_bias: Option<&View>,
) -> Result<()> {
    let a_strides = match a_layout {
        ALayout::KMajor(col) => Strides { row: 1, col },
        ALayout::Rows(row) => Strides { row, col: 1 },
    };
    if gpu.tuning().family == KernelFamily::Gpu {
        return tiled::product(
            gpu,
            &Product {
                dims: [m, n, k],
                batch: (batch, strides),
                a: (a, a_strides),
                b: (b, Strides { row: b_row, col: 1 }),
                c,
                bias: row_bias.map(|v| (v, BiasAlong::Rows)),
                accumulate: false,
            },
        );
    }
    let a_stride = a_strides.row.max(a_strides.col);
    let aligned = [a_stride, b_row, n, strides[0], strides[1], strides[2]]
        .iter()
        .all(|v| v.is_multiple_of(4))
        && [a.shift, b.shift, c.shift]
            .iter()
            .all(|s| s.is_multiple_of(4));
    assert!(aligned, "batched_products needs vec4-aligned operands");
    let block = gpu.tuning().product_block;
    if block == ProductBlock::Eight {
        return batched_products_8x8(
            gpu,
            (batch, strides),
            [m, n, k],
            (a, a_strides),
            (b, b_row),
            c,
            row_bias,
        );
    }
    let k_major = matches!(a_layout, ALayout::KMajor(_));
    // No k-major batched product has a bias, so those entry points have no _bias twin.
    assert!(
        !(k_major && row_bias.is_some()),
        "a k-major batched product with a bias"
    );
    let entries = match (k_major, block) {
        (true, ProductBlock::Sixteen) => ["matmul_vec4x4"; 2],
        (true, _) => ["matmul_vec4x8"; 2],
        (false, ProductBlock::Sixteen) => ["matmul_rows_vec4x4", "matmul_rows_vec4x4_bias"],
        (false, _) => ["matmul_rows_vec4x8", "matmul_rows_vec4x8_bias"],
    };
    let params = Params {
        m: u32_of(m),
        n: u32_of(n),
        k: u32_of(k),
        a_stride: u32_of(a_stride),
        b_row: u32_of(b_row),
        a_off: a.shift,
        b_off: b.shift,
        c_off: c.shift,
        batch: u32_of(batch),
        a_batch: u32_of(strides[0]),
        b_batch: u32_of(strides[1]),
        c_batch: u32_of(strides[2]),
    };
    let side = block.side();
    let launch = |shader, buffers: &[(Slot, &View)], textures: &[(u32, &wgpu::TextureView)]| {
        let (entry, buffers) = optional_input(entries, row_bias.map(|b| (slot::BIAS, b)), buffers);
        let launch = Launch::new(shader, entry, &params, &buffers).textures(textures);
        let launch = if textures.is_empty() {
            launch
        } else {
            launch.variant("texture copies")
        };
        launch
            .flops(2.0 * (batch * m * n * k) as f64)
            .run(gpu, batch * m.div_ceil(side) * n.div_ceil(side))
    };
    let from_buffers = || {
        launch(
            Shader::BatchedMatmul,
            &[(slot::A4, a), (slot::B4, b), (slot::C4, c)],
            &[],
        )
    };
    if gpu.tuning().product_operands == ProductOperands::Buffers {
        return from_buffers();
    }
    gpu.with_texture_copies([a, b], |copies| match copies {
        Some([a_copy, b_copy]) => launch(
            Shader::BatchedMatmulTextures,
            &[(slot::C4, c)],
            &[(slot::A4.binding, &a_copy), (slot::B4.binding, &b_copy)],
        ),
        None => from_buffers(),
    })
}
