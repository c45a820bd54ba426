//! Reading the user's input files with a size bound.
//!
//! Inputs may be pipes, FIFOs or devices (`/dev/stdin`, `<(cat g.sbg)`, `/dev/zero`): they are
//! read once, from one handle, and never past a bound, so an endless input is refused with a
//! clear error instead of reading until memory runs out.

use crate::InputError;
use std::io::Read;
use std::path::Path;

/// The most a snapshot or workload file may hold (they are a few hundred KB in practice).
pub const MAX_TEXT_INPUT_BYTES: u64 = 256 << 20;

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
        return Err(InputError::new(format!(
            "{name}: larger than {} MiB; refusing to read further (is it an endless input such as /dev/zero?)",
            limit >> 20
        )));
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
}
