//! matmul: linear, y = x W^T + b, and its three gradients.

use wgnn::ops::matmul;

use crate::TOL;
use crate::common::*;
use crate::reference;

#[test]
fn linear_matches_reference() {
    let gpu = gpu();
    // [m, k, n]: sizes off every 4-wide block, a single row, VGG's classifier shape on a small batch,
    // and multiples of 4 and 8 (every product on the 8 x 8 vec4 kernel, with a partial block).
    for (i, &[m, k, n]) in [
        [5, 7, 3],
        [1, 25, 10],
        [33, 129, 17],
        [4, 25088, 10],
        [2, 3, 1],
        [6, 12, 20],
    ]
    .iter()
    .enumerate()
    {
        let mut r = rng(1300 + i as u64);
        let x = f32_exact(&random(&mut r, m * k));
        let w = f32_exact(&random(&mut r, n * k));
        let b = f32_exact(&random(&mut r, n));
        let (xt, wt, bt) = (upload(&[m, k], &x), upload(&[n, k], &w), upload(&[n], &b));
        let y = matmul::linear(gpu, &xt, &wt, Some(&bt)).unwrap();
        assert_close(
            &format!("case {i}: linear y"),
            &reference::linear(&x, &w, Some(&b), [m, k, n]),
            &download(&y),
            TOL,
        );
        let y_nobias = matmul::linear(gpu, &xt, &wt, None).unwrap();
        assert_close(
            &format!("case {i}: linear y without bias"),
            &reference::linear(&x, &w, None, [m, k, n]),
            &download(&y_nobias),
            TOL,
        );
        let dy = f32_exact(&random(&mut r, m * n));
        let dyt = upload(&[m, n], &dy);
        let expected = reference::linear_backward(&x, &w, &dy, [m, k, n]);
        let dx = matmul::linear_input_grad(gpu, &dyt, &wt).unwrap();
        let dw = matmul::linear_weight_grad(gpu, &xt, &dyt).unwrap();
        let db = matmul::linear_bias_grad(gpu, &dyt).unwrap();
        let what = format!("case {i}: linear");
        assert_grads(gpu, &what, expected, [&dx, &dw, &db]);
    }
}

#[test]
fn linear_reference_matches_finite_differences() {
    let [m, k, n] = [3, 5, 4];
    let mut r = rng(14);
    let (x, w, b, dy) = (
        random(&mut r, m * k),
        random(&mut r, n * k),
        random(&mut r, n),
        random(&mut r, m * n),
    );
    let (dx, dw, db) = reference::linear_backward(&x, &w, &dy, [m, k, n]);
    let lx = |v: &[f64]| dot(&dy, &reference::linear(v, &w, Some(&b), [m, k, n]));
    let lw = |v: &[f64]| dot(&dy, &reference::linear(&x, v, Some(&b), [m, k, n]));
    let lb = |v: &[f64]| dot(&dy, &reference::linear(&x, &w, Some(v), [m, k, n]));
    assert_finite_differences("linear reference dx", &lx, &x, &dx);
    assert_finite_differences("linear reference dw", &lw, &w, &dw);
    assert_finite_differences("linear reference db", &lb, &b, &db);
}
