//! Atomic file creation: write to a temporary name in the same directory, flush, fsync,
//! rename into place. A crash or `kill -9` at any moment leaves either the old file or the
//! complete new one, never a half-written file. Every output spreadbench writes goes through
//! here.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `<path>.tmp-<pid>`: the temporary name [`write_atomic`] writes to before renaming.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}

/// Creates `path` atomically: `fill` writes the content (buffered) to `<path>.tmp-<pid>` in
/// the same directory, which is then flushed, fsynced and renamed over `path`. On any failure
/// the temporary file is removed and `path` is left as it was.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    match result {
        Ok(()) => {
            sync_parent_dir(path);
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Best effort: makes the rename durable on Unix by syncing the directory entry.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
