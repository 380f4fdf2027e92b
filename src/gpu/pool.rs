//! Buffer pool: storage buffers freed by dropped tensors are kept by size class and handed out again,
//! so a training loop stops allocating after its first step.

use std::collections::HashMap;
use std::sync::Mutex;

/// Usage of every pooled buffer: bound as storage, copied to and from.
pub(crate) const POOLED_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

#[derive(Default)]
struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes of all buffers the pool created and has not destroyed (in use or free).
    allocated: u64,
    /// Bytes of buffers handed out and not yet returned.
    in_use: u64,
    /// Largest `in_use` seen.
    high_water: u64,
    /// Bytes the live tensors asked for (before rounding to size classes).
    live_tensors: u64,
}

/// Snapshot of the pool's byte counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub allocated_bytes: u64,
    pub in_use_bytes: u64,
    pub high_water_bytes: u64,
    /// Bytes of the tensors alive now, exactly as large as their elements.
    pub live_tensor_bytes: u64,
}

#[derive(Default)]
pub(crate) struct BufferPool {
    state: Mutex<PoolState>,
}

/// Rounds a request up to its size class: 256 bytes at least, then four classes per power of two,
/// so a reused buffer wastes at most a quarter of its size.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let pow = bytes.next_power_of_two();
    let quarter = (pow / 8).max(1);
    bytes.div_ceil(quarter) * quarter
}

impl BufferPool {
    /// A buffer of at least `bytes` bytes, reused if one of its class is free.
    pub(crate) fn take(&self, device: &wgpu::Device, bytes: u64) -> wgpu::Buffer {
        let class = size_class(bytes);
        let mut s = self.state.lock().expect("buffer pool lock");
        s.in_use += class;
        s.live_tensors += bytes;
        s.high_water = s.high_water.max(s.in_use);
        if let Some(buffer) = s.free.get_mut(&class).and_then(Vec::pop) {
            return buffer;
        }
        s.allocated += class;
        drop(s);
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgnn pooled tensor"),
            size: class,
            usage: POOLED_USAGE,
            mapped_at_creation: false,
        })
    }

    /// Returns a buffer taken from this pool for `bytes`.
    pub(crate) fn give_back(&self, buffer: wgpu::Buffer, bytes: u64) {
        let mut s = self.state.lock().expect("buffer pool lock");
        s.in_use -= buffer.size();
        s.live_tensors -= bytes;
        s.free.entry(buffer.size()).or_default().push(buffer);
    }

    /// Destroys every free buffer (the memory goes back to the driver).
    pub(crate) fn trim(&self) {
        let mut s = self.state.lock().expect("buffer pool lock");
        let freed: u64 = s.free.values().flatten().map(wgpu::Buffer::size).sum();
        for buffer in s.free.drain().flat_map(|(_, v)| v) {
            buffer.destroy();
        }
        s.allocated -= freed;
    }

    /// Restarts the high-water mark from the bytes in use now.
    pub(crate) fn reset_high_water(&self) {
        let mut s = self.state.lock().expect("buffer pool lock");
        s.high_water = s.in_use;
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let s = self.state.lock().expect("buffer pool lock");
        PoolStats {
            allocated_bytes: s.allocated,
            in_use_bytes: s.in_use,
            high_water_bytes: s.high_water,
            live_tensor_bytes: s.live_tensors,
        }
    }
}
