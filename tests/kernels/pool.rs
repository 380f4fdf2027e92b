//! max_pool2d (with PyTorch's tie rule) and adaptive_avg_pool2d, forward and backward.

use wgnn::ops::pool::{self, MaxPoolArgs};

use crate::TOL;
use crate::common::*;
use crate::reference::{self, Window};

/// VGG's 2/2, odd sizes (floor), overlapping windows with
/// padding, stride larger than the kernel, non-square windows, C = 1, and 2/2 on rows of whole
/// vec4s (the vec4 kernels) with an odd row count.
/// (input, kernel, stride, padding).
type MaxCase = ([usize; 4], [usize; 2], [usize; 2], [usize; 2]);

const MAX_CASES: [MaxCase; 7] = [
    ([2, 3, 8, 8], [2, 2], [2, 2], [0, 0]),
    ([1, 1, 7, 9], [2, 2], [2, 2], [0, 0]),
    ([2, 3, 9, 7], [3, 3], [2, 2], [1, 1]),
    ([1, 2, 5, 5], [2, 2], [3, 3], [0, 0]),
    ([2, 2, 6, 7], [3, 2], [1, 2], [1, 0]),
    ([4, 3, 2, 2], [2, 2], [2, 2], [0, 0]),
    ([1, 2, 7, 12], [2, 2], [2, 2], [0, 0]),
];

/// MAX_CASES as (input, arguments).
fn max_cases() -> impl Iterator<Item = ([usize; 4], MaxPoolArgs)> {
    MAX_CASES.iter().map(|&(dims, kernel, stride, padding)| {
        let args = MaxPoolArgs {
            kernel,
            stride,
            padding,
        };
        (dims, args)
    })
}

fn check_max_pool(x_host: &[f64], dims: [usize; 4], args: MaxPoolArgs, label: &str) {
    let gpu = gpu();
    let win = Window {
        kernel: args.kernel,
        stride: args.stride,
        padding: args.padding,
    };
    let (y_ref, arg_ref, y_dims) = reference::max_pool(x_host, dims, win);
    let x = upload(&dims, x_host);
    let out = pool::max_pool2d(gpu, &x, args).unwrap();
    assert_eq!(out.y.shape(), y_dims, "{label}: output shape");
    assert_close(
        &format!("{label}: max_pool2d y"),
        &y_ref,
        &download(&out.y),
        0.0,
    );
    assert_eq!(out.argmax.to_i32(gpu).unwrap(), arg_ref, "{label}: argmax");
    let dy_host = f32_exact(&random(&mut rng(600), y_ref.len()));
    let dy = upload(&y_dims, &dy_host);
    let dx = pool::max_pool2d_backward(gpu, &dy, &out.argmax, &dims, args).unwrap();
    let dx_ref = reference::max_pool_backward(&dy_host, &arg_ref, dims, y_dims);
    assert_close(
        &format!("{label}: max_pool2d dx"),
        &dx_ref,
        &download(&dx),
        TOL,
    );
}

#[test]
fn max_pool_matches_reference() {
    for (i, (dims, args)) in max_cases().enumerate() {
        let x = f32_exact(&random(&mut rng(700 + i as u64), dims.iter().product()));
        check_max_pool(&x, dims, args, &format!("case {i}"));
    }
}

/// Inputs full of equal values: the first maximum in the window's row-major order must win, as in
/// PyTorch, and overlapping windows must send each output's gradient to that one element.
#[test]
fn max_pool_ties_resolve_like_pytorch() {
    for (i, (dims, args)) in max_cases().enumerate() {
        let mut r = rng(800 + i as u64);
        let x: Vec<f64> = random(&mut r, dims.iter().product())
            .iter()
            .map(|v| (v * 1.5).round())
            .collect();
        check_max_pool(&x, dims, args, &format!("ties case {i}"));
        check_max_pool(
            &vec![0.0; x.len()],
            dims,
            args,
            &format!("all-equal case {i}"),
        );
    }
}

/// (input, output size): VGG's 1x1 -> 7x7 on 32x32 inputs, shrinking, mixed, non-divisible.
const ADAPTIVE_CASES: [([usize; 4], [usize; 2]); 5] = [
    ([2, 3, 1, 1], [7, 7]),
    ([2, 3, 5, 7], [3, 2]),
    ([1, 2, 4, 4], [7, 7]),
    ([2, 1, 10, 3], [4, 5]),
    ([1, 3, 7, 7], [7, 7]),
];

#[test]
fn adaptive_avg_pool_matches_reference() {
    let gpu = gpu();
    for (i, &(dims, out)) in ADAPTIVE_CASES.iter().enumerate() {
        let mut r = rng(900 + i as u64);
        let x_host = f32_exact(&random(&mut r, dims.iter().product()));
        let x = upload(&dims, &x_host);
        let y = pool::adaptive_avg_pool2d(gpu, &x, out).unwrap();
        assert_eq!(
            y.shape(),
            [dims[0], dims[1], out[0], out[1]],
            "case {i}: shape"
        );
        assert_close(
            &format!("case {i}: adaptive forward"),
            &reference::adaptive_avg_pool(&x_host, dims, out),
            &download(&y),
            TOL,
        );
        let dy_host = f32_exact(&random(&mut r, y.numel()));
        let dx =
            pool::adaptive_avg_pool2d_backward(gpu, &upload(y.shape(), &dy_host), &dims).unwrap();
        assert_close(
            &format!("case {i}: adaptive backward"),
            &reference::adaptive_avg_pool_backward(&dy_host, dims, out),
            &download(&dx),
            TOL,
        );
    }
}

#[test]
fn pool_references_match_finite_differences() {
    let dims = [1, 2, 5, 4];
    let out = [3, 7];
    let x = random(&mut rng(11), 40);
    let dy = random(&mut rng(12), 42);
    let loss = |v: &[f64]| dot(&dy, &reference::adaptive_avg_pool(v, dims, out));
    let dx = reference::adaptive_avg_pool_backward(&dy, dims, out);
    assert_finite_differences("adaptive reference dx", &loss, &x, &dx);

    let win = Window {
        kernel: [3, 2],
        stride: [2, 1],
        padding: [1, 1],
    };
    let (y, arg, yd) = reference::max_pool(&x, dims, win);
    let dy = random(&mut rng(13), y.len());
    let loss = |v: &[f64]| dot(&dy, &reference::max_pool(v, dims, win).0);
    let dx = reference::max_pool_backward(&dy, &arg, dims, yd);
    assert_finite_differences("max_pool reference dx", &loss, &x, &dx);
}

/// PyTorch propagates NaN through max pooling.
#[test]
fn max_pool_propagates_nan() {
    let gpu = gpu();
    let mut x = vec![1.0f32; 16];
    x[5] = f32::NAN;
    let t = wgnn::Tensor::from_f32(gpu, &[1, 1, 4, 4], &x).unwrap();
    let y = pool::max_pool2d(gpu, &t, MaxPoolArgs::square(2))
        .unwrap()
        .y
        .to_f32(gpu)
        .unwrap();
    assert!(y[0].is_nan() && y[1..].iter().all(|&v| v == 1.0), "{y:?}");
}
