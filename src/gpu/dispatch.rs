//! Launching kernels within the device's limits: buffer views that respect the binding size and
//! offset alignment, batch chunking, and workgroup grids folded into three dimensions.

use std::ops::Range;

use super::{Gpu, Shader};
use crate::error::{Error, Result};

/// What a view can be cut from: a buffer holding a shaped run of 4-byte elements. `Tensor`
/// implements it, so this layer needs nothing from the layers above.
pub(crate) trait Elements {
    fn buffer(&self) -> &wgpu::Buffer;
    fn shape(&self) -> &[usize];
    /// Elements before the first one in the buffer.
    fn offset(&self) -> usize;
    fn numel(&self) -> usize {
        self.shape().iter().product()
    }
}

/// A range of a tensor bound as one storage binding. The binding starts at an aligned byte offset,
/// so the kernel adds `shift` elements to reach the range's first element.
pub(crate) struct View<'a> {
    pub binding: wgpu::BufferBinding<'a>,
    pub shift: u32,
}

/// A storage binding of a shader by name: the WGSL global `name`, declared at `@binding(binding)`
/// (tests/shaders checks the pair against the WGSL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub name: &'static str,
    pub binding: u32,
}

/// One kernel launch: binding 0 is the uniform `params`, the rest are storage buffers in their
/// slots and, for some kernels, textures at given bindings. Built with `new`, the optional parts
/// added, then `run`.
pub(crate) struct Launch<'a> {
    shader: Shader,
    entry: &'static str,
    params: &'a [u8],
    buffers: &'a [(Slot, &'a View<'a>)],
    /// Textures by binding number (`Gpu::with_texture_copies`'s copies of storage bindings).
    textures: &'a [(u32, &'a wgpu::TextureView)],
    /// `override` constants besides the workgroup size `WG`, by name.
    constants: &'a [(&'static str, f64)],
    /// Floating-point operations, for the profiler's GFLOP/s (0 where not counted).
    flops: f64,
    /// Bytes read plus bytes written, for the profiler's GB/s, where the bindings' sizes misstate
    /// them; None: the bindings' sizes, each range once.
    bytes: Option<f64>,
    /// What the launch computes where the entry point alone does not say (its override
    /// constants choose), for the profiler's table and error messages.
    variant: Option<&'static str>,
}

impl<'a> Launch<'a> {
    /// `entry` of `shader` with the Pod `params` at binding 0 and `buffers` in their slots.
    pub(crate) fn new<P: bytemuck::Pod>(
        shader: Shader,
        entry: &'static str,
        params: &'a P,
        buffers: &'a [(Slot, &'a View<'a>)],
    ) -> Launch<'a> {
        Launch {
            shader,
            entry,
            params: bytemuck::bytes_of(params),
            buffers,
            textures: &[],
            constants: &[],
            flops: 0.0,
            bytes: None,
            variant: None,
        }
    }

    /// Override constants besides `WG`, which the device's tuning sets (each value compiles its
    /// own pipeline).
    pub(crate) fn constants(self, constants: &'a [(&'static str, f64)]) -> Launch<'a> {
        Launch { constants, ..self }
    }

    /// Textures the kernel binds besides its buffers, by binding number.
    pub(crate) fn textures(self, textures: &'a [(u32, &'a wgpu::TextureView)]) -> Launch<'a> {
        Launch { textures, ..self }
    }

    /// Names what this launch computes, where its override constants choose it.
    pub(crate) fn variant(self, variant: &'static str) -> Launch<'a> {
        Launch {
            variant: Some(variant),
            ..self
        }
    }

    /// Tells the profiler how many floating-point operations the kernel performs.
    pub(crate) fn flops(self, flops: f64) -> Launch<'a> {
        Launch { flops, ..self }
    }

    /// Tells the profiler how many bytes the kernel reads plus writes, where its bindings' sizes
    /// misstate them (a buffer both read and written).
    pub(crate) fn bytes(self, bytes: f64) -> Launch<'a> {
        Launch {
            bytes: Some(bytes),
            ..self
        }
    }

    /// Records `invocations` invocations (one-dimensional kernels; the device's workgroup size
    /// makes the grid) into the open encoder.
    pub(crate) fn run(&self, gpu: &Gpu, invocations: usize) -> Result<()> {
        gpu.launch(self, Grid::Invocations(invocations as u64))
    }

    /// Records `workgroups` workgroups of the device's tile (tiled.wgsl's `TX` x `TY`
    /// invocations, `TK`-deep stages) into the open encoder.
    pub(crate) fn run_tiles(&self, gpu: &Gpu, workgroups: usize) -> Result<()> {
        gpu.launch(self, Grid::Tiles(workgroups as u64))
    }
}

/// The bytes of a launch's bindings, a range bound twice (as f32 and as vec4 arrays) counted once:
/// the kernel reads it through one of them.
pub(crate) fn distinct_binding_bytes(buffers: &[(Slot, &View)]) -> f64 {
    let mut distinct: Vec<&wgpu::BufferBinding> = Vec::new();
    for (_, view) in buffers {
        let b = &view.binding;
        if !distinct
            .iter()
            .any(|d| d.buffer == b.buffer && d.offset == b.offset && d.size == b.size)
        {
            distinct.push(b);
        }
    }
    distinct
        .iter()
        .map(|b| b.size.map_or(0, |s| s.get()))
        .sum::<u64>() as f64
}

/// `len` elements as consecutive ranges of at most `cap` (one empty range where `len` is 0).
pub(crate) fn split_ranges(len: usize, cap: usize) -> Vec<Range<usize>> {
    (0..len.max(1))
        .step_by(cap)
        .map(|s| s..(s + cap).min(len))
        .collect()
}

/// How a launch's size is given.
enum Grid {
    /// Invocations of a kernel whose workgroup size is the override `WG`.
    Invocations(u64),
    /// Workgroups of a kernel whose workgroup is the tile (overrides `TX`, `TY`, `TK`).
    Tiles(u64),
}

impl Gpu {
    /// Elements `[start, start + len)` of `t` as a binding. Panics if the range is outside the tensor
    /// (ops check shapes before they build views); the binding-size limit is enforced by planning.
    pub(crate) fn view<'a>(&self, t: &'a impl Elements, start: usize, len: usize) -> View<'a> {
        assert!(start + len <= t.numel(), "view outside its tensor");
        let align = self.plan.binding_offset_alignment;
        let first = ((t.offset() + start) * 4) as u64;
        let offset = first / align * align;
        // The end on a 32-byte boundary (and at least one element past the start), so kernels
        // may also read the view as array<vec4<f32>> or, where the offset is a multiple of 32, as
        // array<vec4<u64>>; pool buffers are at least 256 bytes and multiples of 32, so this
        // stays inside, and only a view already at the binding limit stops short of it.
        let exact_end = ((t.offset() + start + len.max(1)) * 4) as u64;
        let end = exact_end
            .next_multiple_of(32)
            .min(t.buffer().size())
            .min(offset + self.plan.max_binding_bytes)
            .max(exact_end);
        View {
            binding: wgpu::BufferBinding {
                buffer: t.buffer(),
                offset,
                size: wgpu::BufferSize::new(end - offset),
            },
            shift: ((first - offset) / 4) as u32,
        }
    }

    /// The whole tensor as a binding; an error naming it if it is larger than one binding may be.
    pub(crate) fn whole<'a>(&self, t: &'a impl Elements, name: &str) -> Result<View<'a>> {
        let bytes = t.numel() as u64 * 4;
        if bytes > self.plan.max_binding_bytes {
            return Err(Error::Limit(format!(
                "{name} {:?} needs {bytes} bytes in one binding; this device binds at most {} bytes",
                t.shape(),
                self.plan.max_binding_bytes
            )));
        }
        Ok(self.view(t, 0, t.numel()))
    }

    /// Largest number of elements a view may cover, leaving room for the alignment shift.
    pub(crate) fn max_view_elems(&self) -> usize {
        let slack = self.plan.binding_offset_alignment.saturating_sub(4);
        (self.plan.max_binding_bytes.saturating_sub(slack) / 4).max(1) as usize
    }

    /// Splits `n` batch items into consecutive chunks such that every batched tensor's slice of a
    /// chunk fits in one binding. `per_item` lists (tensor name, elements per batch item).
    pub(crate) fn batch_chunks(
        &self,
        n: usize,
        per_item: &[(&str, usize)],
    ) -> Result<Vec<Range<usize>>> {
        let cap = self.max_view_elems();
        let mut items = n.max(1);
        for &(name, elems) in per_item {
            if elems > cap {
                return Err(Error::Limit(format!(
                    "one batch item of {name} needs {} bytes in one binding; this device binds \
                     at most {} bytes; use smaller images",
                    elems * 4,
                    self.plan.max_binding_bytes
                )));
            }
            items = items.min(cap / elems.max(1));
        }
        Ok((0..n)
            .step_by(items)
            .map(|s| s..(s + items).min(n))
            .collect())
    }

    /// Splits `len` elements into ranges that each fit in one binding, each a whole number of
    /// binding alignments and 32-byte words long where a binding holds one, so every range's
    /// views keep the first's shift: where the shift became 1, an update past 128 MiB took its
    /// second range element by element (SGD on 48 M parameters 377-511 ms, now 164 ms).
    pub(crate) fn range_chunks(&self, len: usize) -> Vec<Range<usize>> {
        let unit = (self.plan.binding_offset_alignment / 4).max(8) as usize;
        let cap = self.max_view_elems();
        split_ranges(len, if cap >= unit { cap / unit * unit } else { cap })
    }

    fn launch(&self, l: &Launch, size: Grid) -> Result<()> {
        let (workgroups, mut constants) = match size {
            Grid::Invocations(invocations) => {
                let workgroup = self.tuning.workgroup_size;
                (
                    invocations.div_ceil(u64::from(workgroup)),
                    vec![("WG", f64::from(workgroup))],
                )
            }
            Grid::Tiles(workgroups) => {
                let tile = self.tuning.tile;
                (
                    workgroups,
                    vec![
                        ("TX", f64::from(tile.tx)),
                        ("TY", f64::from(tile.ty)),
                        ("TK", f64::from(tile.tk)),
                    ],
                )
            }
        };
        if workgroups == 0 {
            return Ok(());
        }
        self.check_lost()?;
        let grid = self.fold(workgroups, l.shader, l.entry)?;
        constants.extend_from_slice(l.constants);
        let pipeline = self.pipeline(l.shader, l.entry, &constants)?;
        // Not `create_buffer_init`: its mapping panics once the device is lost.
        let params = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(l.entry),
            size: (l.params.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&params, 0, l.params);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        entries.extend(l.buffers.iter().map(|(slot, view)| wgpu::BindGroupEntry {
            binding: slot.binding,
            resource: wgpu::BindingResource::Buffer(view.binding.clone()),
        }));
        entries.extend(
            l.textures
                .iter()
                .map(|&(binding, view)| wgpu::BindGroupEntry {
                    binding,
                    resource: wgpu::BindingResource::TextureView(view),
                }),
        );
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(l.entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!(
                "kernel {}::{} cannot bind its buffers: {e}",
                l.shader.file_name(),
                l.entry
            )));
        }
        let kernel = || match l.variant {
            Some(v) => format!("{}::{} ({v})", l.shader.file_name(), l.entry),
            None => format!("{}::{}", l.shader.file_name(), l.entry),
        };
        let bytes = l.bytes.unwrap_or_else(|| distinct_binding_bytes(l.buffers));
        let (profiler, slot) = self.reserve_timestamps(kernel, l.flops, bytes)?;
        let timestamp_writes = match (profiler.as_ref(), slot) {
            (Some(p), Some(index)) => Some(wgpu::ComputePassTimestampWrites {
                query_set: &p.query_set,
                beginning_of_pass_write_index: Some(index),
                end_of_pass_write_index: Some(index + 1),
            }),
            _ => None,
        };
        self.with_encoder(|encoder| {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(l.entry),
                timestamp_writes,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        });
        Ok(())
    }

    /// Folds a workgroup count into an (x, y, z) grid within the per-dimension limit, spreading
    /// it evenly over the rows it needs so the overshoot stays under one row (idle workgroups cost
    /// lavapipe about what busy ones do: PERFORMANCE.md 29). Kernels recover the linear workgroup
    /// index with `workgroup_index` and guard the overshoot.
    fn fold(&self, workgroups: u64, shader: Shader, entry: &str) -> Result<[u32; 3]> {
        let max = u64::from(self.plan.max_workgroups_per_dim);
        let rows = workgroups.div_ceil(max);
        let x = workgroups.div_ceil(rows);
        let y = rows.min(max);
        let z = rows.div_ceil(y);
        if z > max {
            return Err(Error::Limit(format!(
                "kernel {}::{entry} needs {workgroups} workgroups, more than this device's \
                 {max}^3 grid",
                shader.file_name()
            )));
        }
        Ok([x as u32, y as u32, z as u32])
    }
}
