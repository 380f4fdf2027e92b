//! File helpers every writer shares: atomic writes (temp file, sync, rename, folder sync), and
//! destination checks made before any work, so a mistyped path is reported at once.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |file| file.write(bytes))
}

/// `write_atomically` for contents `write` produces piece by piece (a checkpoint too large to
/// hold twice). If `write` fails, the temporary file is removed and `path` is left as it was.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut PartFile) -> Result<()>,
) -> Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let io = |e: std::io::Error| Error::File(format!("cannot write {}: {e}", path.display()));
    let mut part = PartFile {
        file: std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?),
        path,
    };
    let written = write(&mut part).and_then(|()| {
        let file = part.file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    });
    if let Err(e) = written {
        // Whatever was written is incomplete; the file it was to replace is untouched.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself reaches the disk only with its folder; without this a power cut could
    // undo it after files it made stale were removed. Folders cannot be opened on every platform.
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        dir.sync_all().map_err(io)?;
    }
    Ok(())
}

/// The temporary file `write_atomically_with` fills: writes name the destination in their errors.
pub struct PartFile<'a> {
    file: std::io::BufWriter<std::fs::File>,
    path: &'a Path,
}

impl PartFile<'_> {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.file
            .write_all(bytes)
            .map_err(|e| Error::File(format!("cannot write {}: {e}", self.path.display())))
    }
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
