//! Embeddings in NumPy's `.npy` format: `float32 [nodes, dim]`, row `i` for node `i`.
//!
//! Real embeddings come from Python, and `.npy` is what `numpy.save` writes, so it is the
//! import format (`--embeddings FILE.npy`) and what `gen` exports beside a graph. The header
//! (a Python dict literal) is parsed by the `npyz` crate; the data, once the header has fixed
//! its dtype and shape, is a plain run of little-endian f32, read in bulk.
//!
//! Input rules, as for every input (see `crate::input`): read once from one handle (a file, a
//! pipe, standard input), never past what the header declares nor past [`MAX_NPY_BYTES`], and
//! every problem is one [`InputError`] line naming the file: the dtype found when it is not
//! `<f4`, the shape found when it is not `[nodes, dim]`, the row holding NaN/∞ or all zeros, a
//! truncated file, or bytes after the data.

use super::embeddings::{Embeddings, MAX_DIM};
use crate::aligned::CacheAligned;
use crate::atomic_file::{self, Staged};
use crate::input::{human_bytes, more_to_read, Input};
use crate::InputError;
use anyhow::Context;
use npyz::WriterBuilder;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// The largest `.npy` read (as for `.sbg` graphs): 10k × 768 f32 is 30 MB.
pub const MAX_NPY_BYTES: u64 = 4 << 30;

/// The largest header accepted. numpy writes headers of about 128 bytes; the format's
/// version 2 allows 4 GiB, which `npyz` would allocate before reading.
const MAX_HEADER_BYTES: u64 = 1 << 20;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// At most this much is reserved before the data is read, so that a header declaring
/// gigabytes in a short (corrupt) file costs no memory.
const MAX_PREALLOC_BYTES: u64 = 256 << 20;

/// Reads embeddings for a graph of `expected_nodes` nodes from `path` (or standard input
/// for `-`), normalising every row.
pub fn read_npy(path: &Path, expected_nodes: usize) -> Result<Embeddings, InputError> {
    let input = Input::open(path)?;
    read_npy_from(input, expected_nodes)
}

/// [`read_npy`] from an opened input, named by `input.name` in errors.
pub fn read_npy_from(input: Input, expected_nodes: usize) -> Result<Embeddings, InputError> {
    read_matrix(input, Expect::Rows(expected_nodes))
}

/// Reads one cue vector of `dim` components (`float32 [dim]` or `[1, dim]`), normalised.
pub fn read_cue(path: &Path, dim: usize) -> Result<Vec<f32>, InputError> {
    let input = Input::open(path)?;
    let cue = read_matrix(input, Expect::Cue(dim))?;
    Ok(cue.row(0).to_vec())
}

/// The shape a file must have.
#[derive(Clone, Copy)]
enum Expect {
    /// `[nodes, dim]`, any dim.
    Rows(usize),
    /// `[dim]` or `[1, dim]`, this dim.
    Cue(usize),
}

fn read_matrix(mut input: Input, expect: Expect) -> Result<Embeddings, InputError> {
    let name = input.name.clone();
    let bad = |msg: String| InputError::new(format!("{name}: {msg}"));
    check_preamble(input.peek(12)?).map_err(bad)?;

    let header = npyz::NpyHeader::from_reader(&mut input).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            bad("truncated: the file ends inside its .npy header".into())
        } else {
            bad(format!("not a valid .npy header: {e}"))
        }
    })?;

    let dtype = header.dtype();
    let is_f4 = matches!(&dtype, npyz::DType::Plain(t) if t.to_string() == "<f4");
    if !is_f4 {
        return Err(bad(format!(
            "dtype is {}; only little-endian float32 ('<f4') is accepted \
             (numpy: arr.astype('<f4'))",
            dtype.descr()
        )));
    }

    let shape = header.shape();
    let shown = format!(
        "[{}]",
        shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (expected_nodes, dim) = match (expect, shape) {
        (Expect::Rows(nodes), &[n, d])
            if n == nodes as u64 && (1..=MAX_DIM as u64).contains(&d) =>
        {
            (nodes, d as usize)
        }
        (Expect::Rows(nodes), _) => {
            return Err(bad(format!(
                "shape is {shown}; expected [{nodes}, dim] with 1 ≤ dim ≤ {MAX_DIM}: \
                 one row per node of the graph ({nodes} nodes)"
            )))
        }
        (Expect::Cue(dim), &[d]) | (Expect::Cue(dim), &[1, d]) if d == dim as u64 => (1, dim),
        (Expect::Cue(dim), _) => {
            return Err(bad(format!(
                "shape is {shown}; a cue is one vector of the embeddings' dimension: [{dim}] or [1, {dim}]"
            )))
        }
    };

    let len = expected_nodes
        .checked_mul(dim)
        .filter(|&l| (l as u64).saturating_mul(4) <= MAX_NPY_BYTES)
        .ok_or_else(|| {
            bad(format!(
                "shape {shown} is larger than the {} this build reads",
                human_bytes(MAX_NPY_BYTES)
            ))
        })?;
    let declared = len as u64 * 4;
    let mut bytes = Vec::new();
    bytes.reserve_exact(declared.min(MAX_PREALLOC_BYTES) as usize);
    (&mut input)
        .take(declared)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    if (bytes.len() as u64) < declared {
        return Err(bad(format!(
            "truncated: its header declares {shown} float32 ({declared} bytes of data) but \
             only {} bytes follow the header",
            bytes.len()
        )));
    }
    if more_to_read(&mut input).map_err(|e| bad(format!("cannot read: {e}")))? {
        return Err(bad(format!(
            "longer than its header declares: bytes follow the {declared} bytes of {shown} \
             float32 data"
        )));
    }

    let f = |i: usize| {
        f32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    let data = match header.order() {
        npyz::Order::C => CacheAligned::from_fn(len, f),
        // Column-major: element (row, col) is stored at col·nodes + row.
        npyz::Order::Fortran => {
            CacheAligned::from_fn(len, |i| f((i % dim) * expected_nodes + i / dim))
        }
    };
    drop(bytes);
    // Row i is node i, so the row number names the node too. Unit rows (what `gen` writes)
    // are kept bit for bit, so vectors read back have the fingerprint they were written with.
    Embeddings::from_stored(dim, data).map_err(|e| bad(e.to_string()))
}

/// Checks the magic and the version, and bounds the header length, from the first 12 bytes
/// (fewer at the end of a short input), before `npyz` reads anything.
fn check_preamble(head: &[u8]) -> Result<(), String> {
    if head.is_empty() {
        return Err("not a .npy file (it is empty)".into());
    }
    let m = head.len().min(MAGIC.len());
    if head[..m] != MAGIC[..m] {
        return Err("not a .npy file (it does not start with \\x93NUMPY)".into());
    }
    if m < MAGIC.len() {
        return Err("truncated: the file ends inside its .npy header".into());
    }
    let (major, minor) = match head.get(6..8) {
        Some(&[a, b]) => (a, b),
        _ => return Err("truncated: the file ends inside its .npy header".into()),
    };
    let header_len = match major {
        1 => head
            .get(8..10)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64),
        2 | 3 => head
            .get(8..12)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64),
        _ => return Err(format!("unsupported .npy format version {major}.{minor}")),
    };
    match header_len {
        None => Err("truncated: the file ends inside its .npy header".into()),
        Some(l) if l > MAX_HEADER_BYTES => Err(format!(
            "its .npy header declares {l} bytes, over the {} accepted (the file is corrupt)",
            human_bytes(MAX_HEADER_BYTES)
        )),
        Some(_) => Ok(()),
    }
}

/// Writes `emb` as `float32 [n, dim]` to `path` with [`atomic_file::write_atomic`]'s rules.
pub fn write_npy(path: &Path, emb: &Embeddings) -> anyhow::Result<()> {
    stage_npy(path, emb, None)?
        .commit()
        .with_context(|| context(path))
}

/// [`write_npy`] that leaves the rename to [`Staged::commit`] (so `gen` can place the graph
/// and its embeddings together) and stops, leaving `path` as it was, once `stop` is set.
pub fn stage_npy(
    path: &Path,
    emb: &Embeddings,
    stop: Option<&AtomicBool>,
) -> anyhow::Result<Staged> {
    atomic_file::stage(path, stop, |w| write_to(w, emb)).with_context(|| context(path))
}

fn context(path: &Path) -> String {
    format!("cannot write embeddings file {}", path.display())
}

/// numpy's little-endian float32, whatever the machine's byte order.
fn f4() -> npyz::DType {
    let t: npyz::TypeStr = "<f4"
        .parse()
        .unwrap_or_else(|_| unreachable!("a valid type string"));
    npyz::DType::new_scalar(t)
}

/// The `.npy` bytes of `emb`: `npyz` writes the header, the rows follow as little-endian f32.
pub fn write_to(w: &mut impl Write, emb: &Embeddings) -> io::Result<()> {
    npyz::WriteOptions::new_header_only()
        .dtype(f4())
        .shape(&[emb.len() as u64, emb.dim() as u64])
        .writer(&mut *w)
        .write_header_only()?;
    let mut buf = Vec::with_capacity(64 << 10);
    for chunk in emb.as_slice().chunks(16 << 10) {
        buf.clear();
        chunk
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
        w.write_all(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sample() -> Embeddings {
        let rows: Vec<f32> = (0..3 * 5).map(|i| (i as f32 - 7.0) * 0.25 + 0.1).collect();
        Embeddings::from_rows(5, rows).unwrap()
    }

    fn bytes_of(e: &Embeddings) -> Vec<u8> {
        let mut b = Vec::new();
        write_to(&mut b, e).unwrap();
        b
    }

    fn read(bytes: Vec<u8>, nodes: usize) -> Result<Embeddings, String> {
        read_npy_from(Input::from_reader(Cursor::new(bytes), "e.npy"), nodes).map_err(|e| e.0)
    }

    /// A `.npy` of `shape` and `dtype` (a numpy descr such as `<f8`) with `data` after it.
    fn crafted(descr: &str, shape: &[u64], fortran: bool, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let dtype = npyz::DType::parse(&format!("'{descr}'")).unwrap();
        let order = if fortran {
            npyz::Order::Fortran
        } else {
            npyz::Order::C
        };
        npyz::WriteOptions::new_header_only()
            .dtype(dtype)
            .shape(shape)
            .order(order)
            .writer(&mut b)
            .write_header_only()
            .unwrap();
        b.extend_from_slice(data);
        b
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let e = sample();
        let back = read(bytes_of(&e), 3).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.as_slice().as_ptr() as usize % 64, 0);

        // Through a file, with write_npy's atomic rules.
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("g.emb.npy");
        write_npy(&p, &e).unwrap();
        assert_eq!(read_npy(&p, 3).unwrap(), e);
        let names: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn rows_are_normalised_and_fortran_order_is_transposed() {
        // [[3, 4], [0, 2]] stored column-major: 3, 0, 4, 2.
        let b = crafted("<f4", &[2, 2], true, &f32_bytes(&[3.0, 0.0, 4.0, 2.0]));
        let e = read(b, 2).unwrap();
        assert_eq!(e.row(0), &[0.6, 0.8]);
        assert_eq!(e.row(1), &[0.0, 1.0]);
    }

    #[test]
    fn wrong_dtype_names_what_was_found() {
        for descr in ["<f8", ">f4", "<i4", "<f2"] {
            let b = crafted(descr, &[3, 5], false, &[0u8; 3 * 5 * 8]);
            let err = read(b, 3).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "e.npy: dtype is '{descr}'; only little-endian float32 ('<f4') is accepted \
                     (numpy: arr.astype('<f4'))"
                )
            );
        }
    }

    #[test]
    fn wrong_shape_names_found_and_expected() {
        let cases: [(&[u64], usize); 5] = [
            (&[4, 5], 3),
            (&[15], 3),
            (&[3, 5, 1], 3),
            (&[3, 0], 3),
            (&[5, 3], 3),
        ];
        for (shape, nodes) in cases {
            let b = crafted("<f4", shape, false, &[0u8; 60]);
            let err = read(b, nodes).unwrap_err();
            let shown = shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            assert!(
                err.starts_with(&format!("e.npy: shape is [{shown}]; expected [3, dim]")),
                "{err}"
            );
        }
    }

    #[test]
    fn non_finite_and_zero_rows_are_named() {
        let mut v = vec![1.0f32; 15];
        v[7] = f32::NAN;
        let err = read(crafted("<f4", &[3, 5], false, &f32_bytes(&v)), 3).unwrap_err();
        assert_eq!(err, "e.npy: row 1 holds NaN at column 2");
        v[7] = f32::INFINITY;
        let err = read(crafted("<f4", &[3, 5], false, &f32_bytes(&v)), 3).unwrap_err();
        assert_eq!(err, "e.npy: row 1 holds inf at column 2");
        let mut v = vec![1.0f32; 15];
        v[10..15].fill(0.0);
        let err = read(crafted("<f4", &[3, 5], false, &f32_bytes(&v)), 3).unwrap_err();
        assert_eq!(err, "e.npy: row 2 is all zeros, so it has no direction");
    }

    #[test]
    fn truncated_and_overlong_files_are_refused() {
        let full = bytes_of(&sample());
        let data_start = full.len() - 60;
        let err = read(full[..full.len() - 1].to_vec(), 3).unwrap_err();
        assert_eq!(
            err,
            "e.npy: truncated: its header declares [3, 5] float32 (60 bytes of data) but only \
             59 bytes follow the header"
        );
        let err = read(full[..data_start].to_vec(), 3).unwrap_err();
        assert!(err.ends_with("but only 0 bytes follow the header"), "{err}");
        for cut in [3, 7, 9, 20, data_start - 1] {
            let err = read(full[..cut].to_vec(), 3).unwrap_err();
            assert_eq!(
                err, "e.npy: truncated: the file ends inside its .npy header",
                "cut {cut}"
            );
        }
        let mut long = full.clone();
        long.push(0);
        let err = read(long, 3).unwrap_err();
        assert!(
            err.starts_with("e.npy: longer than its header declares"),
            "{err}"
        );
    }

    #[test]
    fn not_npy_and_corrupt_headers_are_refused() {
        let err = read(b"hello, world".to_vec(), 3).unwrap_err();
        assert_eq!(
            err,
            "e.npy: not a .npy file (it does not start with \\x93NUMPY)"
        );
        assert!(read(Vec::new(), 3).unwrap_err().contains("not a .npy file"));
        let mut b = bytes_of(&sample());
        b[6] = 9;
        assert_eq!(
            read(b, 3).unwrap_err(),
            "e.npy: unsupported .npy format version 9.0"
        );
        // Version 2 with a 4 GiB header length: refused before anything is allocated.
        let mut b = b"\x93NUMPY\x02\x00".to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(read(b, 3)
            .unwrap_err()
            .contains("header declares 4294967295 bytes"));
        // A header that is not a dict literal.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&6u16.to_le_bytes());
        b.extend_from_slice(b"[1,2]\n");
        assert!(read(b, 3)
            .unwrap_err()
            .starts_with("e.npy: not a valid .npy header"));
    }

    #[test]
    fn missing_file_and_directory_targets() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("absent.npy");
        let err = read_npy(&p, 3).unwrap_err().0;
        assert!(
            err.starts_with(&format!("{}: cannot read", p.display())),
            "{err}"
        );
        // Writing over a directory is refused as bad input and leaves nothing behind.
        let err = write_npy(t.path(), &sample()).unwrap_err();
        assert!(err.downcast_ref::<InputError>().is_some(), "{err:#}");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }
}
