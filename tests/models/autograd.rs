//! The tape: gradients of a composite network (skip connection, BN, dropout, pooling, transposed
//! convolution, cross-entropy) against finite differences of the same graph's forward.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use wgnn::autograd::{BatchNormArgs, Graph, Var};
use wgnn::gpu::Gpu;
use wgnn::ops::batch_norm::RunningStats;
use wgnn::ops::conv2d::Conv2dArgs;
use wgnn::ops::pool::MaxPoolArgs;
use wgnn::{Result, Tensor};

use crate::common::gpu;

/// Index of conv1's bias in SHAPES (its gradient is zero: BN follows).
const CONV1_BIAS: usize = 2;

/// Shapes of the inputs: x, conv1 w/b, bn gamma/beta, conv2 w/b, convT w/b.
const SHAPES: [&[usize]; 9] = [
    &[2, 3, 8, 6],
    &[4, 3, 3, 3],
    &[4],
    &[4],
    &[4],
    &[4, 4, 1, 1],
    &[4],
    &[4, 3, 2, 2],
    &[3],
];

/// What the network runs on besides its parameters.
struct Setup {
    targets: Tensor,
    /// BN's running mean and variance.
    stats: [Tensor; 2],
    fused_relu: bool,
}

/// x -> conv3x3 -> BN (batch statistics) -> relu (a pass of its own, or fused into BN's with
/// `fused_relu`) -> maxpool -> (conv1x1 -> dropout2d) + skip -> convT k2 s2 -> cross-entropy over
/// pixels with some ignored.
fn network(g: &Graph, v: &[Var], setup: &Setup) -> Result<Var> {
    let Setup {
        targets,
        stats,
        fused_relu,
    } = setup;
    let same = Conv2dArgs {
        stride: [1, 1],
        padding: [1, 1],
    };
    let h = g.conv2d(&v[0], &v[1], Some(&v[2]), same)?;
    let h = g.batch_norm2d(
        &h,
        &BatchNormArgs {
            gamma: &v[3],
            beta: &v[4],
            running: RunningStats {
                mean: &stats[0],
                var: &stats[1],
                momentum: 0.1,
                eps: 1e-5,
            },
            training: true,
            relu: *fused_relu,
        },
    )?;
    let h = if *fused_relu { h } else { g.relu(&h)? };
    let skip = g.max_pool2d(&h, MaxPoolArgs::square(2))?;
    let branch = g.conv2d(&skip, &v[5], Some(&v[6]), Conv2dArgs::default())?;
    let branch = g.dropout2d(&branch, 0.25, 11)?;
    let h = g.add(&branch, &skip)?;
    let up = Conv2dArgs {
        stride: [2, 2],
        padding: [0, 0],
    };
    let logits = g.conv_transpose2d(&h, &v[7], Some(&v[8]), up)?;
    g.cross_entropy(&logits, targets, Some(255))
}

fn loss(gpu: &Gpu, values: &[Vec<f32>], setup: &Setup) -> Result<(f64, Vec<Vec<f32>>)> {
    let g = Graph::training(gpu)?;
    let vars = values
        .iter()
        .zip(SHAPES)
        .map(|(v, s)| Ok(g.leaf(Tensor::from_f32(gpu, s, v)?)))
        .collect::<Result<Vec<_>>>()?;
    let l = network(&g, &vars, setup)?;
    let value = f64::from(l.value.to_f32(gpu)?[0]);
    let mut grads = g.backward(&l)?;
    let grads = vars
        .iter()
        .map(|v| {
            grads
                .take(v.id)
                .expect("every leaf gets a gradient")
                .to_f32(gpu)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((value, grads))
}

#[test]
fn composite_graph_gradients_match_finite_differences() {
    check_composite_graph(false);
}

#[test]
fn composite_graph_with_fused_relu_matches_finite_differences() {
    check_composite_graph(true);
}

fn check_composite_graph(fused_relu: bool) {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(21);
    let mut values: Vec<Vec<f32>> = SHAPES
        .iter()
        .map(|s| {
            (0..s.iter().product())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let targets: Vec<i32> = (0..2 * 8 * 6)
        .map(|i| if i % 9 == 0 { 255 } else { i % 3 })
        .collect();
    let setup = Setup {
        targets: Tensor::from_i32(gpu, &[2, 8, 6], &targets).unwrap(),
        stats: [Tensor::zeros(gpu, &[4]), Tensor::zeros(gpu, &[4])],
        fused_relu,
    };
    let (_, grads) = loss(gpu, &values, &setup).unwrap();
    // Large enough that f32 rounding in the forward stays far below the differences, small enough
    // that no ReLU kink or max-pool winner is crossed (BN's beta shifts a whole channel at once):
    // 1e-2 crosses kinks, 1e-3 drowns the input gradient in rounding.
    let h = 3e-3f32;
    let mut worst: f64 = 0.0;
    for i in 0..values.len() {
        let mut picks: Vec<usize> = (0..values[i].len()).collect();
        picks.shuffle(&mut rng);
        let (mut numeric, mut analytic) = (Vec::new(), Vec::new());
        for &j in picks.iter().take(12) {
            let orig = values[i][j];
            values[i][j] = orig + h;
            let plus = loss(gpu, &values, &setup).unwrap().0;
            values[i][j] = orig - h;
            let minus = loss(gpu, &values, &setup).unwrap().0;
            values[i][j] = orig;
            numeric.push((plus - minus) / f64::from(2.0 * h));
            analytic.push(f64::from(grads[i][j]));
        }
        if i == CONV1_BIAS {
            // BN with batch statistics subtracts each channel's mean, so the loss does not depend
            // on this bias: the gradient is zero and a relative error is undefined. Both sides must
            // sit below the finite differences' rounding noise (f32 loss ~1e-7 / 2h ~ 2e-5).
            let largest = numeric
                .iter()
                .chain(&analytic)
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(
                largest < 1e-4,
                "input {i}: {numeric:?} / {analytic:?} should be 0"
            );
            continue;
        }
        let e = wgnn::gradcheck::rel_err(&numeric, &analytic);
        assert!(
            e < wgnn::gradcheck::FD_TOLERANCE,
            "input {i}: relative error {e:.2e}, numeric {numeric:?}, analytic {analytic:?}"
        );
        worst = worst.max(e);
    }
    assert!(worst > 0.0, "the check compared something");
}

/// A tensor used twice gets the sum of both paths' gradients.
#[test]
fn gradients_accumulate_over_shared_inputs() {
    let gpu = gpu();
    let g = Graph::training(gpu).unwrap();
    let x = g.leaf(Tensor::from_f32(gpu, &[1, 3], &[0.5, -1.0, 2.0]).unwrap());
    let w = g.leaf(Tensor::from_f32(gpu, &[2, 3], &[1.0, 0.0, -1.0, 2.0, 1.0, 0.5]).unwrap());
    let doubled = g.add(&x, &x).unwrap();
    let y = g.linear(&doubled, &w, None).unwrap();
    let targets = Tensor::from_i32(gpu, &[1], &[1]).unwrap();
    let l = g.cross_entropy(&y, &targets, None).unwrap();
    let mut grads = g.backward(&l).unwrap();
    let dx = grads.take(x.id).unwrap().to_f32(gpu).unwrap();
    // y = 2 x W^T; dL/dy = softmax(y) - onehot(1); dL/dx = 2 (dL/dy) W.
    let xs = [0.5f64, -1.0, 2.0];
    let wr = [[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]];
    let y: Vec<f64> = wr
        .iter()
        .map(|r| 2.0 * r.iter().zip(&xs).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let z = y.iter().map(|v| v.exp()).sum::<f64>();
    let dy = [y[0].exp() / z, y[1].exp() / z - 1.0];
    for k in 0..3 {
        let want = 2.0 * (dy[0] * wr[0][k] + dy[1] * wr[1][k]);
        assert!(
            (f64::from(dx[k]) - want).abs() < 1e-5,
            "dx[{k}] = {} != {want}",
            dx[k]
        );
    }
}

#[test]
fn inference_graphs_record_nothing() {
    let gpu = gpu();
    let g = Graph::inference(gpu);
    let w = g.leaf(Tensor::zeros(gpu, &[2, 3]));
    let x = g.input(Tensor::zeros(gpu, &[4, 3]));
    let y = g.linear(&x, &w, None).unwrap();
    assert!(!w.requires_grad && !y.requires_grad);
}

/// BatchNorm2d with its ReLU fused gives bit for bit what BN followed by a separate ReLU gives:
/// the output and the gradients of x, gamma and beta, on planes the kernels read as vec4s (6x8,
/// three invocations a plane) and as scalars (5x3).
#[test]
fn fused_relu_is_bitwise_bn_then_relu() {
    let gpu = gpu();
    for dims in [[2usize, 3, 6, 8], [3, 2, 5, 3]] {
        let [n, c, h, w] = dims;
        let run = |fused: bool| -> Vec<Vec<f32>> {
            let mut rng = StdRng::seed_from_u64(33);
            let mut random = |len: usize| -> Vec<f32> {
                (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
            };
            let g = Graph::training(gpu).unwrap();
            let x = g.leaf(Tensor::from_f32(gpu, &dims, &random(n * c * h * w)).unwrap());
            let gamma = g.leaf(Tensor::from_f32(gpu, &[c], &random(c)).unwrap());
            let beta = g.leaf(Tensor::from_f32(gpu, &[c], &random(c)).unwrap());
            let running = [Tensor::zeros(gpu, &[c]), Tensor::zeros(gpu, &[c])];
            let y = g
                .batch_norm2d(
                    &x,
                    &BatchNormArgs {
                        gamma: &gamma,
                        beta: &beta,
                        running: RunningStats {
                            mean: &running[0],
                            var: &running[1],
                            momentum: 0.1,
                            eps: 1e-5,
                        },
                        training: true,
                        relu: fused,
                    },
                )
                .unwrap();
            let y = if fused { y } else { g.relu(&y).unwrap() };
            let targets: Vec<i32> = (0..n * h * w).map(|i| (i % c) as i32).collect();
            let targets = Tensor::from_i32(gpu, &[n, h, w], &targets).unwrap();
            let loss = g.cross_entropy(&y, &targets, None).unwrap();
            let mut grads = g.backward(&loss).unwrap();
            let mut out = vec![y.value.to_f32(gpu).unwrap()];
            for v in [&x, &gamma, &beta] {
                out.push(grads.take(v.id).unwrap().to_f32(gpu).unwrap());
            }
            out
        };
        let (fused, separate) = (run(true), run(false));
        for (k, name) in ["y", "dx", "dgamma", "dbeta"].iter().enumerate() {
            let same = fused[k]
                .iter()
                .zip(&separate[k])
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{dims:?}: fused {name} differs from BN then ReLU");
        }
        assert!(
            fused[0].contains(&0.0) && fused[0].iter().any(|&v| v > 0.0),
            "{dims:?}: the ReLU cut some outputs and passed others"
        );
    }
}
