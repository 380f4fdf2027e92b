//! reduce: per-channel sums (the bias gradient of conv2d and conv_transpose2d).

use wgnn::ops::reduce;

use crate::TOL;
use crate::common::*;
use crate::reference;

#[test]
fn channel_sums_match_reference() {
    let gpu = gpu();
    // A single element, sizes off every vec4, planes longer than one summed block (1024) with and
    // without whole vec4s, and more batch items than channels.
    for (i, &dims) in [
        [1, 1, 1, 1],
        [3, 5, 7, 9],
        [2, 3, 33, 35],
        [2, 2, 64, 64],
        [9, 2, 1, 3],
    ]
    .iter()
    .enumerate()
    {
        let x = f32_exact(&random(&mut rng(1500 + i as u64), dims.iter().product()));
        let sums = reduce::channel_sums(gpu, &upload(&dims, &x)).unwrap();
        assert_eq!(sums.shape(), [dims[1]], "case {i}: shape");
        assert_close(
            &format!("case {i}: channel sums of {dims:?}"),
            &reference::channel_sums(&x, dims),
            &download(&sums),
            TOL,
        );
    }
}
