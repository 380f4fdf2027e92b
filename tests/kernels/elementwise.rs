//! relu, add and dropout2d.

use wgnn::Tensor;
use wgnn::ops::elementwise;

use crate::common::*;

#[test]
fn relu_forward_and_backward_match_reference() {
    let gpu = gpu();
    for (i, shape) in [[1, 1, 1, 1], [2, 3, 5, 7], [3, 64, 9, 11]]
        .iter()
        .enumerate()
    {
        let n: usize = shape.iter().product();
        let mut r = rng(1000 + i as u64);
        let x_host = f32_exact(&random(&mut r, n));
        let x = upload(shape, &x_host);
        let y = elementwise::relu(gpu, &x).unwrap();
        let y_ref: Vec<f64> = x_host.iter().map(|v| v.max(0.0)).collect();
        assert_eq!(download(&y), y_ref, "case {i}: relu forward");
        let dy_host = f32_exact(&random(&mut r, n));
        let dx = elementwise::relu_backward(gpu, &upload(shape, &dy_host), &y).unwrap();
        let dx_ref: Vec<f64> = dy_host
            .iter()
            .zip(&x_host)
            .map(|(g, x)| if *x > 0.0 { *g } else { 0.0 })
            .collect();
        assert_eq!(download(&dx), dx_ref, "case {i}: relu backward");
    }
}

#[test]
fn add_matches_reference() {
    let gpu = gpu();
    let shape = [2, 7, 13, 5];
    let n = shape.iter().product();
    let mut r = rng(1100);
    let (a, b) = (f32_exact(&random(&mut r, n)), f32_exact(&random(&mut r, n)));
    let y = elementwise::add(gpu, &upload(&shape, &a), &upload(&shape, &b)).unwrap();
    let y_ref: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from((x + y) as f32))
        .collect();
    assert_eq!(download(&y), y_ref);
    let err = elementwise::add(gpu, &upload(&[2], &[0.0, 1.0]), &upload(&[3], &[0.0; 3]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("shapes differ"), "{err}");
}

#[test]
fn dropout2d_zeroes_whole_channels_with_probability_p() {
    let gpu = gpu();
    let (n, c, p) = (64, 100, 0.3f32);
    let shape = [n, c, 2, 3];
    let x_host = f32_exact(&random(&mut rng(1200), shape.iter().product()));
    let x = upload(&shape, &x_host);
    let out = elementwise::dropout2d(gpu, &x, p, 42).unwrap();
    let mask = download(&out.mask);
    let keep = 1.0 / (1.0 - f64::from(p));
    assert!(
        mask.iter().all(|&m| m == 0.0 || (m - keep).abs() < 1e-6),
        "mask values must be 0 or 1/(1-p)"
    );
    let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
    // Binomial(6400, 0.3): standard deviation 0.0057; 4 of them.
    assert!((dropped - 0.3).abs() < 0.023, "dropped fraction {dropped}");
    let y = download(&out.y);
    for (i, (&yv, &xv)) in y.iter().zip(&x_host).enumerate() {
        let m = mask[i / 6];
        assert_eq!(yv, f64::from((xv * m) as f32), "element {i}");
    }
    let dy_host = f32_exact(&random(&mut rng(1201), y.len()));
    let dx =
        download(&elementwise::dropout2d_apply(gpu, &upload(&shape, &dy_host), &out.mask).unwrap());
    for (i, (&g, &d)) in dy_host.iter().zip(&dx).enumerate() {
        assert_eq!(
            d,
            f64::from((g * mask[i / 6]) as f32),
            "backward element {i}"
        );
    }
}

#[test]
fn dropout2d_is_seeded() {
    let gpu = gpu();
    let x = Tensor::zeros(gpu, &[8, 32, 1, 1]);
    let mask = |seed| download(&elementwise::dropout2d(gpu, &x, 0.5, seed).unwrap().mask);
    assert_eq!(mask(1), mask(1), "the same seed gives the same mask");
    assert_ne!(mask(1), mask(2), "different seeds give different masks");
    let all = |p| download(&elementwise::dropout2d(gpu, &x, p, 3).unwrap().mask);
    assert!(all(0.0).iter().all(|&m| m == 1.0), "p = 0 keeps everything");
    assert!(all(1.0).iter().all(|&m| m == 0.0), "p = 1 drops everything");
    assert!(
        elementwise::dropout2d(gpu, &x, 1.5, 3).is_err(),
        "p outside [0, 1] is an error"
    );
}

/// More than 65535 workgroups on the real device: the grid is folded and every element is computed.
#[test]
fn wide_dispatch_is_folded() {
    let gpu = gpu();
    let n = 65_536 * 64 + 77;
    let x_host: Vec<f32> = (0..n)
        .map(|i| if i % 3 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let x = Tensor::from_f32(gpu, &[n], &x_host).unwrap();
    let y = elementwise::relu(gpu, &x).unwrap().to_f32(gpu).unwrap();
    assert!(y.iter().zip(&x_host).all(|(a, b)| *a == b.max(0.0)));
}
