//! `Tensor`: a shape over a pooled GPU buffer of 4-byte elements (f32, or i32 for labels and indices).
//! Cloning a tensor shares its buffer; the buffer returns to the pool when the last handle drops.
//! A tensor may also be a part of a larger one (`Tensor::part`): the optimiser keeps all parameters
//! in one buffer so that one launch (or a few, ops::optim) updates them all.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::{Gpu, Staging};

/// Element type of a tensor. Every type is 4 bytes wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I32,
}

struct Storage {
    buffer: Option<wgpu::Buffer>,
    /// Bytes asked of the pool (the buffer may be larger).
    bytes: u64,
    pool: Arc<crate::gpu::pool::BufferPool>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer, self.bytes);
        }
    }
}

/// An f32 download in flight (`Tensor::to_f32_later`).
pub struct Download(crate::gpu::PendingRead);

impl Download {
    /// Waits for the submission holding the copy and returns the values.
    pub fn wait(self, gpu: &Gpu) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.0.wait(gpu)?))
    }
}

/// A dense, row-major (NCHW) tensor on the GPU, `offset` elements into its buffer.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    offset: usize,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.dtype, self.shape)
    }
}

impl Tensor {
    /// A tensor whose contents are undefined until a kernel writes them.
    pub fn uninit(gpu: &Gpu, shape: &[usize], dtype: DType) -> Tensor {
        let numel: usize = shape.iter().product();
        let bytes = (numel.max(1) * 4) as u64;
        let buffer = gpu.pool.take(&gpu.device, bytes);
        Tensor {
            storage: Arc::new(Storage {
                buffer: Some(buffer),
                bytes,
                pool: Arc::clone(&gpu.pool),
            }),
            offset: 0,
            shape: shape.to_vec(),
            dtype,
        }
    }

    /// Elements `[start, start + numel(shape))` of this tensor as a tensor of `shape` sharing its
    /// buffer. `start` is a multiple of `Tensor::part_alignment`, so a kernel binding the part
    /// whole sees it start at its binding's first element, as it does any other tensor.
    pub(crate) fn part(&self, gpu: &Gpu, start: usize, shape: &[usize]) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        crate::ensure_shape!(
            start.is_multiple_of(Tensor::part_alignment(gpu)) && start + numel <= self.numel(),
            "part [{start}, {}) of {:?} is outside it or unaligned",
            start + numel,
            self.shape
        );
        Ok(Tensor {
            storage: Arc::clone(&self.storage),
            offset: self.offset + start,
            shape: shape.to_vec(),
            dtype: self.dtype,
        })
    }

    /// Elements a part's start must be a multiple of: the device's storage-binding offset alignment.
    pub(crate) fn part_alignment(gpu: &Gpu) -> usize {
        (gpu.plan_limits().binding_offset_alignment / 4).max(1) as usize
    }

    /// Whether this tensor is the part of `whole` that starts at its element `start`.
    pub(crate) fn is_part_of(&self, whole: &Tensor, start: usize) -> bool {
        Arc::ptr_eq(&self.storage, &whole.storage) && self.offset == whole.offset + start
    }

    /// Byte offset of the first element in the buffer.
    pub(crate) fn byte_offset(&self) -> u64 {
        self.offset as u64 * 4
    }

    /// A tensor of zeros.
    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let t = Tensor::uninit(gpu, shape, DType::F32);
        gpu.with_encoder(|e| e.clear_buffer(t.buffer(), 0, None));
        t
    }

    pub fn from_f32(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        Tensor::upload(
            gpu,
            shape,
            DType::F32,
            bytemuck::cast_slice(data),
            data.len(),
        )
    }

    /// An f32 tensor from its values' little-endian bytes, at any alignment (a safetensors file's
    /// data, uploaded without a copy into a `Vec<f32>` first).
    pub fn from_f32_bytes(gpu: &Gpu, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
        crate::ensure_shape!(
            bytes.len().is_multiple_of(4),
            "{} bytes are not whole f32 values",
            bytes.len()
        );
        Tensor::upload(gpu, shape, DType::F32, bytes, bytes.len() / 4)
    }

    pub fn from_i32(gpu: &Gpu, shape: &[usize], data: &[i32]) -> Result<Tensor> {
        Tensor::upload(
            gpu,
            shape,
            DType::I32,
            bytemuck::cast_slice(data),
            data.len(),
        )
    }

    fn upload(
        gpu: &Gpu,
        shape: &[usize],
        dtype: DType,
        bytes: &[u8],
        len: usize,
    ) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        crate::ensure_shape!(
            numel == len,
            "shape {shape:?} holds {numel} elements but {len} were given"
        );
        let t = Tensor::uninit(gpu, shape, dtype);
        gpu.write_buffer(t.buffer(), bytes);
        Ok(t)
    }

    /// Copies the tensor to the host as f32 (waits for all recorded work).
    pub fn to_f32(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        crate::ensure_shape!(self.dtype == DType::F32, "tensor {self:?} is not f32");
        let bytes =
            gpu.read_buffer(self.buffer(), self.byte_offset(), (self.numel() * 4) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Hands the f32 tensor's bytes to `sink` in order, a chunk at a time through `staging`
    /// (waits for all recorded work): a checkpoint is written without a host copy of it.
    pub(crate) fn stream_f32_bytes(
        &self,
        gpu: &Gpu,
        staging: &Staging,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        crate::ensure_shape!(self.dtype == DType::F32, "tensor {self:?} is not f32");
        let bytes = (self.numel() * 4) as u64;
        gpu.stream_buffer(staging, self.buffer(), self.byte_offset(), bytes, sink)
    }

    /// Starts copying an f32 tensor to the host: submits what is recorded so far and returns at
    /// once, so the next step can be recorded while the GPU finishes this one.
    pub fn to_f32_later(&self, gpu: &Gpu) -> Result<Download> {
        crate::ensure_shape!(self.dtype == DType::F32, "tensor {self:?} is not f32");
        Ok(Download(gpu.read_buffer_later(
            self.buffer(),
            self.byte_offset(),
            (self.numel() * 4) as u64,
        )))
    }

    /// Copies the tensor to the host as i32 (waits for all recorded work).
    pub fn to_i32(&self, gpu: &Gpu) -> Result<Vec<i32>> {
        crate::ensure_shape!(self.dtype == DType::I32, "tensor {self:?} is not i32");
        let bytes =
            gpu.read_buffer(self.buffer(), self.byte_offset(), (self.numel() * 4) as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The same elements under another shape with as many elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        crate::ensure_shape!(
            numel == self.numel(),
            "cannot reshape {:?} ({} elements) to {shape:?}",
            self.shape,
            self.numel()
        );
        Ok(Tensor {
            storage: Arc::clone(&self.storage),
            offset: self.offset,
            shape: shape.to_vec(),
            dtype: self.dtype,
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.storage
            .buffer
            .as_ref()
            .expect("tensor buffer present until drop")
    }
}

impl crate::gpu::Elements for Tensor {
    fn buffer(&self) -> &wgpu::Buffer {
        Tensor::buffer(self)
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn offset(&self) -> usize {
        self.offset
    }
}
