//! The register block of the CPU family's batched products (matmul.wgsl's `matmul_vec4x2` /
//! `matmul_rows_vec4x2`, or their 16 x 16 and 32 x 32 twins in batched_matmul.wgsl), where they
//! read their operands, and how the optimiser updates load theirs: each chosen per device from
//! what each kind of host measured.

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

    /// The default for a device: 32 x 32 on a CPU device (lavapipe) on an x86 host, where every
    /// loaded component costs a per-lane loop, so multiply-adds per load set the pace. Without
    /// AVX-512 VGG16-bn's step ran 1.6x faster with 16 x 16 blocks than with 8 x 8 and 1.4x faster
    /// again with 32 x 32 (PERFORMANCE.md 35-37); with AVX-512 it ran 1.5x faster with 32 x 32 than
    /// with 8 x 8 (entry 53). 8 x 8 elsewhere: on other hosts nothing was measured.
    pub fn for_device(cpu_like: bool) -> ProductBlock {
        if cpu_like && host_is_x86() {
            ProductBlock::ThirtyTwo
        } else {
            ProductBlock::Eight
        }
    }

    /// `chosen` if given, else what `WGNN_PRODUCT_BLOCK` asks for, if it is set.
    pub fn overridden(chosen: Option<ProductBlock>) -> Result<Option<ProductBlock>> {
        let choices = [
            ("8", ProductBlock::Eight),
            ("16", ProductBlock::Sixteen),
            ("32", ProductBlock::ThirtyTwo),
        ];
        env_choice(chosen, PRODUCT_BLOCK_ENV, "a product block", &choices)
    }
}

/// Environment variable that picks where the 16 x 16 and 32 x 32 batched products read their
/// operands: `buffers` or `textures`.
pub const PRODUCT_OPERANDS_ENV: &str = "WGNN_PRODUCT_OPERANDS";

/// Where the batched products with 16 x 16 and 32 x 32 blocks (batched_matmul.wgsl) read their
/// operands, and where the direct weight gradient (conv_weight_grad.wgsl) keeps its channels-last
/// copies. The 8 x 8 block reads its storage buffers always.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductOperands {
    /// From the storage buffers that hold them.
    Buffers,
    /// From rgba32float texture copies of those buffers (`Gpu::with_texture_copies`), made by a copy
    /// command before each product; the weight gradient stores its copies into the textures.
    Textures,
}

impl ProductOperands {
    pub const ALL: [ProductOperands; 2] = [ProductOperands::Buffers, ProductOperands::Textures];

    /// The default for a device: textures on a CPU device whose x86 host has no AVX-512, where a
    /// texel fetch costs lavapipe a quarter of a storage load and the products ran 2-4x faster
    /// from texture copies (PERFORMANCE.md 38); the buffers elsewhere: with AVX-512, VGG16-bn's
    /// step with 32 x 32 blocks ran 1.1-1.6x slower from texture copies (entry 53), and on other
    /// hosts nothing was measured.
    pub fn for_device(cpu_like: bool) -> ProductOperands {
        if cpu_like && host_lacks_avx512() {
            ProductOperands::Textures
        } else {
            ProductOperands::Buffers
        }
    }

    /// `chosen` if given, else what `WGNN_PRODUCT_OPERANDS` asks for, if it is set.
    pub fn overridden(chosen: Option<ProductOperands>) -> Result<Option<ProductOperands>> {
        let choices = [
            ("buffers", ProductOperands::Buffers),
            ("textures", ProductOperands::Textures),
        ];
        env_choice(
            chosen,
            PRODUCT_OPERANDS_ENV,
            "a way to read operands",
            &choices,
        )
    }
}

/// Environment variable that picks how the optimiser updates load their operands from the
/// buffers: `vec4s` or `words`.
pub const UPDATE_LOADS_ENV: &str = "WGNN_UPDATE_LOADS";

/// How the SGD and Adam updates (optim.wgsl) load and store their operands where they read the
/// buffers (not texture copies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateLoads {
    /// Four floats at a time, as vec4<f32>s: every device.
    Vec4s,
    /// Eight floats at a time, as vec4<u64>s (optim_operands_words.wgsl): devices with wgpu's
    /// SHADER_INT64 only.
    Words,
}

impl UpdateLoads {
    /// The default for a device: words on a CPU device with 64-bit integers whose x86 host has
    /// AVX-512, where lavapipe's SGD and Adam ran 1.35x faster so (PERFORMANCE.md 54); vec4s
    /// elsewhere: without AVX-512 the updates read texture copies instead (PERFORMANCE.md 50), and
    /// on GPUs a vec4 is already one memory transaction.
    pub fn for_device(cpu_like: bool, int64: bool) -> UpdateLoads {
        if cpu_like && int64 && host_is_x86() && !host_lacks_avx512() {
            UpdateLoads::Words
        } else {
            UpdateLoads::Vec4s
        }
    }

    /// `chosen` if given, else what `WGNN_UPDATE_LOADS` asks for, if it is set.
    pub fn overridden(chosen: Option<UpdateLoads>) -> Result<Option<UpdateLoads>> {
        let choices = [("vec4s", UpdateLoads::Vec4s), ("words", UpdateLoads::Words)];
        env_choice(
            chosen,
            UPDATE_LOADS_ENV,
            "a way to load the optimisers' operands",
            &choices,
        )
    }
}

/// `chosen` if given, else the choice the environment variable `var` names, if it is set; a value
/// that names none is a one-line error saying what `var` takes.
fn env_choice<T: Copy>(
    chosen: Option<T>,
    var: &str,
    what: &str,
    choices: &[(&str, T)],
) -> Result<Option<T>> {
    if chosen.is_some() {
        return Ok(chosen);
    }
    let value = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => return Ok(None),
    };
    match choices.iter().find(|(name, _)| *name == value.trim()) {
        Some(&(_, choice)) => Ok(Some(choice)),
        None => {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            Err(Error::Device(format!(
                "{var}={value} is not {what}: use {}",
                names.join(", ")
            )))
        }
    }
}

fn host_is_x86() -> bool {
    cfg!(any(target_arch = "x86", target_arch = "x86_64"))
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn host_lacks_avx512() -> bool {
    !std::arch::is_x86_feature_detected!("avx512f")
}

/// Elsewhere (an ARM host, say) nothing was measured: the operands stay in their buffers.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn host_lacks_avx512() -> bool {
    false
}
