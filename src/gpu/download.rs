//! Copies from the device to the host: whole buffers (`read_buffer`, `read_buffer_later`), and
//! long ones streamed a chunk at a time through one reused staging buffer (`stream_buffer`).

use super::Gpu;
use crate::error::{Error, Result};

/// The most bytes `Staging` holds: a checkpoint's largest tensor (FCN's 4096 x 4096 layer, 64 MiB)
/// goes through in 4 chunks instead of a staging buffer and a host copy of its own.
const CHUNK_BYTES: u64 = 16 << 20;

/// `bytes` rounded up to what a buffer copy may move.
fn copy_size(bytes: u64) -> u64 {
    bytes.div_ceil(wgpu::COPY_BUFFER_ALIGNMENT) * wgpu::COPY_BUFFER_ALIGNMENT
}

/// A download whose copy is submitted; `wait` returns the bytes.
pub(crate) struct PendingRead {
    staging: wgpu::Buffer,
    bytes: u64,
    submission: wgpu::SubmissionIndex,
    mapped: std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

impl PendingRead {
    /// Waits for the submission that holds the copy (not for work recorded since), then reads.
    pub(crate) fn wait(self, gpu: &Gpu) -> Result<Vec<u8>> {
        self.read_mapped(gpu, |bytes| Ok(bytes.to_vec()))
    }

    /// Waits for the copy and the mapping, then hands the bytes to `read` and unmaps.
    fn read_mapped<R>(self, gpu: &Gpu, read: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
        gpu.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(self.submission),
                timeout: None,
            })
            .map_err(|e| gpu.wait_failed(&e))?;
        gpu.check()?;
        // The map callback runs in whichever thread polls next; keep polling until it has.
        let mapped = loop {
            match self.mapped.try_recv() {
                Ok(r) => break r,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    gpu.device
                        .poll(wgpu::PollType::Poll)
                        .map_err(|e| gpu.wait_failed(&e))?;
                    std::thread::yield_now();
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(Error::Device("download was cancelled".into()));
                }
            }
        };
        mapped.map_err(|e| Error::Device(format!("download failed: {e}")))?;
        let result = {
            let range = self
                .staging
                .get_mapped_range(..)
                .map_err(|e| Error::Device(format!("download failed: {e}")))?;
            read(&range[..self.bytes as usize])
        };
        self.staging.unmap();
        result
    }
}

/// A staging buffer reused by every `stream_buffer` of one download, such as a checkpoint's.
pub(crate) struct Staging(wgpu::Buffer);

impl Gpu {
    /// Copies `bytes` bytes from byte `start` of `buffer` to the host (waits for all recorded
    /// work).
    pub(crate) fn read_buffer(
        &self,
        buffer: &wgpu::Buffer,
        start: u64,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        self.read_buffer_later(buffer, start, bytes).wait(self)
    }

    /// Starts copying `bytes` bytes from byte `start` (a multiple of 4) of `buffer` to the host:
    /// everything recorded so far is submitted, and the host may record more work before collecting
    /// the bytes with `PendingRead::wait`, which then waits only for this submission.
    pub(crate) fn read_buffer_later(
        &self,
        buffer: &wgpu::Buffer,
        start: u64,
        bytes: u64,
    ) -> PendingRead {
        let staging = self.staging_buffer(copy_size(bytes));
        self.copy_to_staging(buffer, start, &staging, bytes)
    }

    /// A staging buffer for streaming downloads of at most `largest` bytes each: as large as the
    /// largest, up to `CHUNK_BYTES`.
    pub(crate) fn staging(&self, largest: u64) -> Staging {
        Staging(self.staging_buffer(copy_size(largest).min(CHUNK_BYTES)))
    }

    /// Hands `bytes` bytes from byte `start` (a multiple of 4) of `buffer` to `sink` in order, a
    /// chunk of at most `staging`'s size at a time, each straight from the mapping (waits for all
    /// recorded work). An FCN's checkpoints (129 MiB of weights, twice that of Adam's state) are
    /// written this way without a host copy: fresh host pages cost time (PERFORMANCE.md, entry 49).
    pub(crate) fn stream_buffer(
        &self,
        staging: &Staging,
        buffer: &wgpu::Buffer,
        start: u64,
        bytes: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let chunk = staging.0.size();
        let mut done = 0;
        while done < bytes {
            let n = chunk.min(bytes - done);
            self.copy_to_staging(buffer, start + done, &staging.0, n)
                .read_mapped(self, |b| sink(b))?;
            done += n;
        }
        Ok(())
    }

    fn staging_buffer(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgnn download staging"),
            size: bytes.max(wgpu::COPY_BUFFER_ALIGNMENT),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Records a copy of `bytes` bytes (rounded up to `copy_size`) into `staging` after everything
    /// recorded so far, submits it, and asks for the mapping.
    fn copy_to_staging(
        &self,
        buffer: &wgpu::Buffer,
        start: u64,
        staging: &wgpu::Buffer,
        bytes: u64,
    ) -> PendingRead {
        // The encoder stays locked until it is submitted, so work other threads record next is
        // submitted after it.
        let mut slot = self.encoder.lock().expect("encoder lock");
        let mut encoder = slot.take().unwrap_or_else(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wgnn ops"),
                })
        });
        encoder.copy_buffer_to_buffer(buffer, start, staging, 0, copy_size(bytes));
        let submission = self.queue.submit([encoder.finish()]);
        drop(slot);
        let (sink, mapped) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sink.send(r);
        });
        PendingRead {
            staging: staging.clone(),
            bytes,
            submission,
            mapped,
        }
    }
}
