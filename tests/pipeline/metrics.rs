//! The homework's mIoU formula (the GPU argmax is in tests/kernels/metrics.rs).

use wgnn::ops::metrics::IouCounts;

#[test]
fn miou_follows_the_homework_formula() {
    // 2 x 4 pixels, pooled over two "images".
    let label = [0, 0, 1, 1, 2, 3, 4, 5, 5, 6, 6, 0, 1, 2, 3, 4];
    let pred = [0, 1, 1, 1, 2, 2, 4, 5, 6, 6, 5, 0, 1, 2, 3, 3];
    let mut counts = IouCounts::new(7);
    counts.add(&pred[..8], &label[..8]);
    counts.add(&pred[8..], &label[8..]);
    // class: tp / (#pred + #label - tp)
    let expected = [
        2.0 / (2.0 + 3.0 - 2.0),
        3.0 / (4.0 + 3.0 - 3.0),
        2.0 / (3.0 + 2.0 - 2.0),
        1.0 / (2.0 + 2.0 - 1.0),
        1.0 / (1.0 + 2.0 - 1.0),
        1.0 / (2.0 + 2.0 - 1.0),
    ];
    for (i, want) in expected.iter().enumerate() {
        assert!(
            (counts.iou(i) - want).abs() < 1e-12,
            "class {i}: {} != {want}",
            counts.iou(i)
        );
    }
    let mean = expected.iter().sum::<f64>() / 6.0;
    assert!(
        (counts.mean_iou() - mean).abs() < 1e-12,
        "unknown (class 6) is excluded from the mean"
    );
}
