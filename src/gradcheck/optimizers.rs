//! The optimisers' checks: a few steps of each kernel against its update formula in f64.

use rand::Rng;
use rand::rngs::StdRng;

use super::relative_error::rel_err;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::optim::{self, AdamConfig, SgdConfig};
use crate::tensor::Tensor;

fn random_vec(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Relative error of the change the optimiser made (w - w0), which is much smaller than w itself.
fn update_err(w0: &[f32], expected: &[f64], got: &[f32]) -> f64 {
    let start = to_f64(w0);
    let want: Vec<f64> = expected.iter().zip(&start).map(|(e, s)| e - s).collect();
    let have: Vec<f64> = to_f64(got).iter().zip(&start).map(|(g, s)| g - s).collect();
    rel_err(&want, &have)
}

/// Three SGD steps with momentum and weight decay, against v = m*v + g + wd*w (v = g + wd*w on the
/// first step), w -= lr*v in f64.
pub(super) fn sgd_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let n = 1000;
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
    };
    let w0 = random_vec(rng, n);
    let weight = Tensor::from_f32(gpu, &[n], &w0)?;
    let velocity = Tensor::zeros(gpu, &[n]);
    let (mut w, mut v) = (to_f64(&w0), vec![0.0f64; n]);
    for step in 0..3 {
        let g = random_vec(rng, n);
        optim::sgd_step(
            gpu,
            &weight,
            &Tensor::from_f32(gpu, &[n], &g)?,
            &velocity,
            step == 0,
            cfg,
        )?;
        for i in 0..n {
            let d = f64::from(g[i]) + f64::from(cfg.weight_decay) * w[i];
            v[i] = if step == 0 {
                d
            } else {
                f64::from(cfg.momentum) * v[i] + d
            };
            w[i] -= f64::from(cfg.lr) * v[i];
        }
    }
    let got_v = to_f64(&velocity.to_f32(gpu)?);
    Ok(update_err(&w0, &w, &weight.to_f32(gpu)?).max(rel_err(&v, &got_v)))
}

/// Three Adam steps with weight decay, against PyTorch's update in f64.
pub(super) fn adam_check(gpu: &Gpu, rng: &mut StdRng) -> Result<f64> {
    let n = 1000;
    let cfg = AdamConfig {
        lr: 0.01,
        weight_decay: 1e-2,
        ..AdamConfig::default()
    };
    let w0 = random_vec(rng, n);
    let weight = Tensor::from_f32(gpu, &[n], &w0)?;
    let (m_t, v_t) = (Tensor::zeros(gpu, &[n]), Tensor::zeros(gpu, &[n]));
    let (mut w, mut m, mut v) = (to_f64(&w0), vec![0.0f64; n], vec![0.0f64; n]);
    let (b1, b2) = (f64::from(cfg.beta1), f64::from(cfg.beta2));
    for step in 1..=3 {
        let g = random_vec(rng, n);
        optim::adam_step(
            gpu,
            &weight,
            &Tensor::from_f32(gpu, &[n], &g)?,
            &m_t,
            &v_t,
            step,
            cfg,
        )?;
        for i in 0..n {
            let g = f64::from(g[i]) + f64::from(cfg.weight_decay) * w[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let bias1 = 1.0 - b1.powi(step as i32);
            let bias2 = 1.0 - b2.powi(step as i32);
            w[i] -= f64::from(cfg.lr) / bias1 * m[i]
                / (v[i].sqrt() / bias2.sqrt() + f64::from(cfg.eps));
        }
    }
    Ok(update_err(&w0, &w, &weight.to_f32(gpu)?))
}
