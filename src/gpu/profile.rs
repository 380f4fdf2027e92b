//! Kernel timing from GPU timestamp queries: while profiling is on, every compute pass writes a
//! timestamp at its start and end; the pairs are resolved in batches and turned into seconds.

use super::Gpu;
use crate::error::{Error, Result};

/// Timestamps one query set holds (two per pass); when full, it is read back and reused.
const QUERY_CAPACITY: u32 = 2048;

/// One kernel launch, timed.
#[derive(Clone, Debug)]
pub struct KernelTiming {
    /// `file.wgsl::entry`.
    pub kernel: String,
    pub seconds: f64,
    /// Floating-point operations the launch performs (0 where not counted).
    pub flops: f64,
    /// Bytes of the buffers it binds: an upper bound on the memory it touches once.
    pub bytes: f64,
}

pub(crate) struct Profiler {
    pub(crate) query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Launches whose timestamps sit in the query set, in order.
    pending: Vec<KernelTiming>,
    done: Vec<KernelTiming>,
}

impl Profiler {
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
}

impl Gpu {
    /// Starts timing every kernel launch (needs timestamp queries; `wgnn info` says whether the
    /// adapter has them).
    pub fn start_profiling(&self) -> Result<()> {
        if !self
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return Err(Error::Device(format!(
                "{} has no timestamp queries, so kernels cannot be timed",
                super::describe(&self.info)
            )));
        }
        let query_set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("wgnn kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: QUERY_CAPACITY,
        });
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgnn timestamp resolve"),
            size: u64::from(QUERY_CAPACITY) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        *self.profiler.lock().expect("profiler lock") = Some(Profiler {
            query_set,
            resolve,
            pending: Vec::new(),
            done: Vec::new(),
        });
        Ok(())
    }

    /// Stops timing and returns every launch timed since `start_profiling`, in order.
    pub fn stop_profiling(&self) -> Result<Vec<KernelTiming>> {
        self.harvest_timestamps()?;
        Ok(self
            .profiler
            .lock()
            .expect("profiler lock")
            .take()
            .map(|p| p.done)
            .unwrap_or_default())
    }

    /// Reads the timestamps of the pending launches and frees the query set for more.
    pub(crate) fn harvest_timestamps(&self) -> Result<()> {
        let (resolve, count) = {
            let mut guard = self.profiler.lock().expect("profiler lock");
            let Some(p) = guard.as_mut() else {
                return Ok(());
            };
            if p.pending.is_empty() {
                return Ok(());
            }
            let count = 2 * p.pending.len() as u32;
            self.with_encoder(|e| e.resolve_query_set(&p.query_set, 0..count, &p.resolve, 0));
            (p.resolve.clone(), count)
        };
        let bytes = self.read_buffer(&resolve, u64::from(count) * 8)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period = f64::from(self.queue.get_timestamp_period()) * 1e-9;
        let mut guard = self.profiler.lock().expect("profiler lock");
        if let Some(p) = guard.as_mut() {
            for (i, mut t) in p.pending.drain(..).enumerate() {
                t.seconds = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period;
                p.done.push(t);
            }
        }
        Ok(())
    }
}
