//! The register block of the CPU family's batched products (matmul.wgsl's `matmul_vec4x2` /
//! `matmul_rows_vec4x2` or their 16 x 16 twins), chosen per device from what each kind of host
//! measured.

use crate::error::{Error, Result};

/// Environment variable that picks the batched products' block: `8` or `16`.
pub const PRODUCT_BLOCK_ENV: &str = "WGNN_PRODUCT_BLOCK";

/// Rows and columns of c each invocation of a batched product computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductBlock {
    /// 8 x 8: 4 multiply-adds per loaded float.
    Eight,
    /// 16 x 16: 8 multiply-adds per loaded float, 64 vec4 accumulators.
    Sixteen,
}

impl ProductBlock {
    /// The block's side, in rows and in columns.
    pub fn side(self) -> usize {
        match self {
            ProductBlock::Eight => 8,
            ProductBlock::Sixteen => 16,
        }
    }

    /// The default for a device: 16 x 16 on a CPU device (lavapipe) whose x86 host has no AVX-512,
    /// where every loaded component costs a stack round trip and 16 x 16 ran the 1024^3 product at
    /// 2x the 8 x 8 block (PERFORMANCE.md 35, 36); 8 x 8 elsewhere, where it was measured best
    /// (entries 7-12, an AVX-512 host).
    pub fn for_device(cpu_like: bool) -> ProductBlock {
        if cpu_like && host_lacks_avx512() {
            ProductBlock::Sixteen
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
                _ => Err(Error::Device(format!(
                    "{PRODUCT_BLOCK_ENV}={v} is not a product block: use 8 or 16"
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
