//! SGD and Adam updates against PyTorch's formulas in f64, over several steps.

use wgnn::Tensor;
use wgnn::ops::optim::{self, AdamConfig, SgdConfig};

use crate::TOL;
use crate::common::*;

/// Reference SGD (torch.optim.SGD, dampening 0): returns the weights and momentum buffer after
/// the given gradients.
fn sgd_reference(w: &[f64], grads: &[Vec<f64>], cfg: SgdConfig) -> (Vec<f64>, Vec<f64>) {
    let (lr, mu, wd) = (
        f64::from(cfg.lr),
        f64::from(cfg.momentum),
        f64::from(cfg.weight_decay),
    );
    let mut w = w.to_vec();
    let mut buf: Option<Vec<f64>> = None;
    for g in grads {
        let d: Vec<f64> = g.iter().zip(&w).map(|(g, w)| g + wd * w).collect();
        let step = if mu == 0.0 {
            d
        } else {
            let b = match buf {
                None => d,
                Some(b) => b.iter().zip(&d).map(|(b, d)| mu * b + d).collect(),
            };
            buf = Some(b.clone());
            b
        };
        for (w, s) in w.iter_mut().zip(&step) {
            *w -= lr * s;
        }
    }
    (w.clone(), buf.unwrap_or_else(|| vec![0.0; w.len()]))
}

fn adam_reference(w: &[f64], grads: &[Vec<f64>], cfg: AdamConfig) -> Vec<f64> {
    let (b1, b2) = (f64::from(cfg.beta1), f64::from(cfg.beta2));
    let mut w = w.to_vec();
    let (mut m, mut v) = (vec![0.0; w.len()], vec![0.0; w.len()]);
    for (t, g) in grads.iter().enumerate() {
        let t = t as i32 + 1;
        for i in 0..w.len() {
            let g = g[i] + f64::from(cfg.weight_decay) * w[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let m_hat = m[i] / (1.0 - b1.powi(t));
            let v_hat = v[i] / (1.0 - b2.powi(t));
            w[i] -= f64::from(cfg.lr) * m_hat / (v_hat.sqrt() + f64::from(cfg.eps));
        }
    }
    w
}

/// Relative error of the change from w0, which is much smaller than w itself.
fn change_err(w0: &[f64], expected: &[f64], got: &[f64]) -> f64 {
    let want: Vec<f64> = expected.iter().zip(w0).map(|(a, b)| a - b).collect();
    let have: Vec<f64> = got.iter().zip(w0).map(|(a, b)| a - b).collect();
    rel_err(&want, &have)
}

#[test]
fn sgd_matches_pytorch_semantics() {
    let gpu = gpu();
    let n = 1037;
    let configs = [
        SgdConfig {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
        },
        SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
        },
        SgdConfig {
            lr: 0.05,
            momentum: 0.5,
            weight_decay: 0.0,
        },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let mut r = rng(1500 + i as u64);
        let w0 = f32_exact(&random(&mut r, n));
        let grads: Vec<Vec<f64>> = (0..4).map(|_| f32_exact(&random(&mut r, n))).collect();
        let (w_ref, buf_ref) = sgd_reference(&w0, &grads, cfg);
        let w = upload(&[n], &w0);
        let buf = Tensor::zeros(gpu, &[n]);
        for (step, g) in grads.iter().enumerate() {
            optim::sgd_step(gpu, &w, &upload(&[n], g), &buf, step == 0, cfg).unwrap();
        }
        let e = change_err(&w0, &w_ref, &download(&w));
        assert!(e <= TOL, "config {i}: weights off by {e:.2e}");
        if cfg.momentum != 0.0 {
            assert_close(
                &format!("config {i}: momentum buffer"),
                &buf_ref,
                &download(&buf),
                TOL,
            );
        }
    }
}

#[test]
fn adam_matches_pytorch_semantics() {
    let gpu = gpu();
    let n = 1037;
    let configs = [
        // torch.optim.Adam's defaults.
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        AdamConfig {
            lr: 0.01,
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
            weight_decay: 1e-2,
        },
    ];
    for (i, cfg) in configs.into_iter().enumerate() {
        let mut r = rng(1600 + i as u64);
        let w0 = f32_exact(&random(&mut r, n));
        let grads: Vec<Vec<f64>> = (0..5).map(|_| f32_exact(&random(&mut r, n))).collect();
        let w_ref = adam_reference(&w0, &grads, cfg);
        let w = upload(&[n], &w0);
        let (m, v) = (Tensor::zeros(gpu, &[n]), Tensor::zeros(gpu, &[n]));
        for (step, g) in grads.iter().enumerate() {
            optim::adam_step(gpu, &w, &upload(&[n], g), &m, &v, step as u64 + 1, cfg).unwrap();
        }
        let e = change_err(&w0, &w_ref, &download(&w));
        assert!(e <= TOL, "config {i}: weights off by {e:.2e}");
    }
}
