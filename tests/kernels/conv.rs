//! conv2d and conv_transpose2d, forward and all three gradients (conv2d's Winograd path: winograd.rs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use wgnn::gpu::{KernelFamily, ProductBlock, ProductOperands};
use wgnn::{Gpu, GpuOptions, Tensor};
use wgnn::ops::conv2d::{self, Conv2dArgs};
use wgnn::ops::{conv_transpose2d, reduce};

use crate::TOL;
use crate::common::*;
use crate::reference::{Conv, ConvTranspose, Convolution, Window};

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    x: [usize; 4],
    w: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    bias: bool,
}

pub const fn case(
    x: [usize; 4],
    w: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    bias: bool,
) -> Case {
    Case {
        x,
        w,
        stride,
        padding,
        bias,
    }
}

impl Case {
    fn args(&self) -> Conv2dArgs {
        Conv2dArgs {
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// The case's input `x`, weight `w` and bias `b` (if it has one) on `gpu`.
    fn upload_inputs(
        &self,
        gpu: &Gpu,
        x: &[f64],
        w: &[f64],
        b: Option<&Vec<f64>>,
    ) -> (Tensor, Tensor, Option<Tensor>) {
        let (x, w) = (upload_to(gpu, &self.x, x), upload_to(gpu, &self.w, w));
        (x, w, b.map(|b| upload_to(gpu, &[b.len()], b)))
    }
}

/// Asserts `y` (on `gpu`), the output of `op` for case `i`, against the reference's shape and values.
#[track_caller]
fn assert_forward(
    gpu: &Gpu,
    (i, op): (usize, &str),
    y: &Tensor,
    y_dims: [usize; 4],
    expected: &[f64],
) {
    assert_eq!(y.shape(), y_dims, "case {i}: output shape");
    assert_close(
        &format!("case {i}: {op} forward"),
        expected,
        &download_from(gpu, y),
        TOL,
    );
}

/// conv2d shapes: batch 1 and C = 1, C = 3, sizes that are multiples of no tile, stride larger
/// than the kernel, padding larger than 1 (and than the kernel, as FCN's first layer), 1x1 (with
/// channels and planes of whole vec4s too, the matrix-product path) and 5x5
/// kernels, non-square kernels, strides and inputs, 2x2 planes with channels that fill no block.
/// Cases 12 to 20 and 24 to 26 are in winograd.rs; 21 to 23 are MORE_CASES.
const CONV_CASES: [Case; 12] = [
    case([1, 1, 5, 7], [1, 1, 3, 3], [1, 1], [1, 1], true),
    case([2, 3, 13, 11], [5, 3, 3, 3], [1, 1], [1, 1], true),
    case([3, 3, 9, 10], [4, 3, 2, 2], [3, 3], [0, 0], true),
    case([2, 4, 6, 5], [3, 4, 3, 3], [2, 2], [2, 2], false),
    case([2, 3, 5, 4], [2, 3, 1, 1], [1, 1], [0, 0], true),
    case([3, 8, 4, 6], [13, 8, 1, 1], [1, 1], [0, 0], true),
    case([2, 3, 8, 9], [2, 3, 3, 5], [2, 1], [1, 2], true),
    case([2, 16, 17, 19], [8, 16, 3, 3], [1, 1], [1, 1], true),
    case([1, 3, 4, 4], [6, 3, 4, 4], [1, 1], [0, 0], false),
    case([2, 3, 6, 7], [4, 3, 5, 5], [1, 1], [2, 2], true),
    case([1, 2, 3, 4], [3, 2, 3, 3], [1, 1], [4, 4], true),
    case([3, 9, 2, 2], [10, 9, 3, 3], [1, 1], [1, 1], false),
];

/// 1x1 convolutions with a bias on planes of whole vec4s (the matrix-product path), whose output
/// channels are the product's rows: into 20 channels (case 21), so blocks of 8 and of 16 rows
/// reach a second row block, whose row biases start past 0, and into 40 (case 22), so blocks of
/// 32 rows do too, and those of 16 a third one that only starts inside the matrix. Case 23: a
/// direct weight gradient whose channels-last copies (6 and 5 channels padded to 8) fill more
/// than one row of 4096 texels of an operand texture (6400 and 6084 vec4s).
const MORE_CASES: [(usize, Case); 3] = [
    (21, case([2, 8, 4, 6], [20, 8, 1, 1], [1, 1], [0, 0], true)),
    (22, case([2, 8, 4, 6], [40, 8, 1, 1], [1, 1], [0, 0], true)),
    (23, case([2, 6, 40, 40], [5, 6, 4, 4], [1, 1], [1, 1], false)),
];

fn random_conv(c: &Case, seed: u64) -> Conv {
    let mut r = rng(seed);
    Conv {
        x: f32_exact(&random(&mut r, c.x.iter().product())),
        x_dims: c.x,
        w: f32_exact(&random(&mut r, c.w.iter().product())),
        w_dims: c.w,
        b: c.bias.then(|| f32_exact(&random(&mut r, c.w[0]))),
        win: Window {
            kernel: [c.w[2], c.w[3]],
            stride: c.stride,
            padding: c.padding,
        },
    }
}

#[test]
fn conv2d_forward_and_gradients_match_reference() {
    for (i, c) in CONV_CASES.iter().enumerate() {
        check_conv2d_on(gpu(), i, c);
    }
    for (i, c) in &MORE_CASES {
        check_conv2d_on(gpu(), *i, c);
    }
}

/// Case `i`'s data (seeded by its number) and the reference's forward and gradients.
struct Expected {
    case: Case,
    r: Conv,
    y: Vec<f64>,
    dy: Vec<f64>,
    grads: (Vec<f64>, Vec<f64>, Vec<f64>),
}

/// Case `i`'s Expected, computed once per test binary: the tests with the other product blocks
/// check the same cases on several devices, and recomputing the f64 reference took nine tenths
/// of their time. Cases are numbered once across the files, which the stored case checks.
fn expected(i: usize, c: &Case) -> Arc<Expected> {
    /// One case's Expected, computed by the first test that asks for it.
    type Computed = Arc<OnceLock<Arc<Expected>>>;
    static CASES: OnceLock<Mutex<HashMap<usize, Computed>>> = OnceLock::new();
    let slot = CASES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap()
        .entry(i)
        .or_default()
        .clone();
    let e = slot.get_or_init(|| {
        let r = random_conv(c, 100 + i as u64);
        let y = r.forward();
        let dy = f32_exact(&random(&mut rng(200 + i as u64), y.len()));
        let grads = r.backward(&dy);
        Arc::new(Expected {
            case: c.clone(),
            r,
            y,
            dy,
            grads,
        })
    });
    assert_eq!(&e.case, c, "two cases numbered {i}");
    e.clone()
}

/// conv2d's forward and gradients on `gpu` for case `i` (which seeds its data) against the
/// reference.
pub fn check_conv2d_on(gpu: &Gpu, i: usize, c: &Case) {
    let e = expected(i, c);
    let r = &e.r;
    let args = c.args();
    let (x, w, b) = c.upload_inputs(gpu, &r.x, &r.w, r.b.as_ref());
    let y = conv2d::conv2d(gpu, &x, &w, b.as_ref(), args).unwrap();
    assert_forward(gpu, (i, "conv2d"), &y, r.y_dims(), &e.y);

    let dy = upload_to(gpu, y.shape(), &e.dy);
    let dx = conv2d::conv2d_input_grad(gpu, &dy, &w, [c.x[2], c.x[3]], args).unwrap();
    let dw = conv2d::conv2d_weight_grad(gpu, &x, &dy, [c.w[2], c.w[3]], args).unwrap();
    let db = reduce::channel_sums(gpu, &dy).unwrap();
    assert_eq!(dx.shape(), c.x, "case {i}: dx shape");
    let what = format!("case {i}: conv2d");
    assert_grads(gpu, &what, e.grads.clone(), [&dx, &dw, &db]);
}

/// conv_transpose2d shapes: FCN's stride == kernel (scaled down from 32/32; with planes and rows of
/// whole vec4s too, the matrix-product path, once with padding), kernel 2 stride 2 with bias,
/// overlapping windows with padding, stride larger than the kernel, padding 2, C = 1.
const CONV_T_CASES: [Case; 8] = [
    case([1, 7, 2, 3], [7, 7, 4, 4], [4, 4], [0, 0], false),
    case([2, 5, 2, 4], [5, 3, 4, 4], [4, 4], [0, 0], true),
    case([1, 3, 4, 4], [3, 2, 2, 2], [2, 2], [1, 1], true),
    case([2, 7, 3, 2], [7, 7, 2, 2], [2, 2], [0, 0], true),
    case([2, 3, 4, 5], [3, 2, 3, 3], [2, 2], [1, 1], true),
    case([1, 1, 3, 3], [1, 1, 2, 3], [3, 4], [0, 0], true),
    case([2, 2, 5, 4], [2, 3, 5, 5], [2, 2], [2, 2], false),
    case([3, 3, 3, 5], [3, 1, 3, 2], [1, 2], [1, 0], true),
];

#[test]
fn conv_transpose2d_forward_and_gradients_match_reference() {
    for (i, c) in CONV_T_CASES.iter().enumerate() {
        check_conv_transpose2d_on(gpu(), i, c);
    }
}

/// conv_transpose2d's forward and gradients on `gpu` for case `i` (which seeds its data) against
/// the reference.
fn check_conv_transpose2d_on(gpu: &Gpu, i: usize, c: &Case) {
    let mut rg = rng(300 + i as u64);
    let r = ConvTranspose {
        x: f32_exact(&random(&mut rg, c.x.iter().product())),
        x_dims: c.x,
        w: f32_exact(&random(&mut rg, c.w.iter().product())),
        w_dims: c.w,
        b: c.bias.then(|| f32_exact(&random(&mut rg, c.w[1]))),
        stride: c.stride,
        padding: c.padding,
    };
    let args = c.args();
    let (x, w, b) = c.upload_inputs(gpu, &r.x, &r.w, r.b.as_ref());
    let y = conv_transpose2d::conv_transpose2d(gpu, &x, &w, b.as_ref(), args).unwrap();
    assert_forward(gpu, (i, "conv_transpose2d"), &y, r.y_dims(), &r.forward());

    let dy_host = f32_exact(&random(&mut rg, y.numel()));
    let dy = upload_to(gpu, y.shape(), &dy_host);
    let expected = r.backward(&dy_host);
    let dx = conv_transpose2d::conv_transpose2d_input_grad(gpu, &dy, &w, args).unwrap();
    let dw = conv_transpose2d::conv_transpose2d_weight_grad(gpu, &x, &dy, [c.w[2], c.w[3]], args)
        .unwrap();
    let db = reduce::channel_sums(gpu, &dy).unwrap();
    assert_eq!(dx.shape(), c.x, "case {i}: dx shape");
    let what = format!("case {i}: conv_transpose2d");
    assert_grads(gpu, &what, expected, [&dx, &dw, &db]);
}

/// The suite's options with each of the CPU family's other batched-product kernels: every block
/// (`ProductBlock`) and, for the 16 x 16 and 32 x 32 ones, every way of reading the operands
/// (`ProductOperands`), but the pair this device runs; then 32 x 32 blocks told to read texture
/// copies of at most one row, so operands past 4096 vec4s fall back to their buffers. The cpu
/// family is forced, so a device that runs the gpu family checks them all too. Only in the suite
/// that runs the device's own family (main.rs): the suites that force the gpu family (GL, WebGPU
/// limits) are there to check that family, and the products would only repeat.
pub fn other_product_blocks() -> Vec<GpuOptions> {
    if crate::options().kernels.is_some() {
        return Vec::new();
    }
    let tuning = gpu().tuning();
    let reads = |block| match block {
        ProductBlock::Eight => vec![ProductOperands::Buffers],
        _ => ProductOperands::ALL.to_vec(),
    };
    // The 8 x 8 block reads its buffers whatever the device's `ProductOperands`.
    let chosen = match (tuning.family, tuning.product_block) {
        (KernelFamily::Gpu, _) => None,
        (_, ProductBlock::Eight) => Some((ProductBlock::Eight, ProductOperands::Buffers)),
        (_, block) => Some((block, tuning.product_operands)),
    };
    let cpu = |(block, operands), max_texture_rows| GpuOptions {
        kernels: Some(KernelFamily::Cpu),
        product_block: Some(block),
        product_operands: Some(operands),
        max_texture_rows,
        ..crate::options()
    };
    ProductBlock::ALL
        .into_iter()
        .flat_map(|block| reads(block).into_iter().map(move |operands| (block, operands)))
        .filter(|&kernel| Some(kernel) != chosen)
        .map(|kernel| cpu(kernel, None))
        .chain([cpu((ProductBlock::ThirtyTwo, ProductOperands::Textures), Some(1))])
        .collect()
}

#[test]
fn convolutions_match_reference_with_the_other_product_blocks() {
    for options in other_product_blocks() {
        let other = Gpu::new(&options).unwrap();
        let tuning = other.tuning();
        assert_eq!(Some(tuning.product_block), options.product_block);
        assert_eq!(Some(tuning.product_operands), options.product_operands);
        for (i, c) in CONV_CASES.iter().enumerate() {
            check_conv2d_on(&other, i, c);
        }
        for (i, c) in &MORE_CASES {
            check_conv2d_on(&other, *i, c);
        }
        for (i, c) in CONV_T_CASES.iter().enumerate() {
            check_conv_transpose2d_on(&other, i, c);
        }
    }
}

#[test]
fn conv_references_match_finite_differences() {
    let c = &CONV_CASES[5];
    let base = random_conv(c, 7);
    let dy = random(&mut rng(8), base.y_dims().iter().product());
    let (dx, dw, db) = base.backward(&dy);
    // dy . forward() of the base convolution with one of its inputs edited.
    let loss_with = |edit: &dyn Fn(&mut Conv)| {
        let mut conv = random_conv(c, 7);
        edit(&mut conv);
        dot(&dy, &conv.forward())
    };
    let loss_x = |v: &[f64]| loss_with(&|conv| conv.x = v.to_vec());
    let loss_w = |v: &[f64]| loss_with(&|conv| conv.w = v.to_vec());
    let loss_b = |v: &[f64]| loss_with(&|conv| conv.b = Some(v.to_vec()));
    assert_finite_differences("conv2d reference dx", &loss_x, &base.x, &dx);
    assert_finite_differences("conv2d reference dw", &loss_w, &base.w, &dw);
    assert_finite_differences(
        "conv2d reference db",
        &loss_b,
        base.b.as_ref().unwrap(),
        &db,
    );

    let make = |x: Vec<f64>, w: Vec<f64>, b: Vec<f64>| ConvTranspose {
        x,
        x_dims: [2, 3, 3, 4],
        w,
        w_dims: [3, 2, 3, 2],
        b: Some(b),
        stride: [2, 3],
        padding: [1, 0],
    };
    let mut rg = rng(9);
    let (x0, w0, b0) = (random(&mut rg, 72), random(&mut rg, 36), random(&mut rg, 2));
    let t = make(x0.clone(), w0.clone(), b0.clone());
    let dy = random(&mut rg, t.y_dims().iter().product());
    let (dx, dw, db) = t.backward(&dy);
    let lx = |x: &[f64]| dot(&dy, &make(x.to_vec(), w0.clone(), b0.clone()).forward());
    let lw = |w: &[f64]| dot(&dy, &make(x0.clone(), w.to_vec(), b0.clone()).forward());
    let lb = |b: &[f64]| dot(&dy, &make(x0.clone(), w0.clone(), b.to_vec()).forward());
    assert_finite_differences("conv_transpose2d reference dx", &lx, &x0, &dx);
    assert_finite_differences("conv_transpose2d reference dw", &lw, &w0, &dw);
    assert_finite_differences("conv_transpose2d reference db", &lb, &b0, &db);
}

#[test]
fn conv2d_rejects_mismatched_shapes() {
    let gpu = gpu();
    let x = wgnn::Tensor::zeros(gpu, &[1, 3, 4, 4]);
    let w = wgnn::Tensor::zeros(gpu, &[2, 4, 3, 3]);
    let err = conv2d::conv2d(gpu, &x, &w, None, Conv2dArgs::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expects 4 input channels"), "{err}");
    let big = wgnn::Tensor::zeros(gpu, &[2, 3, 5, 5]);
    let err = conv2d::conv2d(gpu, &x, &big, None, Conv2dArgs::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than the padded input"), "{err}");
}
