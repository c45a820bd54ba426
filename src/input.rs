//! Reading the user's input files with a size bound.
//!
//! Inputs may be pipes, FIFOs or devices (`/dev/stdin`, `<(cat g.sbg)`, `/dev/zero`): they are
//! read once, from one handle, and never past a bound, so an endless input is refused with a
//! clear error instead of reading until memory runs out. A pipe cannot be opened twice to see
//! its start again, which is why a reader that needs to look at the first bytes before choosing
//! a parser peeks them from the handle it goes on reading ([`Input::peek`]).

use crate::InputError;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The most a snapshot or workload file may hold (they are a few hundred KB in practice).
pub const MAX_TEXT_INPUT_BYTES: u64 = 256 << 20;

/// The path that means standard input where a command takes an input file (`--graph -`).
pub const STDIN_PATH: &str = "-";
/// How standard input is named in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Read buffer for graph inputs: large reads keep a 100 MB file from costing many syscalls.
const BUFFER_BYTES: usize = 256 << 10;

/// Reads all of `reader` (named `name` in errors), refusing more than `limit` bytes.
pub fn read_to_end_bounded(
    mut reader: impl Read,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    (&mut reader)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(name, limit));
    }
    Ok(bytes)
}

/// Reads the file at `path` as UTF-8 text, refusing more than `limit` bytes.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, InputError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
    let bytes = read_to_end_bounded(file, &name, limit)?;
    String::from_utf8(bytes).map_err(|e| InputError::new(format!("{name}: not UTF-8 text: {e}")))
}

/// The error for an input that passed its bound.
fn too_large(name: &str, limit: u64) -> InputError {
    InputError::new(format!(
        "{name}: larger than {}; refusing to read further (is it an endless input such as /dev/zero?)",
        human_bytes(limit)
    ))
}

/// `1 MiB`, `4 GiB`: bounds are powers of two, so this is exact for them.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// True for the path that means standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN_PATH
}

/// The name of `path` in messages: `<stdin>` for `-`, else the path as given.
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    }
}

/// An opened input: a file, a pipe, a device or standard input, read through one buffer.
pub struct Input {
    /// The name for messages (see [`input_name`]).
    pub name: String,
    reader: Box<dyn BufRead>,
    /// Bytes already taken from `reader` by [`Input::peek`], returned again before it.
    peeked: Vec<u8>,
    peeked_pos: usize,
}

impl Input {
    /// Opens `path`, or standard input for `-`. Opening does not read: a FIFO's writer may
    /// still be starting.
    pub fn open(path: &Path) -> Result<Input, InputError> {
        let name = input_name(path);
        let reader: Box<dyn BufRead> = if is_stdin(path) {
            Box::new(BufReader::with_capacity(BUFFER_BYTES, io::stdin()))
        } else {
            let file = File::open(path)
                .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
            Box::new(BufReader::with_capacity(BUFFER_BYTES, file))
        };
        Ok(Input {
            name,
            reader,
            peeked: Vec::new(),
            peeked_pos: 0,
        })
    }

    /// Wraps an already open reader (tests, library users) under `name`.
    pub fn from_reader(reader: impl Read + 'static, name: &str) -> Input {
        Input {
            name: name.to_string(),
            reader: Box::new(BufReader::with_capacity(BUFFER_BYTES, reader)),
            peeked: Vec::new(),
            peeked_pos: 0,
        }
    }

    /// The first `n` bytes (fewer only at the end of the input), which later reads return
    /// again. `fill_buf` alone is not enough: a pipe may deliver the first bytes in several
    /// short reads, so this reads until it has `n`.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], InputError> {
        while self.peeked.len() - self.peeked_pos < n {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(InputError::new(format!("{}: cannot read: {e}", self.name))),
            };
            if chunk.is_empty() {
                break;
            }
            let take = chunk.len().min(n - (self.peeked.len() - self.peeked_pos));
            self.peeked.extend_from_slice(&chunk[..take]);
            self.reader.consume(take);
        }
        let end = self.peeked.len().min(self.peeked_pos + n);
        Ok(&self.peeked[self.peeked_pos..end])
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.peeked_pos < self.peeked.len() {
            let n = buf.len().min(self.peeked.len() - self.peeked_pos);
            buf[..n].copy_from_slice(&self.peeked[self.peeked_pos..self.peeked_pos + n]);
            self.peeked_pos += n;
            return Ok(n);
        }
        self.reader.read(buf)
    }
}

/// A reader that fails once more than `limit` bytes have come through it. The failure is an
/// `io::Error` carrying the [`InputError`] to report (see [`input_error_in`]), so that it
/// passes unchanged through parsers that only know `io::Error`.
pub struct Bounded<R> {
    inner: R,
    name: String,
    limit: u64,
    read: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, name: &str, limit: u64) -> Self {
        Bounded {
            inner,
            name: name.to_string(),
            limit,
            read: 0,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is allowed in, so that an input of exactly `limit` bytes
        // passes and one of `limit + 1` is caught.
        let room = (self.limit + 1).saturating_sub(self.read);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                too_large(&self.name, self.limit),
            ));
        }
        Ok(n)
    }
}

/// The [`InputError`] inside an `io::Error` made by [`Bounded`] (or another reader that
/// reports bad input through `io`), if it carries one.
pub fn input_error_in(e: &io::Error) -> Option<&InputError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<InputError>())
}

/// True if `reader` has at least one more byte: whether an input goes on past the size it
/// declared.
pub fn more_to_read(reader: &mut impl Read) -> io::Result<bool> {
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(n) => return Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_input_is_refused_at_the_bound() {
        let err = read_to_end_bounded(std::io::repeat(0), "zeros", 1 << 20).unwrap_err();
        assert!(err.0.starts_with("zeros: larger than 1 MiB"), "{}", err.0);
        let ok = read_to_end_bounded(&b"abc"[..], "small", 3).unwrap();
        assert_eq!(ok, b"abc");
    }

    #[test]
    fn bounded_reader_passes_the_limit_and_refuses_one_more() {
        let mut out = Vec::new();
        Bounded::new(&[7u8; 10][..], "ten", 10)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 10);

        let e = Bounded::new(&[7u8; 11][..], "eleven", 10)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        let ie = input_error_in(&e).expect("carries an InputError");
        assert!(
            ie.0.starts_with("eleven: larger than 10 bytes;"),
            "{}",
            ie.0
        );

        let e = Bounded::new(io::repeat(0), "/dev/zero", 4 << 20)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(input_error_in(&e).unwrap().0.contains("larger than 4 MiB"));
        assert!(input_error_in(&io::Error::other("plain")).is_none());
    }

    /// A reader that hands out one byte per read, as a slow pipe may.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 == self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn peek_gathers_short_reads_and_rereads_them() {
        let mut input = Input::from_reader(Trickle(b"SPRDGRPH and more".to_vec(), 0), "pipe");
        assert_eq!(input.peek(8).unwrap(), b"SPRDGRPH");
        assert_eq!(input.peek(3).unwrap(), b"SPR");
        let mut all = String::new();
        input.read_to_string(&mut all).unwrap();
        assert_eq!(all, "SPRDGRPH and more");

        let mut short = Input::from_reader(&b"abc"[..], "short");
        assert_eq!(short.peek(8).unwrap(), b"abc");
        let mut all = Vec::new();
        short.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abc");
    }

    #[test]
    fn names() {
        assert_eq!(input_name(Path::new("-")), "<stdin>");
        assert_eq!(input_name(Path::new("./-")), "./-");
        assert!(is_stdin(Path::new("-")));
        assert_eq!(human_bytes(4 << 30), "4 GiB");
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
