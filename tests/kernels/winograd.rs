//! conv2d's Winograd path: channel counts that take the Winograd kernels (from 64 input
//! channels) with partial tiles, forward and all three gradients; and, with bindings forced
//! small, the same in chunks of images and of tiles.

use std::sync::OnceLock;

use wgnn::gpu::KernelFamily;
use wgnn::{Gpu, GpuOptions};

use crate::conv::{Case, case, check_conv2d, check_conv2d_on};

/// Numbered after conv.rs's cases, which seeds their data as before.
const WINOGRAD_CASES: [(usize, Case); 2] = [
    (
        12,
        case([2, 128, 5, 6], [130, 128, 3, 3], [1, 1], [1, 1], true),
    ),
    (
        13,
        case([1, 131, 3, 3], [129, 131, 3, 3], [1, 1], [2, 2], false),
    ),
];

#[test]
fn winograd_conv2d_forward_and_gradients_match_reference() {
    for (i, c) in WINOGRAD_CASES.iter() {
        check_conv2d(*i, c);
    }
}

/// 2 MiB bindings: 524,280 floats after alignment slack.
const CHUNKING_BINDING: u64 = 2 << 20;

fn chunking() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&GpuOptions {
            max_binding_bytes: Some(CHUNKING_BINDING),
            ..crate::options()
        })
        .expect("GPU tests need an adapter (on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
    })
}

/// Inputs of 3 images of 128 x 36 x 39 (179,712 floats each): two images per binding, so the
/// images come in chunks of 2 + 1.
/// - Case 14 (130 output channels): a chunk of tiles holds at most 252 (16 x 130 floats each), so
///   the forward's and the input gradient's 720 + 360 tiles are transformed in 3 + 2 chunks each.
///   Its weight gradient's five chunks of products (266,240 floats each) would not fit one
///   binding: the direct kernel takes it.
/// - Case 15 (5 output channels, padding [2, 0]: 38 x 37 outputs): 722 + 361 tiles at most 256 to
///   a chunk, 3 + 2 chunks for the forward and for the weight gradient, whose five partial products
///   the output transform sums. Its input gradient (5 input channels) is direct.
const CHUNKED_CASES: [(usize, Case, [usize; 2]); 2] = [
    (
        14,
        case([3, 128, 36, 39], [130, 128, 3, 3], [1, 1], [1, 1], true),
        [10, 0],
    ),
    (
        15,
        case([3, 128, 36, 39], [5, 128, 3, 3], [1, 1], [2, 0], false),
        [5, 5],
    ),
];

#[test]
fn winograd_conv2d_in_chunks_matches_reference() {
    let gpu = chunking();
    for (i, c, [input_transforms, input_by_tiles]) in &CHUNKED_CASES {
        gpu.start_profiling().unwrap();
        check_conv2d_on(gpu, *i, c);
        let launches = gpu.stop_profiling().unwrap();
        let count = |kernel: &str| launches.iter().filter(|l| l.kernel == kernel).count();
        // The GPU family's tiled kernels take every convolution.
        let expected = if gpu.tuning().family == KernelFamily::Cpu {
            [*input_transforms, *input_by_tiles]
        } else {
            [0, 0]
        };
        assert_eq!(
            [
                count("winograd.wgsl::input_transform"),
                count("winograd.wgsl::input_by_tile")
            ],
            expected,
            "case {i}: chunks of tiles transformed"
        );
    }
}
