//! The shader files, and the key a compiled pipeline is cached under.

/// One WGSL file under `shaders/` (an op family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Conv2d,
    /// conv_weight_grad.wgsl with its channels-last copies in storage buffers.
    ConvWeightGrad,
    /// conv_weight_grad.wgsl with its channels-last copies in textures (see `Gpu::with_textures`).
    ConvWeightGradTextures,
    Winograd,
    /// winograd4x4.wgsl reading its operands from storage buffers.
    Winograd4x4,
    /// winograd4x4.wgsl reading a launch's operand from a texture copy (see
    /// `Gpu::with_texture_copy`).
    Winograd4x4Textures,
    ConvTranspose2d,
    /// batch_norm.wgsl reading x and dy as vec4s from storage buffers.
    BatchNorm,
    /// batch_norm.wgsl reading x and dy as vec4s from texture copies (see
    /// `Gpu::with_texture_copies`).
    BatchNormTextures,
    Pool,
    Matmul,
    BatchedMatmul,
    /// batched_matmul.wgsl reading its operands from texture copies (see `Gpu::with_texture_copies`).
    BatchedMatmulTextures,
    Elementwise,
    Loss,
    /// optim.wgsl reading its operands' vec4s from storage buffers.
    Optim,
    /// optim.wgsl reading its operands' vec4s from texture copies (see `Gpu::with_stacked_copies`).
    OptimTextures,
    /// optim.wgsl with optim_operands_words.wgsl's entry points, which read and write eight floats
    /// at a time as vec4<u64>s: devices with wgpu's SHADER_INT64 only.
    OptimWords,
    Reduce,
    Metrics,
    Tiled,
}

/// Helpers every kernel file uses (the folded-grid index); prepended to each file.
const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The launch parameters and bindings the convolution files share (one Rust twin, as one WGSL
/// struct); prepended to conv2d.wgsl, conv_weight_grad.wgsl and conv_transpose2d.wgsl after COMMON.
const CONV_COMMON: &str = include_str!("../../shaders/conv_common.wgsl");
/// Where conv_weight_grad.wgsl keeps its channels-last copies: storage buffers, or textures.
const WEIGHT_GRAD_BUFFERS: &str = include_str!("../../shaders/conv_weight_grad_buffers.wgsl");
const WEIGHT_GRAD_TEXTURES: &str = include_str!("../../shaders/conv_weight_grad_textures.wgsl");
/// How batched_matmul.wgsl reads its operands: from storage buffers, or from texture copies.
const OPERANDS_BUFFERS: &str = include_str!("../../shaders/batched_operands_buffers.wgsl");
const OPERANDS_TEXTURES: &str = include_str!("../../shaders/batched_operands_textures.wgsl");
/// What winograd.wgsl and winograd4x4.wgsl share (launch parameters, bindings, lookups and the
/// weight gradient's output entry points); prepended to both after COMMON.
const WINOGRAD_COMMON: &str = include_str!("../../shaders/winograd_common.wgsl");
/// Where batch_norm.wgsl reads x and dy as vec4s: storage buffers, or texture copies.
const BATCH_NORM_BUFFERS: &str = include_str!("../../shaders/batch_norm_operands_buffers.wgsl");
const BATCH_NORM_TEXTURES: &str = include_str!("../../shaders/batch_norm_operands_textures.wgsl");
/// Where the Winograd transforms read x, dy and M: storage buffers, or a texture copy.
const WINOGRAD_BUFFERS: &str = include_str!("../../shaders/winograd_operands_buffers.wgsl");
const WINOGRAD_TEXTURES: &str = include_str!("../../shaders/winograd_operands_textures.wgsl");
/// Where the optimiser updates read their operands' vec4s: storage buffers, or texture copies.
const OPTIM_BUFFERS: &str = include_str!("../../shaders/optim_operands_buffers.wgsl");
const OPTIM_TEXTURES: &str = include_str!("../../shaders/optim_operands_textures.wgsl");
/// The optimiser updates over 64-bit words, prepended after OPTIM_BUFFERS (whose loads the file's
/// own entry points keep).
const OPTIM_WORDS: &str = include_str!("../../shaders/optim_operands_words.wgsl");

impl Shader {
    pub const ALL: [Shader; 21] = [
        Shader::Conv2d,
        Shader::ConvWeightGrad,
        Shader::ConvWeightGradTextures,
        Shader::Winograd,
        Shader::Winograd4x4,
        Shader::Winograd4x4Textures,
        Shader::ConvTranspose2d,
        Shader::BatchNorm,
        Shader::BatchNormTextures,
        Shader::Pool,
        Shader::Matmul,
        Shader::BatchedMatmul,
        Shader::BatchedMatmulTextures,
        Shader::Elementwise,
        Shader::Loss,
        Shader::Optim,
        Shader::OptimTextures,
        Shader::OptimWords,
        Shader::Reduce,
        Shader::Metrics,
        Shader::Tiled,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Conv2d => "conv2d.wgsl",
            Shader::ConvWeightGrad | Shader::ConvWeightGradTextures => "conv_weight_grad.wgsl",
            Shader::Winograd => "winograd.wgsl",
            Shader::Winograd4x4 | Shader::Winograd4x4Textures => "winograd4x4.wgsl",
            Shader::ConvTranspose2d => "conv_transpose2d.wgsl",
            Shader::BatchNorm | Shader::BatchNormTextures => "batch_norm.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::Matmul => "matmul.wgsl",
            Shader::BatchedMatmul | Shader::BatchedMatmulTextures => "batched_matmul.wgsl",
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim | Shader::OptimTextures | Shader::OptimWords => "optim.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Metrics => "metrics.wgsl",
            Shader::Tiled => "tiled.wgsl",
        }
    }

    /// Whether the file as compiled uses 64-bit integers (wgpu's SHADER_INT64).
    pub fn needs_int64(self) -> bool {
        self == Shader::OptimWords
    }

    fn body(self) -> &'static str {
        match self {
            Shader::Conv2d => include_str!("../../shaders/conv2d.wgsl"),
            Shader::ConvWeightGrad | Shader::ConvWeightGradTextures => {
                include_str!("../../shaders/conv_weight_grad.wgsl")
            }
            Shader::Winograd => include_str!("../../shaders/winograd.wgsl"),
            Shader::Winograd4x4 | Shader::Winograd4x4Textures => {
                include_str!("../../shaders/winograd4x4.wgsl")
            }
            Shader::ConvTranspose2d => include_str!("../../shaders/conv_transpose2d.wgsl"),
            Shader::BatchNorm | Shader::BatchNormTextures => {
                include_str!("../../shaders/batch_norm.wgsl")
            }
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::BatchedMatmul | Shader::BatchedMatmulTextures => {
                include_str!("../../shaders/batched_matmul.wgsl")
            }
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Loss => include_str!("../../shaders/loss.wgsl"),
            Shader::Optim | Shader::OptimTextures | Shader::OptimWords => {
                include_str!("../../shaders/optim.wgsl")
            }
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Metrics => include_str!("../../shaders/metrics.wgsl"),
            Shader::Tiled => include_str!("../../shaders/tiled.wgsl"),
        }
    }
}

/// How the GPU family's kernels add up a workgroup's values (`workgroup_sum`), prepended to the
/// files whose kernels reduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkgroupSum {
    /// A halving tree in workgroup memory (workgroup_sum.wgsl): every device.
    Tree,
    /// Subgroup operations, then one pass over workgroup memory (workgroup_sum_subgroup.wgsl):
    /// devices with wgpu's SUBGROUP feature.
    Subgroups,
}

impl WorkgroupSum {
    fn source(self) -> &'static str {
        match self {
            WorkgroupSum::Tree => include_str!("../../shaders/workgroup_sum.wgsl"),
            WorkgroupSum::Subgroups => include_str!("../../shaders/workgroup_sum_subgroup.wgsl"),
        }
    }
}

/// The complete WGSL source compiled for a shader file on a device without subgroup operations.
pub fn shader_source(shader: Shader) -> String {
    shader_source_with(shader, WorkgroupSum::Tree)
}

/// The complete WGSL source compiled for a shader file: the common helpers, the shared declarations
/// of the convolution files or of the two Winograd files, the workgroup reduction `sum` for the
/// reducing ones, or where the weight gradient's copies and the operands of the Winograd
/// transforms, of batch normalisation, of the batched products and of the optimisers are, then
/// the file.
pub fn shader_source_with(shader: Shader, sum: WorkgroupSum) -> String {
    let preludes: &[&str] = match shader {
        Shader::Conv2d | Shader::ConvTranspose2d => &[CONV_COMMON],
        Shader::ConvWeightGrad => &[CONV_COMMON, WEIGHT_GRAD_BUFFERS],
        Shader::ConvWeightGradTextures => &[CONV_COMMON, WEIGHT_GRAD_TEXTURES],
        Shader::Winograd | Shader::Winograd4x4 => &[WINOGRAD_COMMON, WINOGRAD_BUFFERS],
        Shader::Winograd4x4Textures => &[WINOGRAD_COMMON, WINOGRAD_TEXTURES],
        Shader::BatchNorm => &[sum.source(), BATCH_NORM_BUFFERS],
        Shader::BatchNormTextures => &[sum.source(), BATCH_NORM_TEXTURES],
        Shader::Reduce => &[sum.source()],
        Shader::BatchedMatmul => &[OPERANDS_BUFFERS],
        Shader::BatchedMatmulTextures => &[OPERANDS_TEXTURES],
        Shader::Optim => &[OPTIM_BUFFERS],
        Shader::OptimTextures => &[OPTIM_TEXTURES],
        Shader::OptimWords => &[OPTIM_BUFFERS, OPTIM_WORDS],
        _ => &[],
    };
    format!("{COMMON}\n{}\n{}", preludes.join("\n"), shader.body())
}

/// Cache key: file, entry point, and override constants (values as bit patterns, so the key hashes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PipelineKey {
    pub(crate) shader: Shader,
    pub(crate) entry: &'static str,
    pub(crate) constants: Vec<(&'static str, u64)>,
}
