//! The timestamp bookkeeping behind `Gpu::start_profiling`: a query set, the launches (and copy
//! commands) whose timestamps it holds, and the timings read back so far.

/// Timestamps one query set holds (two per pass or run of copies); when full, it is read back and
/// reused.
const QUERY_CAPACITY: u32 = 2048;

/// One kernel launch, timed.
#[derive(Clone, Debug)]
pub struct KernelTiming {
    /// `file.wgsl::entry`, with the variant in brackets where the launch names one; or
    /// `copy_buffer_to_texture` for the copies into the operand textures.
    pub kernel: String,
    pub seconds: f64,
    /// Floating-point operations the launch performs (0 where not counted).
    pub flops: f64,
    /// Bytes it reads plus bytes it writes where the launch says (the optimisers), else the bytes
    /// of the buffers it binds: an upper bound on the memory it touches once.
    pub bytes: f64,
}

/// Timestamp queries in flight and timings done.
pub(crate) struct Profiler {
    pub(crate) query_set: wgpu::QuerySet,
    pub(crate) resolve: wgpu::Buffer,
    /// Launches whose timestamps sit in the query set, in order.
    pending: Vec<KernelTiming>,
    done: Vec<KernelTiming>,
}

impl Profiler {
    pub(crate) fn new(device: &wgpu::Device) -> Profiler {
        let query_set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("wgnn kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: QUERY_CAPACITY,
        });
        let resolve = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgnn timestamp resolve"),
            size: u64::from(QUERY_CAPACITY) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Profiler {
            query_set,
            resolve,
            pending: Vec::new(),
            done: Vec::new(),
        }
    }

    /// The index of the next pass's first timestamp, if the query set has room.
    pub(crate) fn reserve(&mut self, kernel: String, flops: f64, bytes: f64) -> Option<u32> {
        let index = 2 * self.pending.len() as u32;
        if index + 2 > QUERY_CAPACITY {
            return None;
        }
        self.pending.push(KernelTiming {
            kernel,
            seconds: 0.0,
            flops,
            bytes,
        });
        Some(index)
    }

    /// Timestamps the pending launches wrote (two each).
    pub(crate) fn timestamps(&self) -> u32 {
        2 * self.pending.len() as u32
    }

    /// The pending launches timed from their resolved `ticks`, `period` seconds each.
    pub(crate) fn record(&mut self, ticks: &[u64], period: f64) {
        for (i, mut t) in self.pending.drain(..).enumerate() {
            t.seconds = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period;
            self.done.push(t);
        }
    }

    /// Every launch timed, in order.
    pub(crate) fn into_timings(self) -> Vec<KernelTiming> {
        self.done
    }
}
