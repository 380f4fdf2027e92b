//! The GPU runtime: one device and queue, a pipeline cache, a buffer pool, and a command encoder that
//! ops record into until something needs the results (`sync`, a download).

mod adapter;
mod dispatch;
mod download;
mod pipeline;
pub(crate) mod pool;
mod product_block;
mod profile;
mod profiler;
mod shader;
mod texture;
mod tile;

pub use adapter::{ADAPTER_ENV, choose_adapter, describe, ranked_adapters};
pub use dispatch::Slot;
pub(crate) use dispatch::{Elements, Launch, View, distinct_binding_bytes, split_ranges};
pub(crate) use download::{PendingRead, Staging};
pub use pool::PoolStats;
pub use product_block::{
    PRODUCT_BLOCK_ENV, PRODUCT_OPERANDS_ENV, ProductBlock, ProductOperands, UPDATE_LOADS_ENV,
    UpdateLoads,
};
pub use profiler::KernelTiming;
pub use shader::{Shader, WorkgroupSum, shader_source, shader_source_with};
pub use texture::TEXELS_PER_ROW;
pub(crate) use texture::{TEXEL_BYTES, texture_view};
pub use tile::Tile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use pool::BufferPool;

/// How to open the device. The two `max_*` fields lower the limits wgnn plans work against (never
/// raise them above the device's), which lets tests exercise the splitting paths with small tensors.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Substring of the adapter name; falls back to `WGNN_ADAPTER`, then to the best adapter.
    pub adapter: Option<String>,
    /// The backends to look for adapters on (default: Vulkan, Metal and DX12, then GL; narrowed
    /// further by `WGPU_BACKEND`).
    pub backends: Option<wgpu::Backends>,
    /// Largest storage-buffer binding wgnn will create, in bytes.
    pub max_binding_bytes: Option<u64>,
    /// Largest workgroup count per dimension wgnn will use.
    pub max_workgroups_per_dim: Option<u32>,
    /// Invocations per workgroup instead of the device's default (see `Tuning`; for the GPU
    /// family the most a tile may have); also `WGNN_WORKGROUP_SIZE`.
    pub workgroup_size: Option<u32>,
    /// The kernel family instead of the device's default (see `Tuning`); also `WGNN_KERNELS`.
    pub kernels: Option<KernelFamily>,
    /// The CPU family's batched-product block instead of the device's; also `WGNN_PRODUCT_BLOCK`.
    pub product_block: Option<ProductBlock>,
    /// Where the batched products and the direct weight gradient read their operands instead of
    /// the device's choice; also `WGNN_PRODUCT_OPERANDS`.
    pub product_operands: Option<ProductOperands>,
    /// How the optimiser updates load their operands from the buffers instead of the device's
    /// choice; also `WGNN_UPDATE_LOADS`.
    pub update_loads: Option<UpdateLoads>,
    /// Most rows of 4096 texels an operand texture may have, below the device's limit (tests use
    /// it to reach the fallback to the buffers).
    pub max_texture_rows: Option<u32>,
    /// Open the device with WebGPU's default limits instead of the adapter's; also
    /// `WGNN_LIMITS=webgpu`.
    pub webgpu_limits: bool,
}

/// Environment variable that overrides the workgroup size.
pub const WORKGROUP_SIZE_ENV: &str = "WGNN_WORKGROUP_SIZE";
/// Environment variable that picks the kernel family: `gpu` or `cpu`.
pub const KERNELS_ENV: &str = "WGNN_KERNELS";
/// Environment variable that, set to `webgpu`, opens the device with WebGPU's default limits.
pub const LIMITS_ENV: &str = "WGNN_LIMITS";

/// The two kernel families for products and convolutions. Both compute the same results within
/// f32 rounding, each in a fixed order (bit-reproducible on one device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelFamily {
    /// Register blocks per invocation, no workgroup memory: what CPU devices (lavapipe) run
    /// fastest, where workgroup memory is ordinary memory and barriers cost.
    Cpu,
    /// Workgroup tiles: operand tiles staged in workgroup memory and shared by 64 to 256
    /// invocations, each accumulating a 4x4 register block (tiled.wgsl): what GPUs are built for.
    Gpu,
}

impl KernelFamily {
    /// The name `WGNN_KERNELS` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::Cpu => "cpu",
            KernelFamily::Gpu => "gpu",
        }
    }

    /// The family `WGNN_KERNELS` asks for, if it is set.
    pub fn from_env() -> Result<Option<KernelFamily>> {
        match std::env::var(KERNELS_ENV) {
            Ok(v) if !v.trim().is_empty() => KernelFamily::parse(&v).map(Some),
            _ => Ok(None),
        }
    }

    fn parse(v: &str) -> Result<KernelFamily> {
        match v.trim() {
            "cpu" => Ok(KernelFamily::Cpu),
            "gpu" => Ok(KernelFamily::Gpu),
            _ => Err(Error::Device(format!(
                "{KERNELS_ENV}={v} is not a kernel family: use gpu or cpu"
            ))),
        }
    }
}

/// Launch shapes chosen per device. The kernels' per-invocation register blocks are fixed in WGSL
/// (function-scope arrays cannot be sized by `override` constants); the workgroup size is the WGSL
/// `override WG` of every register-block kernel, the tile the overrides of tiled.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    pub workgroup_size: u32,
    pub family: KernelFamily,
    pub tile: Tile,
    pub workgroup_sum: WorkgroupSum,
    pub product_block: ProductBlock,
    pub product_operands: ProductOperands,
    pub update_loads: UpdateLoads,
}

impl Tuning {
    /// The register-block family's workgroup sizes: CPU devices', GPUs'.
    pub const WORKGROUP_SIZES: [u32; 2] = [64, 256];

    /// Defaults: 64 invocations on CPU devices (lavapipe: 32, 64 and 128 measured the same, see
    /// PERFORMANCE.md 8), 256 on GPUs (a multiple of every vendor's SIMD width, four to eight
    /// waves to hide latency), never above the device's limits. The register-block family on CPU
    /// devices, the tiled one on discrete, integrated and virtual GPUs.
    /// Subgroup operations for the reductions where `features` has them.
    pub fn for_device(
        info: &wgpu::AdapterInfo,
        limits: &wgpu::Limits,
        features: wgpu::Features,
    ) -> Tuning {
        let cpu_like = matches!(
            info.device_type,
            wgpu::DeviceType::Cpu | wgpu::DeviceType::Other
        );
        let [cpu, gpu] = Tuning::WORKGROUP_SIZES;
        let preferred = if cpu_like { cpu } else { gpu };
        Tuning {
            workgroup_size: preferred
                .min(limits.max_compute_invocations_per_workgroup)
                .min(limits.max_compute_workgroup_size_x),
            family: if cpu_like {
                KernelFamily::Cpu
            } else {
                KernelFamily::Gpu
            },
            tile: Tile::within(limits, None),
            product_block: ProductBlock::for_device(cpu_like),
            product_operands: ProductOperands::for_device(cpu_like),
            update_loads: UpdateLoads::for_device(
                cpu_like,
                features.contains(wgpu::Features::SHADER_INT64),
            ),
            workgroup_sum: if features.contains(wgpu::Features::SUBGROUP) {
                WorkgroupSum::Subgroups
            } else {
                WorkgroupSum::Tree
            },
        }
    }

    /// Whether the cpu family's kernels that can read texture copies of their operands do (batch
    /// normalisation, the optimisers): where the products read theirs.
    pub fn reads_texture_copies(&self) -> bool {
        self.family == KernelFamily::Cpu && self.product_operands == ProductOperands::Textures
    }

    /// Whether the optimiser updates load 64-bit words from the buffers: where the device offers
    /// them and the updates do not read texture copies.
    pub fn updates_by_words(&self) -> bool {
        self.update_loads == UpdateLoads::Words && !self.reads_texture_copies()
    }
}

impl std::fmt::Display for Tuning {
    /// The kernel family and its launch shape, as `wgnn info` and `wgnn bench` print them.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let [rows, cols] = self.tile.output();
        let updates = if self.updates_by_words() {
            "; optimiser updates by 64-bit words"
        } else {
            ""
        };
        match self.family {
            KernelFamily::Cpu => write!(
                f,
                "cpu (register blocks, {} invocations per workgroup, {1}x{1} product blocks{2}{3})",
                self.workgroup_size,
                self.product_block.side(),
                match (self.product_block, self.product_operands) {
                    (ProductBlock::Eight, _) | (_, ProductOperands::Buffers) => "",
                    (_, ProductOperands::Textures) => " reading texture copies",
                },
                updates
            ),
            KernelFamily::Gpu => write!(
                f,
                "gpu (workgroup tiles of {rows}x{cols} outputs, {} invocations, {}-deep stages; \
                 reductions by {}{})",
                self.tile.tx * self.tile.ty,
                self.tile.tk,
                match self.workgroup_sum {
                    WorkgroupSum::Tree => "a workgroup-memory tree",
                    WorkgroupSum::Subgroups => "subgroup operations",
                },
                updates
            ),
        }
    }
}

/// The limits work is planned against: the device's own, or lower ones from `GpuOptions`.
#[derive(Clone, Copy, Debug)]
pub struct PlanLimits {
    /// The largest buffer the device creates.
    pub max_buffer_bytes: u64,
    pub max_binding_bytes: u64,
    pub max_workgroups_per_dim: u32,
    pub binding_offset_alignment: u64,
    /// Rows a texture copy of an operand may have (see texture.rs); 0 where the device's textures
    /// are narrower than a copy's rows.
    pub max_texture_rows: u32,
}

/// The most rows a texture copy of an operand may have on a device with `limits`: its 2-D limit,
/// or `wanted` if less; 0 (no copies) where a row of TEXELS_PER_ROW texels is wider than its
/// textures may be.
fn max_texture_rows(limits: &wgpu::Limits, wanted: Option<u32>) -> u32 {
    let side = limits.max_texture_dimension_2d;
    if side < TEXELS_PER_ROW {
        return 0;
    }
    wanted.map_or(side, |rows| rows.min(side))
}

/// Features wgnn asks for when the adapter has them.
const WANTED_FEATURES: wgpu::Features = wgpu::Features::TIMESTAMP_QUERY
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::SHADER_INT64);

/// An open GPU: everything ops need to allocate, compile and launch.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    plan: PlanLimits,
    tuning: Tuning,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<shader::PipelineKey, wgpu::ComputePipeline>>,
    pub(crate) pool: Arc<BufferPool>,
    encoder: Mutex<Option<wgpu::CommandEncoder>>,
    /// Errors the device raised outside an error scope, oldest first; reported at the next sync.
    uncaptured: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    /// Set while kernels are being timed.
    profiler: Mutex<Option<profiler::Profiler>>,
    /// The two textures that hold a kernel's operands (see texture.rs).
    textures: Mutex<[Option<wgpu::Texture>; 2]>,
}

impl Gpu {
    /// Opens the chosen adapter with its own limits (not wgpu's conservative defaults).
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let adapter = choose_adapter(options.adapter.as_deref(), options.backends)?;
        let info = adapter.get_info();
        let webgpu_limits = options.webgpu_limits
            || match std::env::var(LIMITS_ENV) {
                Ok(v) if v.trim() == "webgpu" => true,
                Ok(v) if v.trim().is_empty() || v.trim() == "adapter" => false,
                Ok(v) => {
                    return Err(Error::Device(format!(
                        "{LIMITS_ENV}={v} is not a choice of limits: use webgpu or adapter"
                    )));
                }
                Err(_) => false,
            };
        let limits = if webgpu_limits {
            let webgpu = wgpu::Limits::default();
            let mut short = None;
            webgpu.check_limits_with_fail_fn(&adapter.limits(), true, |name, want, have| {
                short = Some(format!("{name} is {have}, WebGPU's default is {want}"));
            });
            if let Some(short) = short {
                return Err(Error::Device(format!(
                    "{} does not grant WebGPU's default limits ({short}); unset {LIMITS_ENV}",
                    describe(&info)
                )));
            }
            webgpu
        } else {
            adapter.limits()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgnn device"),
            required_features: adapter.features() & WANTED_FEATURES,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Device(format!("cannot open {}: {e}", describe(&info))))?;

        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let message = match e {
                wgpu::Error::OutOfMemory { .. } => {
                    "the GPU ran out of memory; use a smaller --batch-size or smaller images"
                        .to_owned()
                }
                other => other.to_string(),
            };
            sink.lock().expect("error sink lock").push(message);
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            *lost_sink.lock().expect("device-lost lock") = Some(format!("{reason:?}: {message}"));
        });

        let plan = PlanLimits {
            max_buffer_bytes: limits.max_buffer_size,
            max_binding_bytes: options
                .max_binding_bytes
                .map_or(limits.max_storage_buffer_binding_size, |b| {
                    b.min(limits.max_storage_buffer_binding_size)
                }),
            max_workgroups_per_dim: options
                .max_workgroups_per_dim
                .map_or(limits.max_compute_workgroups_per_dimension, |w| {
                    w.min(limits.max_compute_workgroups_per_dimension)
                }),
            binding_offset_alignment: u64::from(limits.min_storage_buffer_offset_alignment),
            max_texture_rows: max_texture_rows(&limits, options.max_texture_rows),
        };
        let mut tuning = Tuning::for_device(&info, &limits, device.features());
        let wanted = match options.workgroup_size {
            Some(size) => Some(size),
            None => match std::env::var(WORKGROUP_SIZE_ENV) {
                Ok(v) => Some(v.trim().parse().map_err(|_| {
                    Error::Device(format!("{WORKGROUP_SIZE_ENV}={v} is not a whole number"))
                })?),
                Err(_) => None,
            },
        };
        if let Some(size) = wanted {
            let max = limits
                .max_compute_invocations_per_workgroup
                .min(limits.max_compute_workgroup_size_x);
            if size == 0 || size > max {
                return Err(Error::Device(format!(
                    "workgroup size {size} is outside 1..={max} on {}",
                    describe(&info)
                )));
            }
            tuning.workgroup_size = size;
            tuning.tile = Tile::within(&limits, Some(size));
        }
        let family = match options.kernels {
            Some(f) => Some(f),
            None => KernelFamily::from_env()?,
        };
        if let Some(family) = family {
            tuning.family = family;
        }
        if let Some(block) = ProductBlock::overridden(options.product_block)? {
            tuning.product_block = block;
        }
        if let Some(operands) = ProductOperands::overridden(options.product_operands)? {
            tuning.product_operands = operands;
        }
        if let Some(loads) = UpdateLoads::overridden(options.update_loads)? {
            if loads == UpdateLoads::Words
                && !device.features().contains(wgpu::Features::SHADER_INT64)
            {
                return Err(Error::Device(format!(
                    "{UPDATE_LOADS_ENV}=words needs 64-bit integers in shaders, which {} lacks; \
                     use vec4s",
                    describe(&info)
                )));
            }
            tuning.update_loads = loads;
        }
        Ok(Gpu {
            device,
            queue,
            info,
            plan,
            tuning,
            modules: Mutex::default(),
            pipelines: Mutex::default(),
            pool: Arc::default(),
            encoder: Mutex::new(None),
            uncaptured,
            lost,
            profiler: Mutex::new(None),
            textures: Mutex::default(),
        })
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    pub fn plan_limits(&self) -> PlanLimits {
        self.plan
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Destroys the device as a GPU reset would: every later operation on it fails with a
    /// device-lost error. For tests of what a run does when its GPU goes away.
    pub fn lose_device(&self) {
        self.device.destroy();
    }

    /// Restarts the pool's high-water mark (peak bytes in use) from the bytes in use now.
    pub fn reset_pool_high_water(&self) {
        self.pool.reset_high_water();
    }

    /// Destroys the pool's free buffers and the operand textures.
    pub fn trim_pool(&self) {
        self.pool.trim();
        *self.textures.lock().expect("operand textures lock") = Default::default();
    }

    /// Runs `record` on the open command encoder, creating one if needed.
    pub(crate) fn with_encoder<R>(&self, record: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut slot = self.encoder.lock().expect("encoder lock");
        let encoder = slot.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wgnn ops"),
                })
        });
        record(encoder)
    }

    /// Submits everything recorded so far without waiting for it.
    pub fn flush(&self) {
        if let Some(encoder) = self.encoder.lock().expect("encoder lock").take() {
            self.queue.submit([encoder.finish()]);
        }
    }

    /// Submits everything recorded and waits until the device has finished it; reports any
    /// validation error, out-of-memory or device loss that happened meanwhile.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.wait_failed(&e))?;
        self.check()
    }

    /// An `Err` once the device is lost (a GPU reset, a driver crash).
    pub(crate) fn check_lost(&self) -> Result<()> {
        match self.lost.lock().expect("device-lost lock").clone() {
            Some(reason) => Err(Error::Device(format!("the GPU device was lost ({reason})"))),
            None => Ok(()),
        }
    }

    /// The error for a failed wait: the device's loss if that is the cause.
    fn wait_failed(&self, e: &wgpu::PollError) -> Error {
        // A destroyed device reports its loss from the next maintenance pass.
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.check_lost()
            .err()
            .unwrap_or_else(|| Error::Device(format!("waiting for the GPU failed: {e}")))
    }

    /// Turns errors the device reported asynchronously into an `Err`.
    pub(crate) fn check(&self) -> Result<()> {
        self.check_lost()?;
        let mut errors = self.uncaptured.lock().expect("error sink lock");
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors.remove(0);
        let more = errors.len();
        errors.clear();
        Err(Error::Device(if more == 0 {
            format!("GPU error: {first}")
        } else {
            format!("GPU error: {first} (and {more} more)")
        }))
    }

    /// Writes `data` at the start of `buffer`, after everything recorded so far.
    pub(crate) fn write_buffer(&self, buffer: &wgpu::Buffer, data: &[u8]) {
        // Queue writes run before the next submission's commands, so earlier recorded work that
        // may still read a recycled buffer must be submitted first.
        self.flush();
        let aligned = data.len() / 4 * 4;
        self.queue.write_buffer(buffer, 0, &data[..aligned]);
    }
}
