//! Shared by the kernel tests: the GPU, seeded random data, batch_norm2d's parameters, and
//! relative-error comparisons against the references and finite differences.

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wgnn::ops::batch_norm::{BatchNormParams, RunningStats};
use wgnn::{Gpu, Tensor};

use crate::{REF_FD_TOL, TOL};

/// The device every kernel test runs on (`options()` of the test binary). A missing adapter fails
/// the tests (never skips them).
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&crate::options()).unwrap_or_else(|e| {
            panic!(
                "GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)"
            )
        })
    })
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn random(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Rounds to f32 (what the GPU gets) and back, so the reference sees exactly the GPU's inputs.
pub fn as_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn f32_exact(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x as f32)).collect()
}

pub fn upload(shape: &[usize], v: &[f64]) -> Tensor {
    upload_to(gpu(), shape, v)
}

pub fn upload_to(gpu: &Gpu, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f32(gpu, shape, &as_f32(v)).unwrap()
}

pub fn download(t: &Tensor) -> Vec<f64> {
    download_from(gpu(), t)
}

pub fn download_from(gpu: &Gpu, t: &Tensor) -> Vec<f64> {
    t.to_f32(gpu)
        .unwrap()
        .iter()
        .map(|&x| f64::from(x))
        .collect()
}

/// batch_norm2d's parameters with PyTorch's default momentum (0.1) and eps (1e-5), as the
/// kernel tests' references have them, without a fused ReLU.
pub fn batch_norm_params<'a>(
    gamma: &'a Tensor,
    beta: &'a Tensor,
    mean: &'a Tensor,
    var: &'a Tensor,
) -> BatchNormParams<'a> {
    BatchNormParams {
        gamma,
        beta,
        running: RunningStats {
            mean,
            var,
            momentum: 0.1,
            eps: 1e-5,
        },
        relu: false,
    }
}

/// ||value - reference|| / ||reference||.
pub fn rel_err(reference: &[f64], value: &[f64]) -> f64 {
    assert_eq!(
        reference.len(),
        value.len(),
        "compared arrays differ in length"
    );
    wgnn::gradcheck::rel_err(reference, value)
}

/// Asserts a relative-norm error below `tol`, naming what was compared.
#[track_caller]
pub fn assert_close(what: &str, reference: &[f64], value: &[f64], tol: f64) {
    let e = rel_err(reference, value);
    assert!(e <= tol, "{what}: relative error {e:.3e} exceeds {tol:.0e}");
}

/// Asserts the gradients `values` (dx, dw, db, on `gpu`) of `what` against the reference's
/// `(dx, dw, db)`, each within TOL.
#[track_caller]
pub fn assert_grads(
    gpu: &Gpu,
    what: &str,
    reference: (Vec<f64>, Vec<f64>, Vec<f64>),
    values: [&Tensor; 3],
) {
    let (dx, dw, db) = reference;
    let named = [("dx", dx), ("dw", dw), ("db", db)];
    for ((name, reference), value) in named.into_iter().zip(values) {
        let value = download_from(gpu, value);
        assert_close(&format!("{what} {name}"), &reference, &value, TOL);
    }
}

/// Asserts that `grad`, a reference's gradient of the scalar `loss` at `x`, matches central
/// finite differences within REF_FD_TOL, naming what was compared.
#[track_caller]
pub fn assert_finite_differences(
    what: &str,
    loss: &dyn Fn(&[f64]) -> f64,
    x: &[f64],
    grad: &[f64],
) {
    assert_close(what, &numeric_grad(loss, x), grad, REF_FD_TOL);
}

/// Central finite differences of a scalar function of f64 inputs.
fn numeric_grad(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = x[i];
            x[i] = orig + h;
            let plus = f(&x);
            x[i] = orig - h;
            let minus = f(&x);
            x[i] = orig;
            (plus - minus) / (2.0 * h)
        })
        .collect()
}

/// sum(r * y).
pub fn dot(r: &[f64], y: &[f64]) -> f64 {
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}
