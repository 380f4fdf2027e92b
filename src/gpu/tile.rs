//! The GPU family's workgroup tile (tiled.wgsl's `TX`, `TY`, `TK`), chosen within the device's
//! limits.

/// The workgroup tile of the GPU family (tiled.wgsl's `override` constants): `tx` x `ty`
/// invocations, each computing a 4x4 block, so the workgroup computes a (4 ty) x (4 tx) tile of
/// the output, reading `tk` columns of A and rows of B per stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub tx: u32,
    pub ty: u32,
    pub tk: u32,
}

impl Tile {
    /// Rows and columns of the output each invocation computes (tiled.wgsl's 4 x 4 block).
    pub const BLOCK: u32 = 4;

    /// The tiles wgnn chooses from, best first.
    pub const PREFERRED: [Tile; 6] = [
        Tile::new(16, 16, 16),
        Tile::new(16, 8, 16),
        Tile::new(8, 8, 16),
        Tile::new(8, 8, 8),
        Tile::new(8, 4, 8),
        Tile::new(4, 4, 8),
    ];

    const fn new(tx: u32, ty: u32, tk: u32) -> Tile {
        Tile { tx, ty, tk }
    }

    /// Workgroup memory the tile stages: a (4 ty) x tk tile of A and a tk x (4 tx) tile of B.
    pub fn workgroup_bytes(self) -> u32 {
        4 * self.tk * Tile::BLOCK * (self.tx + self.ty)
    }

    /// Rows (m) and columns (n) of the output one workgroup computes.
    pub fn output(self) -> [usize; 2] {
        [
            (self.ty * Tile::BLOCK) as usize,
            (self.tx * Tile::BLOCK) as usize,
        ]
    }

    /// The largest of the preferred tiles the limits allow: 64x64 outputs from 256 invocations
    /// with 16-deep stages (8 KiB of workgroup memory) first, smaller where a device grants less.
    /// `invocations` caps the workgroup below the device's limit (`WGNN_WORKGROUP_SIZE`).
    pub(super) fn within(limits: &wgpu::Limits, invocations: Option<u32>) -> Tile {
        let max_invocations = invocations
            .map_or(limits.max_compute_invocations_per_workgroup, |i| {
                i.min(limits.max_compute_invocations_per_workgroup)
            });
        let fits = |t: &Tile| {
            t.tx * t.ty <= max_invocations
                && t.tx <= limits.max_compute_workgroup_size_x
                && t.ty <= limits.max_compute_workgroup_size_y
                && t.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
        };
        let tiles = Tile::PREFERRED;
        tiles
            .into_iter()
            .find(fits)
            .unwrap_or(tiles[tiles.len() - 1])
    }
}
