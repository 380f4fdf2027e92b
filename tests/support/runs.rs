//! Reading what a training run left in its folder, for tests that compare two runs bit for bit.

use std::collections::BTreeMap;
use std::path::Path;

/// Every tensor of a safetensors file, as raw bytes by name.
pub fn tensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

/// The rows of `dir/metrics.csv` without their seconds (epoch, training loss, validation metric).
pub fn losses(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect()
}
