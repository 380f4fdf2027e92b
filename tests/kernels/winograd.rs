//! conv2d's Winograd path: channel counts that take the Winograd kernels (from 128 input
//! channels) with partial tiles, forward and all three gradients.

use crate::conv::{Case, case, check_conv2d};

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
    for (i, c) in &WINOGRAD_CASES {
        check_conv2d(*i, c);
    }
}
