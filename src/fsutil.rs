//! File helpers every writer shares: atomic writes (temp file, sync, rename, folder sync), and
//! destination checks made before any work, so a mistyped path is reported at once.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let io = |e: std::io::Error| Error::File(format!("cannot write {}: {e}", path.display()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself reaches the disk only with its folder; without this a power cut could
    // undo it after files it made stale were removed. Folders cannot be opened on every platform.
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        dir.sync_all().map_err(io)?;
    }
    Ok(())
}

/// Creates `dir` and its parents, naming it in the error.
pub fn create_folder(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::File(format!("cannot create {}: {e}", dir.display())))
}

/// Fails unless `dir` is a folder or can be created as one (the nearest part of the path that
/// exists must be a folder). Checked before any work, so a mistyped --out is reported at once
/// rather than after all the inference; permissions are left to the write itself.
pub fn check_folder_destination(dir: &Path) -> Result<()> {
    match dir.ancestors().find(|a| a.exists()) {
        Some(existing) if !existing.is_dir() => Err(Error::File(format!(
            "cannot create {}: {} is not a folder",
            dir.display(),
            existing.display()
        ))),
        _ => Ok(()),
    }
}

/// Fails unless `file` can be written: it is not a folder, and its folder exists (nothing creates
/// it). Checked before any work, like `check_folder_destination`.
pub fn check_file_destination(file: &Path) -> Result<()> {
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if file.is_dir() {
        return Err(Error::File(format!(
            "cannot write {}: it is a folder",
            file.display()
        )));
    }
    if !folder.is_dir() {
        return Err(Error::File(format!(
            "cannot write {}: {} is not an existing folder",
            file.display(),
            folder.display()
        )));
    }
    Ok(())
}
