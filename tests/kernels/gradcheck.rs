//! The library's gradient checks (the ones `wgnn gradcheck` runs) pass on this device, and can fail.

use wgnn::gradcheck::{self, CHECKS, FD_TOLERANCE};
use wgnn::ops::elementwise;

use crate::common::*;

#[test]
fn every_backward_kernel_passes_finite_differences() {
    let gpu = gpu();
    let failures: Vec<String> = CHECKS
        .iter()
        .map(|c| gradcheck::run(gpu, c.name).unwrap())
        .filter(|r| !r.passed())
        .map(|r| format!("{}: {:.2e} > {:.0e}", r.name, r.max_rel_err, r.tolerance))
        .collect();
    assert!(failures.is_empty(), "gradient checks failed: {failures:?}");
}

/// A wrong backward (relu's gradient passed through unmasked) must be caught.
#[test]
fn finite_differences_catch_a_wrong_gradient() {
    let gpu = gpu();
    let mut r = rng(1700);
    let mut x = gradcheck::Input::random(&mut r, &[2, 3, 4, 5]);
    let err = gradcheck::finite_difference(
        gpu,
        &mut r,
        std::slice::from_mut(&mut x),
        &|gpu, t| elementwise::relu(gpu, &t[0]),
        &|_, _, dy| Ok(vec![dy.clone()]),
    )
    .unwrap();
    assert!(
        err > FD_TOLERANCE,
        "an unmasked relu gradient passed with error {err:.2e}"
    );
}
