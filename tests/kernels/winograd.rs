//! conv2d's Winograd paths, F(2x2, 3x3) and F(4x4, 3x3): channel counts that take them (from 64
//! input channels, odd ones too) with partial tiles, forward and all three gradients; and, with
//! bindings forced small, the same in chunks of images and of tiles. Each case also counts the
//! transforms launched, so it fails if the variant or the chunking it is meant to check is not
//! the one taken.

use wgnn::gpu::KernelFamily;
use wgnn::{Gpu, GpuOptions};

use crate::conv::{Case, case, check_conv2d_on};

/// The kernels counted: each variant's input transforms (forward and input gradient; F(4x4, 3x3)'s
/// by patches or by rows of vec4s) and weight gradient's input transforms, one launch per chunk
/// of tiles; then F(3x3, 4x4)'s transforms by vec4s, taken only where they read texture copies
/// (elsewhere `input_by_tile` and `grad_transform` take their launches).
const COUNTED: [&str; 7] = [
    "winograd.wgsl::input_transform",
    "winograd.wgsl::input_by_tile",
    "winograd4x4.wgsl::input_transform",
    "winograd4x4.wgsl::input_by_tile",
    "winograd4x4.wgsl::input_transform_rows",
    "winograd4x4.wgsl::input_by_tile_rows",
    "winograd4x4.wgsl::grad_transform_rows",
];

/// Where COUNTED's transforms by vec4s that pay only from texture copies are.
const BY_TILE_ROWS: usize = 5;
const GRAD_ROWS: usize = 6;

/// A case, numbered after conv.rs's (the number seeds its data), and the launches of COUNTED on a
/// device that reads texture copies.
type Counted = (usize, Case, [usize; 7]);

/// `launches` where the weight gradient's transforms stay in their buffers: the scalar
/// `input_by_tile` takes the launches of `input_by_tile_rows` (`grad_transform`, not counted,
/// those of `grad_transform_rows`).
fn from_buffers(mut launches: [usize; 7]) -> [usize; 7] {
    launches[3] += launches[BY_TILE_ROWS];
    launches[BY_TILE_ROWS] = 0;
    launches[GRAD_ROWS] = 0;
    launches
}

/// A device of the suite's options opened with these `limits`, for these tests alone: launches are
/// counted while profiling, and another test's launches on a shared device would be counted too.
fn own_device(limits: GpuOptions) -> Gpu {
    Gpu::new(&limits)
        .expect("GPU tests need an adapter (on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
}

/// Checks each case against the reference on `gpu`, and its launches of COUNTED (none on the GPU
/// family, whose tiled kernels take every convolution). Where the device reads operands from
/// textures (and may copy any binding into one), F(4x4, 3x3)'s transforms by vec4s read texture
/// copies: at least one launch for each launch of the transforms by rows; elsewhere none does,
/// and the weight gradient's transforms are the scalar ones. Where some copies fall back to their
/// buffers, the weight gradient's input transforms are counted together.
fn check_counted(gpu: &Gpu, cases: &[Counted]) {
    let tuning = gpu.tuning();
    let reads_textures = tuning.reads_texture_copies();
    let any_binding_fits = gpu.plan_limits().max_texture_rows >= 2048;
    for (i, c, launches) in cases {
        gpu.start_profiling().unwrap();
        check_conv2d_on(gpu, *i, c);
        let timed = gpu.stop_profiling().unwrap();
        let counts = COUNTED.map(|k| {
            let variant = format!("{k} (");
            timed
                .iter()
                .filter(|t| t.kernel == k || t.kernel.starts_with(&variant))
                .count()
        });
        let expected = match (tuning.family, reads_textures) {
            (KernelFamily::Gpu, _) => [0; 7],
            (KernelFamily::Cpu, true) => *launches,
            (KernelFamily::Cpu, false) => from_buffers(*launches),
        };
        if reads_textures && !any_binding_fits {
            assert_eq!(
                from_buffers(counts),
                from_buffers(expected),
                "case {i}: launches of {COUNTED:?}"
            );
            assert!(
                counts[GRAD_ROWS] <= expected[GRAD_ROWS],
                "case {i}: launches of {COUNTED:?}: {counts:?}, expected {expected:?}"
            );
        } else {
            assert_eq!(counts, expected, "case {i}: launches of {COUNTED:?}");
        }
        let from_copies = timed
            .iter()
            .filter(|t| t.kernel.ends_with(" (from a texture copy)"))
            .count();
        if !reads_textures {
            assert_eq!(from_copies, 0, "case {i}: launches reading texture copies");
        } else if any_binding_fits {
            assert!(
                from_copies >= launches[4] + launches[BY_TILE_ROWS] + launches[GRAD_ROWS],
                "case {i}: {from_copies} launches read texture copies"
            );
        }
    }
}

/// On the device's own limits, one chunk each. The variant with fewer multiplies wins, F(2x2, 3x3)
/// on ties:
/// - 12: 5x6 outputs, a tie (2 x 9 tiles of 16 positions, 2 x 4 of 36): F(2x2, 3x3) throughout.
/// - 13: 5x5 outputs, a tie; its input gradient's 3x3 outputs (4 tiles of 16 against one of 36)
///   take F(4x4, 3x3).
/// - 17: 9x10 outputs (2 x 9 tiles of 36 against 2 x 25 of 16), 64 and 67 channels: F(4x4, 3x3)
///   throughout.
/// - 18: 5x13 and 7x11 outputs, 65 and 66 channels (the weight gradient written as scalars):
///   F(4x4, 3x3) throughout.
/// - 19: 8x16 planes (a row of four tiles), 64 and 66 channels: F(4x4, 3x3), the forward and the
///   input gradient by rows of vec4s, and so the weight gradient's transforms where they read
///   texture copies (more than one texture row: 4224 vec4s of dy).
/// - 24: 7x16 planes, 64 and 67 channels, three images (5376 and 5628 vec4s of x and dy): the same,
///   the last output row of the last row of tiles outside the plane.
/// - 25: 8x12 planes (rows of three tiles), 64 and 65 channels: the input transforms by patches,
///   and of the weight gradient's, `input_by_tile_rows` (whole vec4 rows) but not
///   `grad_transform_rows` (four tiles a row it needs).
const WINOGRAD_CASES: [Counted; 7] = [
    (
        12,
        case([2, 128, 5, 6], [130, 128, 3, 3], [1, 1], [1, 1], true),
        [2, 1, 0, 0, 0, 0, 0],
    ),
    (
        13,
        case([1, 131, 3, 3], [129, 131, 3, 3], [1, 1], [2, 2], false),
        [1, 1, 1, 0, 0, 0, 0],
    ),
    (
        17,
        case([2, 64, 9, 10], [67, 64, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 2, 1, 0, 0, 0],
    ),
    (
        18,
        case([1, 66, 7, 11], [65, 66, 3, 3], [1, 1], [0, 2], false),
        [0, 0, 2, 1, 0, 0, 0],
    ),
    (
        19,
        case([2, 64, 8, 16], [66, 64, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 0, 0, 2, 1, 1],
    ),
    (
        24,
        case([3, 64, 7, 16], [67, 64, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 0, 0, 2, 1, 1],
    ),
    (
        25,
        case([2, 64, 8, 12], [65, 64, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 2, 0, 0, 1, 0],
    ),
];

#[test]
fn winograd_conv2d_forward_and_gradients_match_reference() {
    check_counted(&own_device(crate::options()), &WINOGRAD_CASES);
}

/// 2 MiB bindings: 524,281 floats after alignment slack (lavapipe's 32-byte offset alignment).
const CHUNKING_BINDING: u64 = 2 << 20;

/// With 2 MiB bindings:
/// - 14: 3 images of 128 x 36 x 39 (179,712 floats each, two to a binding: chunks of 2 + 1) into
///   130 channels. F(4x4, 3x3)'s transformed weight (36 x 130 x 128 floats) does not fit, so
///   F(2x2, 3x3) takes the forward and the input gradient, at most 252 tiles (16 x 130 floats
///   each) to a chunk: 720 + 360 tiles in 3 + 2 chunks, each. No variant's chunks of weight
///   gradient products (266,240 floats each) fit together: the direct kernel takes it.
/// - 15: the same input into 5 channels, padding [2, 0] (38 x 37 outputs): F(4x4, 3x3), at most
///   112 tiles (36 x 128 floats each) to a chunk: 200 + 100 tiles in 2 + 1 chunks for the forward
///   and for the weight gradient, whose three partial products the output transform sums. Its
///   input gradient (5 input channels) is direct.
/// - 16: 120 images of 128 x 6 x 6 (113 to a binding) into 5 channels, 6x6 outputs (a tie):
///   F(2x2, 3x3), at most 252 tiles to a chunk: 1017 + 63 tiles in 5 + 1 chunks, for the forward
///   and for the weight gradient.
/// - 20: 3 images of 128 x 32 x 32 into 5 channels: F(4x4, 3x3), the forward by rows of vec4s in
///   chunks of 96 tiles (the second starting at tile 96, in the middle of an image), and the weight
///   gradient in two chunks, by vec4s where its transforms read texture copies.
/// - 26: 4 images of 65 x 57 x 36 (133,380 floats each, three to a binding) into 5 channels:
///   F(4x4, 3x3), the forward by patches in 2 + 1 chunks, the weight gradient's input transform
///   by vec4 rows in 2 + 1 chunks, the last image's read 4 floats into its binding (x_off = 4).
const CHUNKED_CASES: [Counted; 5] = [
    (
        14,
        case([3, 128, 36, 39], [130, 128, 3, 3], [1, 1], [1, 1], true),
        [10, 0, 0, 0, 0, 0, 0],
    ),
    (
        15,
        case([3, 128, 36, 39], [5, 128, 3, 3], [1, 1], [2, 0], false),
        [0, 0, 3, 3, 0, 0, 0],
    ),
    (
        16,
        case([120, 128, 6, 6], [5, 128, 3, 3], [1, 1], [1, 1], true),
        [6, 6, 0, 0, 0, 0, 0],
    ),
    (
        20,
        case([3, 128, 32, 32], [5, 128, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 0, 0, 2, 2, 2],
    ),
    (
        26,
        case([4, 65, 57, 36], [5, 65, 3, 3], [1, 1], [1, 1], true),
        [0, 0, 3, 0, 0, 3, 0],
    ),
];

#[test]
fn winograd_conv2d_in_chunks_matches_reference() {
    let chunking = own_device(GpuOptions {
        max_binding_bytes: Some(CHUNKING_BINDING),
        ..crate::options()
    });
    check_counted(&chunking, &CHUNKED_CASES);
}

/// Every case of both tests above with each of the CPU family's other batched-product blocks.
#[test]
fn winograd_conv2d_matches_reference_with_the_other_product_blocks() {
    for options in crate::conv::other_product_blocks() {
        check_counted(&own_device(options.clone()), &WINOGRAD_CASES);
        let chunking = own_device(GpuOptions {
            max_binding_bytes: Some(CHUNKING_BINDING),
            ..options
        });
        check_counted(&chunking, &CHUNKED_CASES);
    }
}
