//! Device limits forced small: tensors larger than one storage binding are split into chunks, and
//! workgroup grids are folded into three dimensions, without changing any result. The workgroup
//! size is also forced off its default, so no kernel may depend on it.

use std::sync::OnceLock;

use wgnn::ops::batch_norm;
use wgnn::ops::conv2d::{self, Conv2dArgs};
use wgnn::ops::pool::{self, MaxPoolArgs};
use wgnn::ops::{conv_transpose2d, elementwise, loss, matmul, optim, reduce};
use wgnn::{Gpu, GpuOptions, Tensor};

use crate::TOL;
use crate::common::*;
use crate::reference::{self, BatchNorm, Conv, ConvTranspose, Convolution, Window};

/// 1 KiB bindings (249 floats after alignment slack), 3 workgroups per dimension, 32 invocations
/// per workgroup.
const BINDING: u64 = 1024;
const WORKGROUPS: u32 = 3;
const WORKGROUP_SIZE: u32 = 32;

fn small() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&GpuOptions {
            max_binding_bytes: Some(BINDING),
            max_workgroups_per_dim: Some(WORKGROUPS),
            workgroup_size: Some(WORKGROUP_SIZE),
            ..crate::options()
        })
        .expect("GPU tests need an adapter (on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
    })
}

fn up(shape: &[usize], v: &[f64]) -> Tensor {
    upload_to(small(), shape, v)
}

fn down(t: &Tensor) -> Vec<f64> {
    download_from(small(), t)
}

#[test]
fn limits_are_forced() {
    let l = small().plan_limits();
    assert_eq!(
        (l.max_binding_bytes, l.max_workgroups_per_dim),
        (BINDING, WORKGROUPS)
    );
    assert_eq!(small().tuning().workgroup_size, WORKGROUP_SIZE);
}

#[test]
fn conv_and_conv_transpose_split_by_batch() {
    let g = small();
    let mut r = rng(1800);
    // 5 items of 2*6*5 = 60 input floats: 300 in all, more than one binding holds.
    let c = Conv {
        x: f32_exact(&random(&mut r, 300)),
        x_dims: [5, 2, 6, 5],
        w: f32_exact(&random(&mut r, 54)),
        w_dims: [3, 2, 3, 3],
        b: Some(f32_exact(&random(&mut r, 3))),
        win: Window {
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        },
    };
    let args = Conv2dArgs {
        stride: [1, 1],
        padding: [1, 1],
    };
    let (x, w, b) = (
        up(&c.x_dims, &c.x),
        up(&c.w_dims, &c.w),
        up(&[3], c.b.as_ref().unwrap()),
    );
    let y = conv2d::conv2d(g, &x, &w, Some(&b), args).unwrap();
    assert_close("chunked conv2d y", &c.forward(), &down(&y), TOL);
    let dy_host = f32_exact(&random(&mut r, y.numel()));
    let dy = up(y.shape(), &dy_host);
    let expected = c.backward(&dy_host);
    let dx = conv2d::conv2d_input_grad(g, &dy, &w, [6, 5], args).unwrap();
    let dw = conv2d::conv2d_weight_grad(g, &x, &dy, [3, 3], args).unwrap();
    let db = reduce::channel_sums(g, &dy).unwrap();
    assert_grads(g, "chunked conv2d", expected, [&dx, &dw, &db]);

    let t = ConvTranspose {
        x: f32_exact(&random(&mut r, 4 * 3 * 3 * 4)),
        x_dims: [4, 3, 3, 4],
        w: f32_exact(&random(&mut r, 3 * 2 * 2 * 2)),
        w_dims: [3, 2, 2, 2],
        b: Some(f32_exact(&random(&mut r, 2))),
        stride: [2, 2],
        padding: [0, 0],
    };
    let (x, w, b) = (
        up(&t.x_dims, &t.x),
        up(&t.w_dims, &t.w),
        up(&[2], t.b.as_ref().unwrap()),
    );
    let y = conv_transpose2d::conv_transpose2d(g, &x, &w, Some(&b), args_t()).unwrap();
    assert_close("chunked conv_transpose2d y", &t.forward(), &down(&y), TOL);
    let dy_host = f32_exact(&random(&mut r, y.numel()));
    let dy = up(y.shape(), &dy_host);
    let (dx, dw, _) = t.backward(&dy_host);
    assert_close(
        "chunked conv_transpose2d dx",
        &dx,
        &down(&conv_transpose2d::conv_transpose2d_input_grad(g, &dy, &w, args_t()).unwrap()),
        TOL,
    );
    assert_close(
        "chunked conv_transpose2d dw",
        &dw,
        &down(
            &conv_transpose2d::conv_transpose2d_weight_grad(g, &x, &dy, [2, 2], args_t()).unwrap(),
        ),
        TOL,
    );
}

fn args_t() -> Conv2dArgs {
    Conv2dArgs {
        stride: [2, 2],
        padding: [0, 0],
    }
}

#[test]
fn batch_norm_splits_by_batch() {
    let g = small();
    let mut r = rng(1900);
    let dims = [6, 3, 5, 4];
    let bn = BatchNorm {
        x: f32_exact(&random(&mut r, 360)),
        dims,
        gamma: f32_exact(&random(&mut r, 3)),
        beta: f32_exact(&random(&mut r, 3)),
        running_mean: vec![0.0; 3],
        running_var: vec![1.0; 3],
        training: true,
        momentum: 0.1,
        eps: 1e-5,
    };
    let dy_host = f32_exact(&random(&mut r, 360));
    // With the fused ReLU the output binding's chunks are shifted too.
    for relu in [false, true] {
        let (x, gamma, beta) = (up(&dims, &bn.x), up(&[3], &bn.gamma), up(&[3], &bn.beta));
        let (rm, rv) = (up(&[3], &bn.running_mean), up(&[3], &bn.running_var));
        let p = batch_norm::BatchNormParams {
            relu,
            ..batch_norm_params(&gamma, &beta, &rm, &rv)
        };
        let out = batch_norm::batch_norm2d_train(g, &x, &p).unwrap();
        let y_ref = if relu { bn.forward_relu() } else { bn.forward() };
        assert_close(&format!("chunked bn y, relu {relu}"), &y_ref, &down(&out.y), TOL);
        assert_close(
            "chunked bn running_var",
            &bn.updated_running().1,
            &down(&rv),
            TOL,
        );
        let saved = batch_norm::BatchNormSaved {
            x: &x,
            gamma: &gamma,
            stats: &out.stats,
            training: true,
            relu_output: relu.then_some(&out.y),
        };
        let grads = batch_norm::batch_norm2d_backward(g, &saved, &up(&dims, &dy_host)).unwrap();
        let (dx, dgamma, _) = if relu {
            bn.backward_relu(&dy_host)
        } else {
            bn.backward(&dy_host)
        };
        assert_close(&format!("chunked bn dx, relu {relu}"), &dx, &down(&grads.dx), TOL);
        assert_close(
            &format!("chunked bn dgamma, relu {relu}"),
            &dgamma,
            &down(&grads.dgamma),
            TOL,
        );
    }
}

#[test]
fn pooling_elementwise_linear_loss_and_optimisers_split() {
    let g = small();
    let mut r = rng(2000);
    let dims = [3, 4, 6, 5];
    let x_host = f32_exact(&random(&mut r, 360));
    let x = up(&dims, &x_host);

    let win = Window {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    let (y_ref, arg_ref, y_dims) = reference::max_pool(&x_host, dims, win);
    let out = pool::max_pool2d(g, &x, MaxPoolArgs::square(2)).unwrap();
    assert_close("chunked max_pool y", &y_ref, &down(&out.y), 0.0);
    let dy_host = f32_exact(&random(&mut r, y_ref.len()));
    let dx = pool::max_pool2d_backward(
        g,
        &up(&y_dims, &dy_host),
        &out.argmax,
        &dims,
        MaxPoolArgs::square(2),
    )
    .unwrap();
    assert_close(
        "chunked max_pool dx",
        &reference::max_pool_backward(&dy_host, &arg_ref, dims, y_dims),
        &down(&dx),
        TOL,
    );
    let avg = pool::adaptive_avg_pool2d(g, &x, [7, 3]).unwrap();
    assert_close(
        "chunked adaptive pool",
        &reference::adaptive_avg_pool(&x_host, dims, [7, 3]),
        &down(&avg),
        TOL,
    );

    let relu = elementwise::relu(g, &x).unwrap();
    let relu_ref: Vec<f64> = x_host.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(down(&relu), relu_ref, "chunked relu");
    let drop = elementwise::dropout2d(g, &x, 0.5, 9).unwrap();
    let mask = down(&drop.mask);
    let drop_ref: Vec<f64> = x_host
        .iter()
        .enumerate()
        .map(|(i, v)| f64::from((v * mask[i / 30]) as f32))
        .collect();
    assert_eq!(down(&drop.y), drop_ref, "chunked dropout2d");

    let [m, k, n] = [20, 30, 7];
    let (a, w) = (
        f32_exact(&random(&mut r, m * k)),
        f32_exact(&random(&mut r, n * k)),
    );
    let chunked_linear = |what: &str, [a, w]: [&[f64]; 2], k: usize, b: Option<&[f64]>| {
        let bias = b.map(|b| up(&[n], b));
        let y = matmul::linear(g, &up(&[m, k], a), &up(&[n, k], w), bias.as_ref()).unwrap();
        assert_close(what, &reference::linear(a, w, b, [m, k, n]), &down(&y), TOL);
    };
    chunked_linear("chunked linear", [&a, &w], k, None);
    // With a bias, the row chunks run matmul_vec4_bias (its own rng: the inputs below stay as they were).
    let b = f32_exact(&random(&mut rng(2001), n));
    chunked_linear("chunked linear with bias", [&a, &w], k, Some(&b));
    // Rows of whole vec4s (k a multiple of 4): the GPU family reads the chunks' rows of A as vec4s
    // (own rngs: the inputs below stay as they were).
    let k4 = 28;
    let (a4, w4) = (
        f32_exact(&random(&mut rng(2002), m * k4)),
        f32_exact(&random(&mut rng(2003), n * k4)),
    );
    chunked_linear("chunked linear, rows of whole vec4s", [&a4, &w4], k4, None);
    let dy = f32_exact(&random(&mut r, m * n));
    let (_, dw, db) = reference::linear_backward(&a, &w, &dy, [m, k, n]);
    assert_close(
        "chunked linear dw",
        &dw,
        &down(&matmul::linear_weight_grad(g, &up(&[m, k], &a), &up(&[m, n], &dy)).unwrap()),
        TOL,
    );
    assert_close(
        "chunked linear db",
        &db,
        &down(&matmul::linear_bias_grad(g, &up(&[m, n], &dy)).unwrap()),
        TOL,
    );

    let targets: Vec<i32> = (0..3 * 30)
        .map(|i| if i % 7 == 0 { 255 } else { i % 4 })
        .collect();
    let tt = Tensor::from_i32(g, &[3, 6, 5], &targets).unwrap();
    let ce = loss::cross_entropy(g, &x, &tt, Some(255)).unwrap();
    let (loss_ref, grad_ref) = reference::cross_entropy(&x_host, &targets, [3, 4, 30], Some(255));
    assert_close("chunked cross-entropy", &[loss_ref], &down(&ce.loss), TOL);
    let grad = loss::cross_entropy_backward(g, &x, &tt, Some(255), &ce, &up(&[1], &[1.0])).unwrap();
    assert_close(
        "chunked cross-entropy gradient",
        &grad_ref,
        &down(&grad),
        TOL,
    );

    let w0 = f32_exact(&random(&mut r, 700));
    let grad_host = f32_exact(&random(&mut r, 700));
    let wt = up(&[700], &w0);
    let cfg = optim::SgdConfig {
        lr: 0.5,
        momentum: 0.0,
        weight_decay: 0.0,
    };
    optim::sgd_step(
        g,
        &wt,
        &up(&[700], &grad_host),
        &Tensor::zeros(g, &[700]),
        true,
        cfg,
    )
    .unwrap();
    let w_ref: Vec<f64> = w0
        .iter()
        .zip(&grad_host)
        .map(|(w, g)| f64::from((w - 0.5 * g) as f32))
        .collect();
    assert_close("chunked sgd", &w_ref, &down(&wt), 1e-7);
}

/// One batch item larger than a binding cannot be split by batch: a clear error names the tensor.
#[test]
fn an_item_larger_than_a_binding_is_a_clear_error() {
    let g = small();
    let x = Tensor::zeros(g, &[1, 3, 10, 10]);
    let w = Tensor::zeros(g, &[2, 3, 3, 3]);
    let err = conv2d::conv2d(g, &x, &w, None, Conv2dArgs::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("one batch item of conv2d input needs 1200 bytes") && err.contains("1024"),
        "{err}"
    );
}
