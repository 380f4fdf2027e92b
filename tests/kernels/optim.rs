//! SGD and Adam updates against PyTorch's formulas in f64, over several steps: the kernels on one
//! tensor, and `Optimizer`'s one pass over all of a module's parameters in flat buffers.

use wgnn::autograd::{Graph, Var};
use wgnn::gpu::{KernelFamily, ProductOperands, UpdateLoads};
use wgnn::nn::{Context, Entry, Module, Param};
use wgnn::ops::optim::{self, AdamConfig, SgdConfig};
use wgnn::optimizer::{Optimizer, OptimizerConfig};
use wgnn::{Gpu, GpuOptions, Tensor};

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

/// Reference Adam (torch.optim.Adam, L2 weight decay): the weights after the given gradients, each
/// step's weights rounded to f32 as the device (and PyTorch) stores them. Adam changes a weight by
/// about lr a step whatever the gradient, so at lr 1e-3 the rounding of a weight near 1 (3e-8) is
/// 1e-5 of the change: without it, f32 storage alone would fill the tolerance.
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
            w[i] = f64::from(w[i] as f32);
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

/// SGD under three configurations, four steps each, on `n` parameters of `gpu`.
fn check_sgd_on(gpu: &Gpu, n: usize) {
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
        let w = upload_to(gpu, &[n], &w0);
        let buf = Tensor::zeros(gpu, &[n]);
        for (step, g) in grads.iter().enumerate() {
            let g = upload_to(gpu, &[n], g);
            optim::sgd_step(gpu, &w, &g, &buf, step == 0, cfg).unwrap();
        }
        let e = change_err(&w0, &w_ref, &download_from(gpu, &w));
        assert!(e <= TOL, "config {i}, {n} parameters: weights off by {e:.2e}");
        if cfg.momentum != 0.0 {
            assert_close(
                &format!("config {i}, {n} parameters: momentum buffer"),
                &buf_ref,
                &download_from(gpu, &buf),
                TOL,
            );
        }
    }
}

/// Adam under two configurations, five steps each, on `n` parameters of `gpu`.
fn check_adam_on(gpu: &Gpu, n: usize) {
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
        let w = upload_to(gpu, &[n], &w0);
        let (m, v) = (Tensor::zeros(gpu, &[n]), Tensor::zeros(gpu, &[n]));
        for (step, g) in grads.iter().enumerate() {
            let g = upload_to(gpu, &[n], g);
            optim::adam_step(gpu, &w, &g, &m, &v, step as u64 + 1, cfg).unwrap();
        }
        let e = change_err(&w0, &w_ref, &download_from(gpu, &w));
        assert!(e <= TOL, "config {i}, {n} parameters: weights off by {e:.2e}");
    }
}

#[test]
fn sgd_matches_pytorch_semantics() {
    check_sgd_on(gpu(), 1037);
}

#[test]
fn adam_matches_pytorch_semantics() {
    check_adam_on(gpu(), 1037);
}

/// The kernel-table rows of the launches `update` makes on `gpu`, one per launch.
fn launches(gpu: &Gpu, update: impl FnOnce()) -> Vec<String> {
    gpu.start_profiling().unwrap();
    update();
    let timed = gpu.stop_profiling().unwrap();
    timed.into_iter().map(|t| t.kernel).collect()
}

/// How many of `launched` are `kernel`.
fn count(launched: &[String], kernel: &str) -> usize {
    launched.iter().filter(|k| *k == kernel).count()
}

/// One way the forced test below reads: where operands are read, how the buffers are loaded, the
/// rows an operand texture may have and the bytes a binding may have, the parameters updated, and
/// the launches a step makes from texture copies, by words and by vec4s from the buffers.
struct Reads {
    operands: ProductOperands,
    loads: UpdateLoads,
    max_texture_rows: Option<u32>,
    max_binding_bytes: Option<u64>,
    n: usize,
    from_textures: usize,
    by_words: usize,
    by_vec4s: usize,
}

/// Both updates on the cpu family reading their buffers by vec4s and by 64-bit words, reading
/// texture copies (which take precedence over words), and reading texture copies of one row an
/// operand, so 40,000 parameters take three stacked ranges, the last one short; each way counted
/// by its launches. 1037 parameters are 129 words and 5 elements past them; in ranges of 576
/// (`Gpu::range_chunks`) they are two updates by words, 72 words and 57 words and 5 elements.
/// The family is forced, so a device that runs the gpu family checks them too; only in the suite
/// that runs the device's own family (as `other_product_blocks`). A device without 64-bit
/// integers refuses words with a one-line error.
#[test]
fn sgd_and_adam_match_pytorch_semantics_from_buffers_words_and_texture_copies() {
    if crate::options().kernels.is_some() {
        return;
    }
    // Bindings of 580 elements past the alignment's slack: ranges of 576 (a multiple of every
    // alignment up to 256 bytes), so the second starts on a whole number of alignments and words.
    let align = gpu().plan_limits().binding_offset_alignment;
    let plain = Reads {
        operands: ProductOperands::Buffers,
        loads: UpdateLoads::Vec4s,
        max_texture_rows: None,
        max_binding_bytes: None,
        n: 1037,
        from_textures: 0,
        by_words: 0,
        by_vec4s: 1,
    };
    let reads = [
        Reads { ..plain },
        Reads {
            loads: UpdateLoads::Words,
            by_words: 1,
            by_vec4s: 0,
            ..plain
        },
        Reads {
            loads: UpdateLoads::Words,
            max_binding_bytes: Some(580 * 4 + align - 4),
            by_words: 2,
            by_vec4s: 0,
            ..plain
        },
        Reads {
            operands: ProductOperands::Textures,
            loads: UpdateLoads::Words,
            from_textures: 1,
            by_vec4s: 0,
            ..plain
        },
        Reads {
            operands: ProductOperands::Textures,
            max_texture_rows: Some(2),
            n: 40_000,
            from_textures: 3,
            by_vec4s: 0,
            ..plain
        },
    ];
    for r in reads {
        let other = Gpu::new(&GpuOptions {
            kernels: Some(KernelFamily::Cpu),
            product_operands: Some(r.operands),
            update_loads: Some(r.loads),
            max_texture_rows: r.max_texture_rows,
            max_binding_bytes: r.max_binding_bytes,
            ..crate::options()
        });
        let other = match other {
            Ok(other) => other,
            Err(e) => {
                // Only words are refused, and only where the device could not choose them.
                assert_eq!(r.loads, UpdateLoads::Words, "{e}");
                assert_eq!(gpu().tuning().update_loads, UpdateLoads::Vec4s, "{e}");
                assert!(e.to_string().contains("64-bit integers"), "{e}");
                continue;
            }
        };
        let case = format!(
            "{:?}, {:?}, {:?} binding bytes, {} parameters",
            r.operands, r.loads, r.max_binding_bytes, r.n
        );
        // Three configurations of four steps, two of five.
        for (entry, steps, launched) in [
            ("sgd", 12, launches(&other, || check_sgd_on(&other, r.n))),
            ("adam", 10, launches(&other, || check_adam_on(&other, r.n))),
        ] {
            let from_textures = format!("optim.wgsl::{entry} (texture copies)");
            let by_words = format!("optim.wgsl::{entry}_words");
            let by_vec4s = format!("optim.wgsl::{entry}");
            let counted = [&from_textures, &by_words, &by_vec4s].map(|k| count(&launched, k));
            let expected = [r.from_textures, r.by_words, r.by_vec4s].map(|c| steps * c);
            assert_eq!(counted, expected, "{case}: {entry} launches {launched:?}");
        }
        // Each texture holds two operands of one row (64 KiB) each: no more than the ranges need.
        let held = if r.from_textures > 0 { 2 * 2 * 64 * 1024 } else { 0 };
        assert_eq!(other.texture_copy_bytes(), held, "{case}");
    }
}

/// Named parameters, each followed by a buffer and a counter as BN's are, so a test can set the
/// gradients by hand.
struct Parameters(Vec<(String, Param, Tensor, i64)>);

impl Module for Parameters {
    fn forward(&mut self, _: &Graph, x: &Var, _: &Context) -> wgnn::Result<Var> {
        Ok(x.clone())
    }

    fn visit(&mut self, prefix: &str, f: &mut dyn FnMut(&str, Entry<'_>)) {
        for (name, p, buffer, count) in &mut self.0 {
            f(&format!("{prefix}{name}"), Entry::Param(p));
            f(&format!("{prefix}{name}_buffer"), Entry::Buffer(buffer));
            f(&format!("{prefix}{name}_count"), Entry::Count(count));
        }
    }

    fn out_shape(&self, input: &[usize]) -> wgnn::Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    fn describe(&self) -> String {
        "Parameters".into()
    }
}

/// Shapes of awkward sizes: none a multiple of the alignment, one of a single element.
const SHAPES: [&[usize]; 5] = [&[1037], &[3, 5, 7], &[1], &[64], &[2, 3, 11, 13]];

fn parameters(w0: &[Vec<f64>]) -> Parameters {
    Parameters(
        SHAPES
            .iter()
            .zip(w0)
            .enumerate()
            .map(|(i, (shape, w))| {
                let buffer = Tensor::zeros(gpu(), &[i + 1]);
                (format!("p{i}"), Param::new(upload(shape, w)), buffer, 0)
            })
            .collect(),
    )
}

fn initial_weights(seed: u64) -> Vec<Vec<f64>> {
    let mut r = rng(seed);
    SHAPES
        .iter()
        .map(|s| f32_exact(&random(&mut r, s.iter().product())))
        .collect()
}

/// `Optimizer::step` on five parameters: SGD with momentum where parameter 3 has no gradient on
/// step 2 (so it is skipped, its buffer kept, and the pass splits around it), parameter 2 none on
/// step 1 (so its first step, which sets its buffer, comes in one pass with others' later steps),
/// and parameter 1 gets new values between steps 2 and 3 (as loading weights does: the flat
/// buffers are rebuilt and the momentum kept, as PyTorch keeps it when a state_dict is loaded in
/// place).
#[test]
fn optimizer_sgd_updates_every_parameter_in_one_pass() {
    let gpu = gpu();
    let cfg = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 5e-4,
    };
    let mut w0 = initial_weights(1700);
    let mut r = rng(1701);
    let grads: Vec<Vec<Option<Vec<f64>>>> = (0..4)
        .map(|step| {
            SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let g = f32_exact(&random(&mut r, s.iter().product()));
                    ((step != 1 || i != 3) && (step != 0 || i != 2)).then_some(g)
                })
                .collect()
        })
        .collect();
    let reloaded = f32_exact(&random(&mut r, SHAPES[1].iter().product()));
    let mut net = parameters(&w0);
    let mut optimizer = Optimizer::new(OptimizerConfig::Sgd(cfg));
    for (step, step_grads) in grads.iter().enumerate() {
        if step == 2 {
            net.0[1].1 = Param::new(upload(SHAPES[1], &reloaded));
        }
        for ((_, p, _, _), g) in net.0.iter_mut().zip(step_grads) {
            p.grad = g.as_ref().map(|g| upload(p.value.shape(), g));
        }
        optimizer.step(gpu, &mut net).unwrap();
    }
    let state = optimizer.named_state(gpu).unwrap();
    for (i, (_, p, _, _)) in net.0.iter().enumerate() {
        // The reference, one parameter at a time: steps without a gradient skipped, and
        // parameter 1 continued from the reloaded values with its momentum buffer.
        let own: Vec<Vec<f64>> = grads.iter().filter_map(|g| g[i].clone()).collect();
        let (w_ref, buf_ref) = if i == 1 {
            let (_, buf) = sgd_reference(&w0[1], &own[..2], cfg);
            let mut w = reloaded.clone();
            let mut b = buf;
            for g in &own[2..] {
                for k in 0..w.len() {
                    b[k] = f64::from(cfg.momentum) * b[k] + g[k] + f64::from(cfg.weight_decay) * w[k];
                    w[k] -= f64::from(cfg.lr) * b[k];
                }
            }
            w0[1] = reloaded.clone();
            (w, b)
        } else {
            sgd_reference(&w0[i], &own, cfg)
        };
        let e = change_err(&w0[i], &w_ref, &download(&p.value));
        assert!(e <= TOL, "parameter {i}: weights off by {e:.2e}");
        let (name, buf) = &state[i];
        assert_eq!(name, &format!("p{i}.momentum_buffer"));
        assert_close(&format!("parameter {i}: momentum buffer"), &buf_ref, &download(buf), TOL);
    }
}

/// `Optimizer::step` with Adam on five parameters, every one with a gradient each step.
#[test]
fn optimizer_adam_updates_every_parameter_in_one_pass() {
    let gpu = gpu();
    let cfg = AdamConfig {
        lr: 0.01,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 1e-2,
    };
    let w0 = initial_weights(1800);
    let mut r = rng(1801);
    let grads: Vec<Vec<Vec<f64>>> = (0..5)
        .map(|_| {
            SHAPES
                .iter()
                .map(|s| f32_exact(&random(&mut r, s.iter().product())))
                .collect()
        })
        .collect();
    let mut net = parameters(&w0);
    let mut optimizer = Optimizer::new(OptimizerConfig::Adam(cfg));
    for step_grads in &grads {
        for ((_, p, _, _), g) in net.0.iter_mut().zip(step_grads) {
            p.grad = Some(upload(p.value.shape(), g));
        }
        optimizer.step(gpu, &mut net).unwrap();
    }
    for (i, (_, p, _, _)) in net.0.iter().enumerate() {
        let own: Vec<Vec<f64>> = grads.iter().map(|g| g[i].clone()).collect();
        let e = change_err(&w0[i], &adam_reference(&w0[i], &own, cfg), &download(&p.value));
        assert!(e <= TOL, "parameter {i}: weights off by {e:.2e}");
    }
}
