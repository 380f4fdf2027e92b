//! batch_norm2d in training and evaluation mode: outputs, running statistics, gradients.

use wgnn::ops::batch_norm;
use wgnn::{Gpu, Tensor};

use crate::TOL;
use crate::common::*;
use crate::reference::BatchNorm;

/// C = 1 and 3, 1x1 planes (VGG's last block on 32x32 inputs), batch 1, planes larger than a
/// workgroup, non-square planes, planes of several partial-sum segments (1024 values each) read
/// as scalars (33x35) and as vec4s (40x30), planes of 1 and of 15 vec4s (the vec4 kernels take
/// PLANE_VEC4S = 4 a plane at a time: a plane's last invocation takes fewer), and x and dy of 4608
/// vec4s (more than a row of an operand texture).
const SHAPES: [[usize; 4]; 9] = [
    [3, 4, 5, 3],
    [1, 3, 7, 1],
    [2, 1, 4, 4],
    [8, 5, 1, 1],
    [4, 6, 2, 2],
    [2, 3, 33, 35],
    [2, 2, 40, 30],
    [3, 2, 6, 10],
    [2, 3, 64, 48],
];

fn random_bn(dims: [usize; 4], training: bool, seed: u64) -> BatchNorm {
    let mut r = rng(seed);
    let c = dims[1];
    // An offset and scale per tensor, so the statistics are not trivially 0 and 1.
    let x: Vec<f64> = random(&mut r, dims.iter().product())
        .iter()
        .map(|v| 3.0 * v + 0.5)
        .collect();
    BatchNorm {
        x: f32_exact(&x),
        dims,
        gamma: f32_exact(&random(&mut r, c)),
        beta: f32_exact(&random(&mut r, c)),
        running_mean: f32_exact(&random(&mut r, c)),
        running_var: f32_exact(
            &random(&mut r, c)
                .iter()
                .map(|v| v.abs() + 0.5)
                .collect::<Vec<_>>(),
        ),
        training,
        momentum: 0.1,
        eps: 1e-5,
    }
}

/// Forward (y, running statistics) and backward against the reference on `gpu`, in one mode,
/// with or without the fused ReLU.
fn check_mode_on(gpu: &Gpu, training: bool, relu: bool) {
    let upload = |shape: &[usize], v: &[f64]| upload_to(gpu, shape, v);
    let download = |t: &Tensor| download_from(gpu, t);
    for (i, &dims) in SHAPES.iter().enumerate() {
        let r = random_bn(dims, training, 400 + i as u64);
        let c = dims[1];
        let x = upload(&dims, &r.x);
        let (gamma, beta) = (upload(&[c], &r.gamma), upload(&[c], &r.beta));
        let (rm, rv) = (upload(&[c], &r.running_mean), upload(&[c], &r.running_var));
        let p = batch_norm::BatchNormParams {
            relu,
            ..batch_norm_params(&gamma, &beta, &rm, &rv)
        };
        let out = if training {
            batch_norm::batch_norm2d_train(gpu, &x, &p).unwrap()
        } else {
            batch_norm::batch_norm2d_eval(gpu, &x, &p).unwrap()
        };
        let mode = format!(
            "{}{} case {i}",
            if training { "train" } else { "eval" },
            if relu { " + relu" } else { "" }
        );
        let y_ref = if relu { r.forward_relu() } else { r.forward() };
        assert_close(&format!("{mode}: y"), &y_ref, &download(&out.y), TOL);
        let (rm_ref, rv_ref) = r.updated_running();
        assert_close(&format!("{mode}: running_mean"), &rm_ref, &download(&rm), TOL);
        assert_close(&format!("{mode}: running_var"), &rv_ref, &download(&rv), TOL);

        let dy_host = f32_exact(&random(&mut rng(500 + i as u64), r.x.len()));
        let dy = upload(&dims, &dy_host);
        let saved = batch_norm::BatchNormSaved {
            x: &x,
            gamma: &gamma,
            stats: &out.stats,
            training,
            relu_output: relu.then_some(&out.y),
        };
        let g = batch_norm::batch_norm2d_backward(gpu, &saved, &dy).unwrap();
        let (dx, dgamma, dbeta) = if relu {
            r.backward_relu(&dy_host)
        } else {
            r.backward(&dy_host)
        };
        assert_close(&format!("{mode}: dx"), &dx, &download(&g.dx), TOL);
        assert_close(&format!("{mode}: dgamma"), &dgamma, &download(&g.dgamma), TOL);
        assert_close(&format!("{mode}: dbeta"), &dbeta, &download(&g.dbeta), TOL);
    }
}

fn check_mode(training: bool, relu: bool) {
    check_mode_on(gpu(), training, relu);
}

/// Every mode with the ways of reading x and dy this device does not choose (buffers, texture
/// copies, texture copies of at most one row: larger operands fall back to the buffers).
#[test]
fn batch_norm_matches_reference_with_the_other_operand_reads() {
    for options in crate::conv::other_product_blocks() {
        let gpu = Gpu::new(&options).unwrap();
        for (training, relu) in [(true, false), (false, false), (true, true), (false, true)] {
            check_mode_on(&gpu, training, relu);
        }
    }
}

#[test]
fn batch_norm_train_matches_reference() {
    check_mode(true, false);
}

#[test]
fn batch_norm_eval_matches_reference() {
    check_mode(false, false);
}

#[test]
fn batch_norm_relu_train_matches_reference() {
    check_mode(true, true);
}

#[test]
fn batch_norm_relu_eval_matches_reference() {
    check_mode(false, true);
}

#[test]
fn batch_norm_reference_matches_finite_differences() {
    for training in [true, false] {
        let base = random_bn([3, 2, 3, 2], training, 9);
        let dy = random(&mut rng(10), base.x.len());
        let (dx, dgamma, dbeta) = base.backward(&dy);
        let with = |f: &dyn Fn(&mut BatchNorm)| {
            let mut b = random_bn([3, 2, 3, 2], training, 9);
            f(&mut b);
            dot(&dy, &b.forward())
        };
        let lx = |v: &[f64]| with(&|b| b.x = v.to_vec());
        let lg = |v: &[f64]| with(&|b| b.gamma = v.to_vec());
        let lb = |v: &[f64]| with(&|b| b.beta = v.to_vec());
        assert_finite_differences("bn reference dx", &lx, &base.x, &dx);
        assert_finite_differences("bn reference dgamma", &lg, &base.gamma, &dgamma);
        assert_finite_differences("bn reference dbeta", &lb, &base.beta, &dbeta);
    }
}

#[test]
fn batch_norm_training_needs_two_values_per_channel() {
    let gpu = gpu();
    let x = wgnn::Tensor::zeros(gpu, &[1, 2, 1, 1]);
    let ones = wgnn::Tensor::zeros(gpu, &[2]);
    let p = batch_norm_params(&ones, &ones, &ones, &ones);
    let err = batch_norm::batch_norm2d_train(gpu, &x, &p)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("more than one value per channel"), "{err}");
}
