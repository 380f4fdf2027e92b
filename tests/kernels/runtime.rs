//! The runtime: tensors, the buffer pool, the pipeline cache, adapter choice.

use wgnn::gpu::{self, Gpu};
use wgnn::{DType, Tensor};

use crate::common::{batch_norm_params, gpu, random, rng, upload};

#[test]
fn tensors_round_trip() {
    let gpu = gpu();
    let data: Vec<f32> = (0..1001).map(|i| i as f32 * 0.5 - 7.0).collect();
    let t = Tensor::from_f32(gpu, &[7, 11, 13], &data).unwrap();
    assert_eq!(t.to_f32(gpu).unwrap(), data);
    let labels: Vec<i32> = (0..37).map(|i| i * 3 - 50).collect();
    let l = Tensor::from_i32(gpu, &[37], &labels).unwrap();
    assert_eq!((l.dtype(), l.to_i32(gpu).unwrap()), (DType::I32, labels));
    assert!(
        Tensor::from_f32(gpu, &[2, 2], &[1.0; 3]).is_err(),
        "wrong element count"
    );
    assert!(t.to_i32(gpu).is_err(), "wrong dtype");
    assert_eq!(t.reshape(&[91, 11]).unwrap().to_f32(gpu).unwrap(), data);
    assert!(t.reshape(&[5, 5]).is_err());
    assert!(
        Tensor::zeros(gpu, &[3, 5])
            .to_f32(gpu)
            .unwrap()
            .iter()
            .all(|&v| v == 0.0)
    );
}

/// Buffers freed by dropped tensors are reused: the same work twice allocates nothing new.
#[test]
fn buffer_pool_reuses_freed_buffers() {
    let gpu = Gpu::new(&crate::options()).unwrap();
    let work = |gpu: &Gpu| {
        let x = Tensor::from_f32(gpu, &[4, 3, 9, 9], &[0.5; 972]).unwrap();
        let y = wgnn::ops::elementwise::relu(gpu, &x).unwrap();
        y.to_f32(gpu).unwrap();
    };
    work(&gpu);
    let after_first = gpu.pool_stats();
    work(&gpu);
    let after_second = gpu.pool_stats();
    assert_eq!(after_first.allocated_bytes, after_second.allocated_bytes);
    assert_eq!(after_second.in_use_bytes, 0, "every tensor was dropped");
    assert!(after_second.high_water_bytes >= 2 * 972 * 4);
    gpu.trim_pool();
    assert_eq!(gpu.pool_stats().allocated_bytes, 0);
}

#[test]
fn unknown_adapter_is_a_clear_error() {
    let err = gpu::choose_adapter(Some("no-such-gpu-xyz"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no adapter name contains \"no-such-gpu-xyz\"") && err.contains("adapters:"),
        "{err}"
    );
}

/// The test binary runs on the device it asks for: the backend and kernel family of `options()`.
#[test]
fn the_device_is_the_one_asked_for() {
    let options = crate::options();
    let gpu = gpu();
    if let Some(backends) = options.backends {
        assert!(
            backends.contains(gpu.adapter_info().backend.into()),
            "{:?} is not among {backends:?}",
            gpu.adapter_info().backend
        );
    }
    if let Some(family) = options.kernels {
        assert_eq!(gpu.tuning().family, family);
    }
    if options.webgpu_limits {
        assert_eq!(
            gpu.plan_limits().max_binding_bytes,
            wgpu::Limits::default().max_storage_buffer_binding_size
        );
    }
}

/// The same work twice gives the same bits: every sum runs in a fixed order (no float atomics), in
/// both kernel families (the products, the split weight gradient added layer by layer, the
/// workgroup reductions of batch norm).
#[test]
fn results_are_bit_reproducible() {
    use wgnn::ops::batch_norm;
    use wgnn::ops::conv2d::{self, Conv2dArgs};

    let gpu = gpu();
    let mut r = rng(77);
    let x = upload(&[3, 5, 17, 13], &random(&mut r, 3 * 5 * 17 * 13));
    let w = upload(&[6, 5, 3, 3], &random(&mut r, 6 * 5 * 9));
    let args = Conv2dArgs {
        stride: [2, 1],
        padding: [1, 1],
    };
    let run = || {
        let y = conv2d::conv2d(gpu, &x, &w, None, args).unwrap();
        let dw = conv2d::conv2d_weight_grad(gpu, &x, &y, [3, 3], args).unwrap();
        let dx = conv2d::conv2d_input_grad(gpu, &y, &w, [17, 13], args).unwrap();
        let ones = Tensor::from_f32(gpu, &[6], &[1.0; 6]).unwrap();
        let zeros = Tensor::zeros(gpu, &[6]);
        let (mean, var) = (Tensor::zeros(gpu, &[6]), ones.clone());
        let bn = batch_norm::batch_norm2d_train(
            gpu,
            &y,
            &batch_norm_params(&ones, &zeros, &mean, &var),
        )
        .unwrap();
        [y, dw, dx, bn.y, bn.stats].map(|t| t.to_f32(gpu).unwrap())
    };
    let first = run();
    let second = run();
    for (a, b) in first.iter().zip(&second) {
        let same = a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "two runs of the same work differ");
    }
}

/// The GPU family's tile fits whatever a device grants: WebGPU's defaults, the downlevel
/// defaults, and less (it takes a smaller tile rather than failing to launch).
#[test]
fn tiles_fit_the_granted_limits() {
    let info = gpu().adapter_info();
    let tiny = wgpu::Limits {
        max_compute_invocations_per_workgroup: 32,
        max_compute_workgroup_size_x: 8,
        max_compute_workgroup_size_y: 4,
        max_compute_workgroup_storage_size: 2048,
        ..wgpu::Limits::downlevel_defaults()
    };
    for limits in [
        wgpu::Limits::default(),
        wgpu::Limits::downlevel_defaults(),
        tiny,
    ] {
        let tile = wgnn::gpu::Tuning::for_device(info, &limits, wgpu::Features::empty()).tile;
        assert!(
            tile.tx * tile.ty <= limits.max_compute_invocations_per_workgroup
                && tile.tx <= limits.max_compute_workgroup_size_x
                && tile.ty <= limits.max_compute_workgroup_size_y
                && tile.workgroup_bytes() <= limits.max_compute_workgroup_storage_size,
            "{tile:?} does not fit {limits:?}"
        );
    }
    let best = wgnn::gpu::Tuning::for_device(info, &wgpu::Limits::default(), wgpu::Features::empty());
    assert_eq!(best.tile, wgnn::gpu::Tile::PREFERRED[0]);
}
