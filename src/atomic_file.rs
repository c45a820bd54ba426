//! Writing an output file without ever damaging what the path points at. Every output
//! spreadbench writes goes through here.
//!
//! Sessions and CI run as root, where nothing stops a rename over `/dev/null` or over a
//! symlink, so the kind of file at the path decides how it is written:
//! - absent or a regular file: written to a hidden temporary name in the same directory
//!   (`.<name>.tmp-<pid>`), flushed, fsynced and renamed into place. A crash or `kill -9`
//!   at any moment leaves the old file or the complete new one, never a half-written file;
//! - a symlink: resolved (chains and dangling links too), and its target written as above,
//!   so the link stays a link;
//! - a character device or a FIFO, or anything reached through `/proc` (`/dev/stdout`,
//!   `/dev/fd/N`): written straight through, with no temporary file and no rename;
//! - anything else (a directory, a socket, a block device) is refused as bad input.
//!
//! A write can be told to stop (a signal flag): it then stops within a chunk, removes its
//! temporary file and leaves the path as it was.

use crate::InputError;
use anyhow::Context;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The most bytes handed to one `write` call, so a stop request is noticed within a chunk
/// even when the content is written as one large buffer.
const CHUNK: usize = 1 << 20;

/// Symlinks followed before a path is refused as a loop (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

/// `<dir>/.<name>.tmp-<pid>`: the hidden temporary name a file is written to before it is
/// renamed to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or(path.as_os_str()));
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// How a path is written; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Write to a temporary file beside `path` (a regular file, or absent; never a symlink)
    /// and rename it over `path`.
    Replace { path: PathBuf, mode: Option<u32> },
    /// Open `path` and write straight through (a character device, a FIFO, a `/proc` link).
    Stream { path: PathBuf },
}

/// Decides how `path` can be written, following symlinks. A directory, socket or block
/// device is an [`InputError`]; a missing parent directory or a symlink loop is a plain
/// error, like any path the system cannot open (messages are one line and leave the path
/// to the callers' context).
pub fn target(path: &Path) -> anyhow::Result<Target> {
    use std::os::unix::fs::PermissionsExt;
    if path.as_os_str().is_empty() {
        return Err(InputError::new("is an empty path").into());
    }
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        let meta = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                check_parent_dir(&p)?;
                return Ok(Target::Replace {
                    path: p,
                    mode: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                anyhow::bail!("a parent of {} is not a directory", p.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", p.display())),
        };
        let ft = meta.file_type();
        if ft.is_symlink() {
            // `/proc/<pid>/fd/N` links name open files (pipes, terminals, deleted files)
            // that cannot be reached by following the link's text.
            if in_procfs(&p) {
                let m = fs::metadata(&p).with_context(|| format!("cannot open {}", p.display()))?;
                let ft = m.file_type();
                return if ft.is_file() || ft.is_fifo() || ft.is_char_device() {
                    Ok(Target::Stream { path: p })
                } else {
                    Err(refusal(&ft))
                };
            }
            let link =
                fs::read_link(&p).with_context(|| format!("cannot read link {}", p.display()))?;
            p = match p.parent() {
                Some(dir) => dir.join(link),
                None => link,
            };
            continue;
        }
        if ft.is_file() {
            return Ok(Target::Replace {
                path: p,
                mode: Some(meta.permissions().mode()),
            });
        }
        if ft.is_fifo() || ft.is_char_device() {
            return Ok(Target::Stream { path: p });
        }
        return Err(refusal(&ft));
    }
    anyhow::bail!("too many levels of symbolic links at {}", p.display())
}

fn refusal(ft: &fs::FileType) -> anyhow::Error {
    let what = if ft.is_dir() {
        "a directory"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    InputError::new(format!(
        "is {what}; only a regular file, a FIFO or a character device can be written"
    ))
    .into()
}

fn in_procfs(p: &Path) -> bool {
    p.parent()
        .and_then(|d| fs::canonicalize(d).ok())
        .is_some_and(|d| d.starts_with("/proc"))
}

fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn check_parent_dir(p: &Path) -> anyhow::Result<()> {
    let dir = parent_dir(p);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!("{} is not a directory", dir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            anyhow::bail!("directory {} does not exist", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", dir.display())),
    }
}

/// The error a write returns when its stop flag was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped before it was complete")
    }
}

impl std::error::Error for Stopped {}

/// The file being written: a temporary file or the device itself. Writes go out in chunks
/// of at most 1 MiB and fail with [`Stopped`] once the stop flag is set.
pub struct OutputFile<'a> {
    file: fs::File,
    stop: Option<&'a AtomicBool>,
}

impl OutputFile<'_> {
    fn check(&self) -> io::Result<()> {
        if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            Err(io::Error::other(Stopped))
        } else {
            Ok(())
        }
    }
}

impl Write for OutputFile<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.file.write(&buf[..buf.len().min(CHUNK)])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A file written in full under its temporary name (or already written through to a
/// device), waiting for [`Staged::commit`] to rename it into place. Dropping it uncommitted
/// removes the temporary file.
#[must_use = "a staged file is removed unless committed"]
pub struct Staged {
    tmp: Option<PathBuf>,
    dest: PathBuf,
}

impl Staged {
    /// Renames the temporary file over the destination and makes the rename durable.
    pub fn commit(mut self) -> anyhow::Result<()> {
        if let Some(tmp) = self.tmp.take() {
            if let Err(e) = fs::rename(&tmp, &self.dest) {
                let _ = fs::remove_file(&tmp);
                return Err(e.into());
            }
            sync_dir(parent_dir(&self.dest));
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes `path` in full as [`write_atomic`] does, but leaves the rename to
/// [`Staged::commit`], so several files can be written first and placed together. With a
/// `stop` flag, a write that sees it set fails with [`Stopped`] (its temporary file
/// removed), including after the last byte and before the rename.
pub fn stage(
    path: &Path,
    stop: Option<&AtomicBool>,
    fill: impl FnOnce(&mut io::BufWriter<OutputFile<'_>>) -> io::Result<()>,
) -> anyhow::Result<Staged> {
    let stopped = || stop.is_some_and(|s| s.load(Ordering::Relaxed));
    if stopped() {
        return Err(io::Error::other(Stopped).into());
    }
    let (file, staged) = match target(path)? {
        Target::Stream { path: dev } => {
            let file = fs::OpenOptions::new().append(true).open(&dev)?;
            (
                file,
                Staged {
                    tmp: None,
                    dest: dev,
                },
            )
        }
        Target::Replace { path: dest, mode } => {
            let tmp = temp_path(&dest);
            let file = create_temp(&tmp, mode)?;
            (
                file,
                Staged {
                    tmp: Some(tmp),
                    dest,
                },
            )
        }
    };
    // From here on, an early return drops `staged`, which removes the temporary file.
    let mut w = io::BufWriter::with_capacity(CHUNK, OutputFile { file, stop });
    fill(&mut w)?;
    let out = w.into_inner().map_err(|e| e.into_error())?;
    if staged.tmp.is_some() {
        out.file.sync_all()?;
    }
    drop(out);
    if stopped() {
        return Err(io::Error::other(Stopped).into());
    }
    Ok(staged)
}

/// Creates the temporary file fresh: `create_new` never follows a symlink planted at the
/// temporary name, and a leftover of an earlier process with the same id is removed first.
fn create_temp(tmp: &Path, mode: Option<u32>) -> io::Result<fs::File> {
    let open = || {
        let mut o = fs::OpenOptions::new();
        o.write(true).create_new(true);
        if let Some(m) = mode {
            o.mode(m & 0o7777);
        }
        o.open(tmp)
    };
    let file = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()?
        }
        r => r?,
    };
    if let Some(m) = mode {
        // The umask applied at creation; the replaced file's own bits are what it keeps.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(m & 0o7777))?;
    }
    Ok(file)
}

/// Writes `path` with the content `fill` writes (buffered), as the module documentation
/// describes: atomically through a hidden temporary file when `path` is absent or a regular
/// file (or a symlink to one), straight through for a device or FIFO. On any failure the
/// temporary file is removed and `path` is left as it was. Errors do not repeat the path:
/// callers name the file in their context.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut io::BufWriter<OutputFile<'_>>) -> io::Result<()>,
) -> anyhow::Result<()> {
    stage(path, None, fill)?.commit()
}

/// Best effort: makes a rename durable by syncing the directory entry.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn input_error(e: &anyhow::Error) -> &str {
        &e.downcast_ref::<InputError>()
            .unwrap_or_else(|| panic!("not an InputError: {e:#}"))
            .0
    }

    #[test]
    fn temp_name_is_hidden_beside_the_file() {
        let pid = std::process::id();
        assert_eq!(
            temp_path(Path::new("d/g.sbg")),
            PathBuf::from(format!("d/.g.sbg.tmp-{pid}"))
        );
        assert_eq!(
            temp_path(Path::new("g.sbg")),
            PathBuf::from(format!(".g.sbg.tmp-{pid}"))
        );
    }

    #[test]
    fn symlink_chain_is_resolved_and_stays_a_link() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/real"), b"old").unwrap();
        // a -> sub/b (relative), sub/b -> real (relative to sub/)
        symlink("real", d.join("sub/b")).unwrap();
        symlink("sub/b", d.join("a")).unwrap();
        write_atomic(&d.join("a"), |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(d.join("sub/real")).unwrap(), b"new");
        assert!(fs::symlink_metadata(d.join("a")).unwrap().is_symlink());
        assert!(fs::symlink_metadata(d.join("sub/b")).unwrap().is_symlink());
        assert_eq!(names(d), ["a", "sub"]);
        assert_eq!(names(&d.join("sub")), ["b", "real"]);

        // A dangling link creates its target.
        symlink("sub/new", d.join("dangling")).unwrap();
        write_atomic(&d.join("dangling"), |w| w.write_all(b"x")).unwrap();
        assert_eq!(fs::read(d.join("sub/new")).unwrap(), b"x");
        assert!(fs::symlink_metadata(d.join("dangling"))
            .unwrap()
            .is_symlink());
    }

    #[test]
    fn replaced_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o640
        );
    }

    #[test]
    fn refusals_are_input_errors() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let e = write_atomic(d, |w| w.write_all(b"x")).unwrap_err();
        assert!(input_error(&e).starts_with("is a directory"), "{e:#}");

        // Paths that cannot be resolved are runtime failures, as a failed open is.
        symlink("loop", d.join("loop")).unwrap();
        let e = write_atomic(&d.join("loop"), |w| w.write_all(b"x")).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_none(), "{e:#}");
        assert!(
            e.to_string()
                .starts_with("too many levels of symbolic links"),
            "{e:#}"
        );
        let e = write_atomic(&d.join("no/such/f"), |w| w.write_all(b"x")).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_none(), "{e:#}");
        assert!(e.to_string().contains("does not exist"), "{e:#}");
        assert_eq!(names(d), ["loop"]);
    }

    #[test]
    fn stop_flag_leaves_the_old_file_and_no_temp() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        fs::write(&p, b"old").unwrap();
        let stop = AtomicBool::new(false);
        // Set part-way through: the next chunk fails.
        let e = stage(&p, Some(&stop), |w| {
            w.write_all(&vec![1u8; 3 * CHUNK])?;
            stop.store(true, Ordering::Relaxed);
            w.write_all(&vec![2u8; 3 * CHUNK])
        })
        .map(|_| ())
        .unwrap_err();
        assert!(e.root_cause().to_string().contains("stopped"), "{e:#}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(t.path()), ["f"]);

        // Set after the last byte: still no rename.
        let stop = AtomicBool::new(false);
        let e = stage(&p, Some(&stop), |w| {
            w.write_all(b"new")?;
            stop.store(true, Ordering::Relaxed);
            Ok(())
        })
        .map(|_| ())
        .unwrap_err();
        assert!(e.root_cause().to_string().contains("stopped"), "{e:#}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(t.path()), ["f"]);
    }

    #[test]
    fn uncommitted_stage_is_removed_and_a_stale_temp_is_replaced() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        // A symlink planted at the temporary name is not followed.
        symlink("victim", temp_path(&p)).unwrap();
        let staged = stage(&p, None, |w| w.write_all(b"x")).unwrap();
        assert!(!t.path().join("victim").exists());
        drop(staged);
        assert!(names(t.path()).is_empty(), "{:?}", names(t.path()));
    }

    #[test]
    fn fifo_is_written_through() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, |w| w.write_all(b"through")).unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(names(t.path()), ["fifo"]);
    }
}
