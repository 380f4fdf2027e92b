//! linear and its gradients through one strided matrix product (matmul.wgsl).

use super::reduce::sum_columns_into;
use super::tiled::{self, BiasAlong, Product, Strides};
use super::{check_weight_and_bias, optional_input, u32_of};
use crate::error::Result;
use crate::gpu::{Gpu, KernelFamily, Launch, Shader, View};
use crate::ops::interface::{kernel_params, slots};
use crate::tensor::{DType, Tensor};

/// Rows and columns of the block each invocation computes (the WGSL constants TM, TN).
const TM: usize = 4;
const TN: usize = 4;

kernel_params! {
    /// matmul.wgsl's launch parameters.
    struct Params {
        m: u32, n: u32, k: u32, a_row: u32, a_col: u32, b_row: u32, b_col: u32,
        has_bias: u32, accumulate: u32, a_off: u32, b_off: u32, c_off: u32, vec4_out: u32,
        batch: u32, a_batch: u32, b_batch: u32, c_batch: u32,
    }
}

slots! {
    /// matmul.wgsl's storage bindings.
    mod slot {
        A: a = 1, B: b = 2, BIAS: bias = 3, C: c = 4, B4: b4 = 5, A4: a4 = 6, C4: c4 = 7,
    }
}

/// c[m, n] (+)= A(m, k) B(k, n) (+ bias) for views already cut to fit a binding.
pub(crate) fn matmul(
    gpu: &Gpu,
    [m, n, k]: [usize; 3],
    a: (&View, Strides),
    b: (&View, Strides),
    bias: Option<&View>,
    c: &View,
    accumulate: bool,
) -> Result<()> {
    if gpu.tuning().family == KernelFamily::Gpu {
        return tiled::product(
            gpu,
            &Product {
                dims: [m, n, k],
                batch: (1, [0; 3]),
                a,
                b,
                c,
                bias: bias.map(|v| (v, BiasAlong::Columns)),
                accumulate,
            },
        );
    }
    let params = Params {
        m: u32_of(m),
        n: u32_of(n),
        k: u32_of(k),
        a_row: u32_of(a.1.row),
        a_col: u32_of(a.1.col),
        b_row: u32_of(b.1.row),
        b_col: u32_of(b.1.col),
        has_bias: u32::from(bias.is_some()),
        accumulate: u32::from(accumulate),
        a_off: a.0.shift,
        b_off: b.0.shift,
        c_off: c.shift,
        vec4_out: u32::from(
            bias.is_none() && !accumulate && n.is_multiple_of(4) && c.shift.is_multiple_of(4),
        ),
        batch: 1,
        ..Params::default()
    };
    let b_vec4 = b.1.col == 1 && b.1.row.is_multiple_of(4) && b.0.shift.is_multiple_of(4);
    let a_vec4 = a.1.row == 1 && a.1.col.is_multiple_of(4) && a.0.shift.is_multiple_of(4);
    let (entries, blocks, a_slot, b_slot) = match (a_vec4, b_vec4) {
        (true, true) => (
            ["matmul_vec4x2", "matmul_vec4x2_bias"],
            m.div_ceil(8) * n.div_ceil(8),
            slot::A4,
            slot::B4,
        ),
        (false, true) => (
            ["matmul_vec4", "matmul_vec4_bias"],
            m.div_ceil(4) * n.div_ceil(8),
            slot::A,
            slot::B4,
        ),
        _ => {
            // No bias twin: linear's B, the only operand a bias comes with, is always vec4-aligned.
            crate::ensure_shape!(
                bias.is_none(),
                "matmul: a bias needs B's rows as whole vec4s (the scalar kernel reads none)"
            );
            (
                ["matmul", "matmul"],
                m.div_ceil(TM) * n.div_ceil(TN),
                slot::A,
                slot::B,
            )
        }
    };
    let mut buffers = vec![(a_slot, a.0), (b_slot, b.0), (slot::C, c)];
    if b_vec4 {
        // The vec4 kernels store through c4 (vec4_out) as well as c: the same view, bound as both.
        buffers.push((slot::C4, c));
    }
    let (entry, buffers) = optional_input(entries, bias.map(|b| (slot::BIAS, b)), &buffers);
    Launch::new(Shader::Matmul, entry, &params, &buffers)
        .flops(2.0 * (m * n * k) as f64)
        .run(gpu, blocks)
}

/// The CPU family's 8 x 8 batched products (`matmul_vec4x2` with A k-major, a_strides.row 1, or
/// `matmul_rows_vec4x2` with A row-major, a_strides.col 1): `batched_matmul::batched_products`,
/// which checks the operands are vec4-aligned, says what they compute.
pub(crate) fn batched_products_8x8(
    gpu: &Gpu,
    (batch, strides): (usize, [usize; 3]),
    [m, n, k]: [usize; 3],
    (a, a_strides): (&View, Strides),
    (b, b_row): (&View, usize),
    c: &View,
    row_bias: Option<&View>,
) -> Result<()> {
    let entries = if a_strides.row == 1 {
        ["matmul_vec4x2", "matmul_vec4x2_bias"]
    } else {
        ["matmul_rows_vec4x2", "matmul_rows_vec4x2_bias"]
    };
    let params = Params {
        m: u32_of(m),
        n: u32_of(n),
        k: u32_of(k),
        a_row: u32_of(a_strides.row),
        a_col: u32_of(a_strides.col),
        b_row: u32_of(b_row),
        b_col: 1,
        a_off: a.shift,
        b_off: b.shift,
        c_off: c.shift,
        vec4_out: 1,
        has_bias: if row_bias.is_some() { 2 } else { 0 },
        batch: u32_of(batch),
        a_batch: u32_of(strides[0]),
        b_batch: u32_of(strides[1]),
        c_batch: u32_of(strides[2]),
        ..Params::default()
    };
    let (entry, buffers) = optional_input(
        entries,
        row_bias.map(|b| (slot::BIAS, b)),
        &[(slot::A4, a), (slot::B4, b), (slot::C, c), (slot::C4, c)],
    );
    Launch::new(Shader::Matmul, entry, &params, &buffers)
        .flops(2.0 * (batch * m * n * k) as f64)
        .run(gpu, batch * m.div_ceil(8) * n.div_ceil(8))
}

/// t [r, c] transposed as [c, r padded to 4], when both fit one binding (small operands such as a
/// batch of activations); None sends the caller to its chunked path.
fn transposed_if_bindable(gpu: &Gpu, t: &Tensor) -> Result<Option<(Tensor, usize)>> {
    let [r, c] = matrix("linear", "operand", t)?;
    let fits = |elems: usize| elems <= gpu.max_view_elems();
    if !fits(r * c) || !fits(c * r.div_ceil(4) * 4) {
        return Ok(None);
    }
    transposed(gpu, t).map(Some)
}

/// weight [n, k] as a row-major [k, n padded to 4] matrix, for the vec4 kernels.
fn transposed(gpu: &Gpu, weight: &Tensor) -> Result<(Tensor, usize)> {
    let [n, k] = matrix("linear", "weight", weight)?;
    let row = n.div_ceil(4) * 4;
    let out = Tensor::uninit(gpu, &[k, row], DType::F32);
    let params = Params {
        m: u32_of(n),
        n: u32_of(k),
        b_row: u32_of(row),
        ..Params::default()
    };
    let (wv, ov) = (
        gpu.whole(weight, "linear weight")?,
        gpu.whole(&out, "transposed linear weight")?,
    );
    Launch::new(
        Shader::Matmul,
        "transpose",
        &params,
        &[(slot::A, &wv), (slot::C, &ov)],
    )
    .run(gpu, out.numel())?;
    Ok((out, row))
}

fn matrix(op: &str, what: &str, t: &Tensor) -> Result<[usize; 2]> {
    match t.shape() {
        &[r, c] => Ok([r, c]),
        s => Err(crate::shape_err!("{op}: {what} must be 2-D, got {s:?}")),
    }
}

/// y = x weight^T + bias: x [M, K], weight [N, K] (PyTorch's layout), bias [N]; y [M, N].
pub fn linear(gpu: &Gpu, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let [_, k] = matrix("linear", "input", x)?;
    let [n, wk] = matrix("linear", "weight", weight)?;
    check_weight_and_bias("linear", [x, weight], [wk, k], "features", (bias, n))?;
    let bv = bias.map(|b| gpu.whole(b, "linear bias")).transpose()?;
    let names = ["linear input", "linear output"];
    if gpu.tuning().family == KernelFamily::Gpu {
        // The tiled product reads the weight [n, k] where it lies: B(kk, j) = w[j k + kk].
        let wv = gpu.whole(weight, "linear weight")?;
        let b = (&wv, Strides { row: 1, col: k }, n);
        return rows_times(gpu, x, b, bv.as_ref(), names);
    }
    let (w_t, row) = transposed(gpu, weight)?;
    let wv = gpu.whole(&w_t, "transposed linear weight")?;
    let b = (&wv, Strides { row, col: 1 }, n);
    rows_times(gpu, x, b, bv.as_ref(), names)
}

/// dx [M, K] = dy [M, N] weight [N, K].
pub fn linear_input_grad(gpu: &Gpu, dy: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let [_, n] = matrix("linear backward", "dy", dy)?;
    let [wn, k] = matrix("linear backward", "weight", weight)?;
    crate::ensure_shape!(
        wn == n,
        "linear backward: dy {:?} does not match weight {:?}",
        dy.shape(),
        weight.shape()
    );
    let wv = gpu.whole(weight, "linear weight")?;
    let b = (&wv, Strides { row: k, col: 1 }, k);
    rows_times(gpu, dy, b, None, ["linear dy", "linear dx"])
}

/// out [M, C] = x [M, K] B (+ bias [C]) for B [K, C] with the given strides, given as (B,
/// strides, C): in the CPU family with x transposed (k-major, so both operands are when B's rows
/// are whole vec4s: the 8 x 8 kernel) when that fits one binding, else (and in the GPU family,
/// whose tiles read any strides) by row chunks of x. `names` name x and out in errors.
fn rows_times(
    gpu: &Gpu,
    x: &Tensor,
    (b, b_strides, cols): (&View, Strides, usize),
    bias: Option<&View>,
    [x_name, out_name]: [&str; 2],
) -> Result<Tensor> {
    let [m, k] = matrix("linear", "operand", x)?;
    let out = Tensor::uninit(gpu, &[m, cols], DType::F32);
    let b = (b, b_strides);
    if gpu.tuning().family == KernelFamily::Cpu
        && let Some((x_t, x_row)) = transposed_if_bindable(gpu, x)?
    {
        let xv = gpu.whole(&x_t, &format!("transposed {x_name}"))?;
        let ov = gpu.whole(&out, out_name)?;
        let a = (&xv, Strides { row: 1, col: x_row });
        matmul(gpu, [m, cols, k], a, b, bias, &ov, false)?;
        return Ok(out);
    }
    for rows in gpu.batch_chunks(m, &[(x_name, k), (out_name, cols)])? {
        let xv = gpu.view(x, rows.start * k, rows.len() * k);
        let ov = gpu.view(&out, rows.start * cols, rows.len() * cols);
        let a = (&xv, Strides { row: k, col: 1 });
        matmul(gpu, [rows.len(), cols, k], a, b, bias, &ov, false)?;
    }
    Ok(out)
}

/// dweight [N, K] = dy^T [N, M] x [M, K], accumulated over row chunks of the batch.
pub fn linear_weight_grad(gpu: &Gpu, x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let [m, k] = matrix("linear backward", "input", x)?;
    let [dm, n] = matrix("linear backward", "dy", dy)?;
    crate::ensure_shape!(
        dm == m,
        "linear backward: dy {:?} does not match input {:?}",
        dy.shape(),
        x.shape()
    );
    let dw = Tensor::uninit(gpu, &[n, k], DType::F32);
    let wv = gpu.whole(&dw, "linear weight gradient")?;
    let chunks = gpu.batch_chunks(m, &[("linear dy", n), ("linear input", k)])?;
    if chunks.is_empty() {
        gpu.with_encoder(|e| e.clear_buffer(dw.buffer(), 0, None));
    }
    for (i, rows) in chunks.into_iter().enumerate() {
        let dv = gpu.view(dy, rows.start * n, rows.len() * n);
        let xv = gpu.view(x, rows.start * k, rows.len() * k);
        matmul(
            gpu,
            [n, k, rows.len()],
            (&dv, Strides { row: 1, col: n }),
            (&xv, Strides { row: k, col: 1 }),
            None,
            &wv,
            i > 0,
        )?;
    }
    Ok(dw)
}

/// dbias [N] = column sums of dy [M, N].
pub fn linear_bias_grad(gpu: &Gpu, dy: &Tensor) -> Result<Tensor> {
    let [m, n] = matrix("linear backward", "dy", dy)?;
    let db = Tensor::uninit(gpu, &[n], DType::F32);
    sum_columns_into(gpu, dy, m, n, &db, false)?;
    Ok(db)
}
