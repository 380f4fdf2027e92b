//! Kernel timing from GPU timestamp queries: while profiling is on, every compute pass writes a
//! timestamp at its start and end, and so does each run of copies into the operand textures where
//! the device writes timestamps between commands; the pairs are resolved in batches and turned
//! into seconds.

use std::sync::MutexGuard;

use super::Gpu;
use super::profiler::Profiler;
use crate::error::{Error, Result};

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
        *self.profiler.lock().expect("profiler lock") = Some(Profiler::new(&self.device));
        Ok(())
    }

    /// Stops timing and returns every launch timed since `start_profiling`, in order.
    pub fn stop_profiling(&self) -> Result<Vec<super::KernelTiming>> {
        self.harvest_timestamps()?;
        Ok(self
            .profiler
            .lock()
            .expect("profiler lock")
            .take()
            .map(Profiler::into_timings)
            .unwrap_or_default())
    }

    /// The profiler, locked, and while profiling the index of the timestamp pair reserved for
    /// `kernel`'s next launch (a full query set is read back first). The caller records the
    /// launch before it lets the lock go, so timestamps land in reservation order.
    pub(crate) fn reserve_timestamps(
        &self,
        kernel: impl Fn() -> String,
        flops: f64,
        bytes: f64,
    ) -> Result<(MutexGuard<'_, Option<Profiler>>, Option<u32>)> {
        let mut profiler = self.profiler.lock().expect("profiler lock");
        let mut slot = profiler.as_mut().map(|p| p.reserve(kernel(), flops, bytes));
        if slot == Some(None) {
            drop(profiler);
            self.harvest_timestamps()?;
            profiler = self.profiler.lock().expect("profiler lock");
            slot = profiler.as_mut().map(|p| p.reserve(kernel(), flops, bytes));
        }
        Ok((profiler, slot.flatten()))
    }

    /// Whether the device writes timestamps between commands, so profiling times the copies into
    /// the operand textures too.
    pub fn times_copies(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    }

    /// Records transfer commands (`record`), timed as `name` moving `bytes` where the device
    /// writes timestamps between commands, so the kernel table also shows what the copies into
    /// the operand textures cost.
    pub(crate) fn record_transfer(
        &self,
        name: &'static str,
        bytes: f64,
        record: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<()> {
        if !self.times_copies() {
            self.with_encoder(record);
            return Ok(());
        }
        let (profiler, slot) = self.reserve_timestamps(|| name.to_owned(), 0.0, bytes)?;
        self.with_encoder(|encoder| match (profiler.as_ref(), slot) {
            (Some(p), Some(index)) => {
                encoder.write_timestamp(&p.query_set, index);
                record(encoder);
                encoder.write_timestamp(&p.query_set, index + 1);
            }
            _ => record(encoder),
        });
        Ok(())
    }

    /// Reads the timestamps of the pending launches and frees the query set for more. The
    /// profiler stays locked throughout, so another thread's launch cannot join the pending list
    /// between the resolve and the read.
    pub(crate) fn harvest_timestamps(&self) -> Result<()> {
        let mut guard = self.profiler.lock().expect("profiler lock");
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        let count = p.timestamps();
        if count == 0 {
            return Ok(());
        }
        self.with_encoder(|e| e.resolve_query_set(&p.query_set, 0..count, &p.resolve, 0));
        let bytes = self.read_buffer(&p.resolve, 0, u64::from(count) * 8)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let period = f64::from(self.queue.get_timestamp_period()) * 1e-9;
        p.record(&ticks, period);
        Ok(())
    }
}
