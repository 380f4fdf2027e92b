//! metrics: the GPU argmax against a CPU one.

use wgnn::Tensor;
use wgnn::ops::metrics::argmax_channels;

use crate::common::gpu;

#[test]
fn argmax_matches_cpu_and_keeps_the_first_maximum() {
    let gpu = gpu();
    let (n, c, s) = (3, 5, 7);
    let logits: Vec<f32> = (0..n * c * s)
        .map(|i| ((i * 7919) % 13) as f32 / 4.0)
        .collect();
    let t = Tensor::from_f32(gpu, &[n, c, 1, s], &logits).unwrap();
    let got = argmax_channels(gpu, &t).unwrap();
    assert_eq!(got.shape(), [n, 1, s]);
    let mut want = Vec::new();
    for b in 0..n {
        for p in 0..s {
            let v = |k: usize| logits[(b * c + k) * s + p];
            let best = (0..c).fold(0, |best, k| if v(k) > v(best) { k } else { best });
            want.push(best as i32);
        }
    }
    assert_eq!(got.to_i32(gpu).unwrap(), want);
    let ties = Tensor::from_f32(gpu, &[2, 3], &[1.0, 1.0, 0.0, 0.0, 2.0, 2.0]).unwrap();
    assert_eq!(
        argmax_channels(gpu, &ties).unwrap().to_i32(gpu).unwrap(),
        [0, 1]
    );
}
