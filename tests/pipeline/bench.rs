//! `wgnn bench`'s kernel table (medians over the profiled steps) and its printed report.

use wgnn::bench::{Ceilings, KernelRow, ModelReport, kernel_table, report_text};
use wgnn::gpu::KernelTiming;

fn timing(kernel: &str, seconds: f64, flops: f64, bytes: f64) -> KernelTiming {
    KernelTiming {
        kernel: kernel.to_owned(),
        seconds,
        flops,
        bytes,
    }
}

#[test]
fn kernel_table_takes_each_kernels_median_step() {
    // Three steps; "conv" runs twice a step, "sgd" once. Step 2's conv is an outlier.
    let steps: Vec<Vec<KernelTiming>> = [(0.010, 0.020), (0.011, 0.200), (0.012, 0.024)]
        .iter()
        .map(|&(sgd, conv)| {
            vec![
                timing("conv", conv / 2.0, 1e9, 4e6),
                timing("sgd", sgd, 0.0, 1e8),
                timing("conv", conv / 2.0, 1e9, 4e6),
            ]
        })
        .collect();
    let rows = kernel_table(&steps);
    let names: Vec<&str> = rows.iter().map(|r| r.kernel.as_str()).collect();
    assert_eq!(names, ["conv", "sgd"], "slowest first");
    let (conv, sgd) = (&rows[0], &rows[1]);
    assert_eq!((conv.calls, sgd.calls), (2, 1), "calls per step");
    assert!(
        (conv.milliseconds - 24.0).abs() < 1e-9,
        "{}",
        conv.milliseconds
    );
    assert!(
        (sgd.milliseconds - 11.0).abs() < 1e-9,
        "{}",
        sgd.milliseconds
    );
    // 2 GFLOP and 8 MB a step in 24 ms; 100 MB in 11 ms.
    assert!((conv.gflops.unwrap() - 2.0 / 0.024).abs() < 1e-6);
    assert!(sgd.gflops.is_none());
    assert!((sgd.gbps - 0.1 / 0.011).abs() < 1e-6);
    assert!((conv.share - 24.0 / 35.0).abs() < 1e-9);
}

#[test]
fn report_gives_each_row_its_share_of_the_ceiling() {
    let row = |kernel: &str, gflops: Option<f64>, gbps: f64| KernelRow {
        kernel: kernel.to_owned(),
        calls: 1,
        milliseconds: 10.0,
        gflops,
        gbps,
        share: 0.5,
    };
    let report = ModelReport {
        model: "vgg16bn".into(),
        batch: 32,
        size: 32,
        optimizer: "adam".into(),
        first_step_seconds: 2.0,
        step_seconds: 1.0,
        train_images_per_second: 32.0,
        inference_images_per_second: 64.0,
        peak_pool_bytes: 3 << 20,
        texture_copy_bytes: 0,
        saved_activation_bytes: 1 << 20,
        model_state_bytes: 1 << 20,
        kernels: vec![
            row("matmul.wgsl::matmul_vec4", Some(5.0), 1.0),
            row("optim.wgsl::adam_words", None, 11.0),
        ],
    };
    let ceilings = Ceilings {
        matmul_gflops: 20.0,
        compute_gflops: 20.0,
        copy_gbps: 20.0,
    };
    let text = report_text(&report, &ceilings);
    let line = |kernel: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains(kernel)).unwrap();
        line.split_whitespace().map(str::to_owned).collect()
    };
    // Columns: kernel, calls, total ms, GFLOP/s, of max, GB/s, share.
    assert_eq!(line("matmul_vec4")[3..], ["5.00", "25%", "1.00", "50.0%"]);
    assert_eq!(line("adam_words")[3..], ["-", "55%", "11.00", "50.0%"]);
}
