//! The register block of the CPU family's batched products (matmul.wgsl's `matmul_vec4x2` /
//! `matmul_rows_vec4x2`, or their 16 x 16 and 32 x 32 twins in batched_matmul.wgsl), chosen per
//! device from what each kind of host measured.

use crate::error::{Error, Result};

/// Environment variable that picks the batched products' block: `8`, `16` or `32`.
pub const PRODUCT_BLOCK_ENV: &str = "WGNN_PRODUCT_BLOCK";

/// Rows and columns of c each invocation of a batched product computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductBlock {
    /// 8 x 8: 4 multiply-adds per loaded float.
    Eight,
    /// 16 x 16: 8 multiply-adds per loaded float, 64 vec4 accumulators.
    Sixteen,
    /// 32 x 32: 16 multiply-adds per loaded float, 256 vec4 accumulators.
    ThirtyTwo,
}

impl ProductBlock {
    pub const ALL: [ProductBlock; 3] = [
        ProductBlock::Eight,
        ProductBlock::Sixteen,
        ProductBlock::ThirtyTwo,
    ];

    /// The block's side, in rows and in columns.
    pub fn side(self) -> usize {
        match self {
            ProductBlock::Eight => 8,
            ProductBlock::Sixteen => 16,
            ProductBlock::ThirtyTwo => 32,
        }
    }

    /// The default for a device: 32 x 32 on a CPU device (lavapipe) whose x86 host has no AVX-512,
    /// where every loaded component costs a stack round trip, so multiply-adds per load set the
    /// pace: VGG16-bn's step ran 1.6x faster with 16 x 16 blocks than with 8 x 8, and 1.4x faster
    /// again with 32 x 32 (PERFORMANCE.md 35-37); 8 x 8 elsewhere, where it was measured best
    /// (entries 7-12, an AVX-512 host).
    pub fn for_device(cpu_like: bool) -> ProductBlock {
        if cpu_like && host_lacks_avx512() {
            ProductBlock::ThirtyTwo
        } else {
            ProductBlock::Eight
        }
    }

    /// `chosen` if given, else what `WGNN_PRODUCT_BLOCK` asks for, if it is set.
    pub fn overridden(chosen: Option<ProductBlock>) -> Result<Option<ProductBlock>> {
        if chosen.is_some() {
            return Ok(chosen);
        }
        match std::env::var(PRODUCT_BLOCK_ENV) {
            Ok(v) if !v.trim().is_empty() => match v.trim() {
                "8" => Ok(Some(ProductBlock::Eight)),
                "16" => Ok(Some(ProductBlock::Sixteen)),
                "32" => Ok(Some(ProductBlock::ThirtyTwo)),
                _ => Err(Error::Device(format!(
                    "{PRODUCT_BLOCK_ENV}={v} is not a product block: use 8, 16 or 32"
                ))),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn host_lacks_avx512() -> bool {
    !std::arch::is_x86_feature_detected!("avx512f")
}

/// Elsewhere (an ARM host, say) nothing was measured: the 8 x 8 block stays.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn host_lacks_avx512() -> bool {
    false
}
