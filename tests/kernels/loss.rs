//! Softmax cross-entropy with mean reduction and ignore index.

use wgnn::Tensor;
use wgnn::ops::loss;

use crate::TOL;
use crate::common::*;
use crate::reference;

fn check(shape: &[usize], ignore: Option<i32>, scale: f64, seed: u64) {
    let gpu = gpu();
    let (n, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    let mut r = rng(seed);
    let logits: Vec<f64> = f32_exact(
        &random(&mut r, n * c * s)
            .iter()
            .map(|v| v * scale)
            .collect::<Vec<_>>(),
    );
    let targets: Vec<i32> = (0..n * s)
        .map(|i| match ignore {
            Some(ig) if i % 5 == 2 => ig,
            _ => (i * 7 + 3) as i32 % c as i32,
        })
        .collect();
    let target_shape: Vec<usize> = [n].into_iter().chain(shape[2..].iter().copied()).collect();
    let lt = upload(shape, &logits);
    let tt = Tensor::from_i32(gpu, &target_shape, &targets).unwrap();
    let out = loss::cross_entropy(gpu, &lt, &tt, ignore).unwrap();
    let (loss_ref, grad_ref) = reference::cross_entropy(&logits, &targets, [n, c, s], ignore);
    let label = format!("logits {shape:?} ignore {ignore:?} scale {scale}");
    assert_close(
        &format!("{label}: loss"),
        &[loss_ref],
        &download(&out.loss),
        TOL,
    );
    let dloss = upload(&[1], &[0.75]);
    let grad = loss::cross_entropy_backward(gpu, &lt, &tt, ignore, &out, &dloss).unwrap();
    let grad_ref: Vec<f64> = grad_ref.iter().map(|g| g * 0.75).collect();
    assert_close(
        &format!("{label}: gradient"),
        &grad_ref,
        &download(&grad),
        TOL,
    );
}

#[test]
fn cross_entropy_matches_reference() {
    check(&[6, 10], None, 1.0, 1400);
    check(&[1, 50], None, 2.0, 1401);
    check(&[6, 10], Some(-100), 1.0, 1402);
    check(&[2, 7, 5, 3], Some(255), 1.0, 1403);
    check(&[3, 7, 16, 16], None, 1.0, 1404);
    check(&[2, 7, 4, 5], Some(6), 1.0, 1405);
}

/// Logits of +-100 overflow a naive exp; the log-sum-exp must stay finite and exact.
#[test]
fn cross_entropy_is_stable_for_large_logits() {
    check(&[4, 10], None, 100.0, 1406);
    check(&[2, 7, 3, 3], Some(255), 100.0, 1407);
}

/// Every position ignored: PyTorch's mean over nothing is NaN.
#[test]
fn cross_entropy_with_everything_ignored_is_nan() {
    let gpu = gpu();
    let logits = Tensor::zeros(gpu, &[2, 3]);
    let targets = Tensor::from_i32(gpu, &[2], &[-100, -100]).unwrap();
    let out = loss::cross_entropy(gpu, &logits, &targets, Some(-100)).unwrap();
    assert!(out.loss.to_f32(gpu).unwrap()[0].is_nan());
}

#[test]
fn cross_entropy_reference_matches_finite_differences() {
    let mut r = rng(15);
    let logits = random(&mut r, 2 * 4 * 3);
    let targets = [0, 3, 255, 1, 2, 2];
    let (_, grad) = reference::cross_entropy(&logits, &targets, [2, 4, 3], Some(255));
    let loss = |v: &[f64]| reference::cross_entropy(v, &targets, [2, 4, 3], Some(255)).0;
    assert_finite_differences("cross-entropy reference gradient", &loss, &logits, &grad);
}

#[test]
fn cross_entropy_rejects_mismatched_targets() {
    let gpu = gpu();
    let logits = Tensor::zeros(gpu, &[2, 3, 4, 4]);
    let targets = Tensor::from_i32(gpu, &[2, 4, 5], &[0; 40]).unwrap();
    let err = loss::cross_entropy(gpu, &logits, &targets, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("targets must be i32 [2, 4, 4]"), "{err}");
}
