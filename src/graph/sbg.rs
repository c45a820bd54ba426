//! The binary graph file, `.sbg`: a [`Graph`] saved so that it loads fast and exactly.
//!
//! All integers are little-endian. With `n` = node count, `m` = edge count, `L` = the
//! labels' bytes (0 without labels) and `d` = the embeddings' dimension:
//!
//! | offset            | size      | field                                                    |
//! |-------------------|-----------|----------------------------------------------------------|
//! | 0                 | 8         | magic `b"SPRDGRPH"`                                      |
//! | 8                 | 4         | format version, u32: 1 or 2 (= [`FORMAT_VERSION`])       |
//! | 12                | 4         | flags, u32: bit 0 = the file has labels; bit 1 = it has embeddings (version 2 only); other bits 0 |
//! | 16                | 8         | node count `n`, u64                                      |
//! | 24                | 8         | edge count `m`, u64                                      |
//! | 32                | 12 + n    | section `TIER`: one byte per node, `Tier as u8`           |
//! | 44 + n            | 12 + 4n   | section `DEGR`: out-degree per node, u32, in node order   |
//! | 56 + 5n           | 12 + 9m   | section `EDGE`: per edge in CSR order: target u32, raw weight (f32 bits) u32, `EdgeKind as u8` |
//! | 68 + 5n + 9m      | 12 + L    | section `LABL`, only if flag bit 0: per node, byte length u32 then that many UTF-8 bytes |
//! | 68 + 5n + 9m (+ 12 + L) | 12 + 4 + 4nd | section `EMBD`, only if flag bit 1: `d` u32 (1 ..= [`MAX_EMBEDDING_DIM`]), then `n·d` f32 (bits, u32): row `i` = node `i`'s unit vector |
//! | end − 8           | 8         | FNV-1a-64 checksum, u64, of every byte before it          |
//!
//! Each section is a 4-byte ASCII tag, a u64 payload length (the 12 bytes counted above) and
//! the payload. Sections appear in exactly this order and nothing follows the last one but the
//! checksum. Edges of node `i` are the `DEGR[i]` entries after those of nodes `0..i`; the raw
//! weight is in (0, 1] and the type factor is applied on load, exactly as
//! [`Graph::from_edges`] does, so a graph read back equals the graph written.
//!
//! Versions: version 2 added the `EMBD` section (flag bit 1) and nothing else. A graph
//! without embeddings is written as version 1, byte for byte what builds before version 2
//! wrote, so those builds still read it; only a graph with embeddings is written as version
//! 2. Both versions are read; a version-1 file with flag bit 1 set is refused (that version
//! has no such section). Embedding rows are written as they are held (unit vectors, made by
//! `recall`), and checked on reading only for what no vector may hold: NaN or ±∞, or a row
//! of zeros; recall keeps rows that are unit vectors bit for bit.
//!
//! Reading checks, in order: the magic, the version, the checksum, then every count, tag,
//! length and value. Any failure is an [`InputError`] naming the file. A file, pipe or
//! standard input is read by [`read_from`], never past the size its header declares (see
//! [`MAX_FILE_BYTES`] for the rule), so an endless input is refused instead of read.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use super::{EdgeKind, EdgeSpec, Fnv1a64, Graph, NodeRecord, Tier};
use crate::aligned::CacheAligned;
use crate::atomic_file;
use crate::input::{more_to_read, Input};
use crate::InputError;

/// The first eight bytes of every `.sbg` file.
pub const MAGIC: &[u8; 8] = b"SPRDGRPH";
/// The newest format version, which this build writes for a graph with embeddings (it
/// reads this one and [`FORMAT_VERSION_1`]).
pub const FORMAT_VERSION: u32 = 2;
/// The first format version: no embeddings. Written for a graph without them.
pub const FORMAT_VERSION_1: u32 = 1;

/// The largest embedding dimension an `EMBD` section may declare (`recall`'s `MAX_DIM`,
/// which this module may not name: the graph does not depend on recall).
pub const MAX_EMBEDDING_DIM: usize = 1 << 16;

/// Flag bit 0: a `LABL` section follows the `EDGE` section.
const FLAG_LABELS: u32 = 1;
/// Flag bit 1 (version 2): an `EMBD` section follows the `EDGE` (and `LABL`) section.
const FLAG_EMBEDDINGS: u32 = 2;
/// Bytes before the first section.
const HEADER_LEN: usize = 32;
/// Bytes of the checksum trailer.
const TRAILER_LEN: usize = 8;
/// Bytes of a section's tag and length.
const SECTION_HEAD_LEN: usize = 12;
/// Bytes of one `EDGE` entry.
const EDGE_ENTRY_LEN: usize = 9;

const TAG_TIER: &[u8; 4] = b"TIER";
const TAG_DEGR: &[u8; 4] = b"DEGR";
const TAG_EDGE: &[u8; 4] = b"EDGE";
const TAG_LABL: &[u8; 4] = b"LABL";
const TAG_EMBD: &[u8; 4] = b"EMBD";

/// The flags a file of `version` may set.
fn known_flags(version: u32) -> u32 {
    if version == FORMAT_VERSION_1 {
        FLAG_LABELS
    } else {
        FLAG_LABELS | FLAG_EMBEDDINGS
    }
}

/// The optional sections a file of `version` may hold, in file order, with their flags.
fn optional_sections(version: u32) -> &'static [(u32, &'static [u8; 4])] {
    if version == FORMAT_VERSION_1 {
        &[(FLAG_LABELS, TAG_LABL)]
    } else {
        &[(FLAG_LABELS, TAG_LABL), (FLAG_EMBEDDINGS, TAG_EMBD)]
    }
}

fn is_supported(version: u32) -> bool {
    version == FORMAT_VERSION_1 || version == FORMAT_VERSION
}

/// Serialises the graph to bytes.
pub fn to_bytes(g: &Graph) -> Vec<u8> {
    let n = g.node_count();
    let m = g.edge_count();
    let labels = g.labels();
    let label_len: usize = labels.map_or(0, |l| l.iter().map(|s| 4 + s.len()).sum());
    let embeddings = g.embedding_rows();
    let embd_len = embeddings.map_or(0, |(_, rows)| 4 + 4 * rows.len());
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + 3 * SECTION_HEAD_LEN
            + 5 * n
            + EDGE_ENTRY_LEN * m
            + labels.map_or(0, |_| SECTION_HEAD_LEN + label_len)
            + embeddings.map_or(0, |_| SECTION_HEAD_LEN + embd_len)
            + TRAILER_LEN,
    );

    out.extend_from_slice(MAGIC);
    let version = if embeddings.is_some() {
        FORMAT_VERSION
    } else {
        FORMAT_VERSION_1
    };
    out.extend_from_slice(&version.to_le_bytes());
    let mut flags = if labels.is_some() { FLAG_LABELS } else { 0 };
    if embeddings.is_some() {
        flags |= FLAG_EMBEDDINGS;
    }
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.extend_from_slice(&(m as u64).to_le_bytes());

    section_head(&mut out, TAG_TIER, n);
    out.extend(g.nodes().iter().map(|r| r.tier() as u8));

    section_head(&mut out, TAG_DEGR, 4 * n);
    for r in g.nodes() {
        out.extend_from_slice(&(r.degree() as u32).to_le_bytes());
    }

    section_head(&mut out, TAG_EDGE, EDGE_ENTRY_LEN * m);
    for e in g.edge_specs() {
        out.extend_from_slice(&e.dst.to_le_bytes());
        out.extend_from_slice(&e.weight.to_bits().to_le_bytes());
        out.push(e.kind as u8);
    }

    if let Some(labels) = labels {
        section_head(&mut out, TAG_LABL, label_len);
        for s in labels {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }

    if let Some((dim, rows)) = embeddings {
        section_head(&mut out, TAG_EMBD, embd_len);
        out.extend_from_slice(&(dim as u32).to_le_bytes());
        for x in rows {
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }

    let mut h = Fnv1a64::new();
    h.write(&out);
    out.extend_from_slice(&h.finish().to_le_bytes());
    out
}

fn section_head(out: &mut Vec<u8>, tag: &[u8; 4], len: usize) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

/// True if `bytes` start with the `.sbg` magic (the file is meant to be a graph file, whether
/// or not it is valid).
pub fn is_sbg(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Parses bytes; `source` is the file name used in error messages.
pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Graph, InputError> {
    let header = parse_header(bytes, source)?;
    // Checksum next, so that any corruption reads as corruption rather than as whatever
    // structural error the damaged bytes happen to cause.
    let body = verify_checksum(bytes, &header, source)?;

    check_flags(&header, source)?;
    let has_labels = header.flags & FLAG_LABELS != 0;
    let has_embeddings = header.flags & FLAG_EMBEDDINGS != 0;

    let mut r = Cursor {
        bytes: body,
        pos: HEADER_LEN,
        source,
    };

    // Every count is checked against the bytes that remain before anything is allocated.
    check_counts(&header, source)?;
    let tiers = read_tiers(&mut r, header.node_count)?;
    let degrees = read_degrees(&mut r, header.node_count, header.edge_count)?;
    let edges = read_edges(&mut r, &degrees, header.node_count, header.edge_count)?;
    let labels = if has_labels {
        Some(read_labels(&mut r, header.node_count as usize)?)
    } else {
        None
    };
    let embeddings = if has_embeddings {
        Some(read_embeddings(&mut r, header.node_count as usize)?)
    } else {
        None
    };

    if r.pos != body.len() {
        return Err(fail(
            source,
            format!(
                "{} unexpected bytes after the last section (at offset {})",
                body.len() - r.pos,
                r.pos
            ),
        ));
    }

    let mut g = Graph::from_edges(&tiers, edges).map_err(|e| fail(source, e.0))?;
    if let Some(l) = labels {
        g = g.with_labels(l);
    }
    if let Some((dim, rows)) = embeddings {
        g = g.with_embedding_rows(dim, rows);
    }
    Ok(g)
}

/// An input error `msg` about the file `source`.
fn fail(source: &str, msg: String) -> InputError {
    InputError::new(format!("{source}: {msg}"))
}

/// The header's fields after the magic and the version.
struct Header {
    version: u32,
    flags: u32,
    node_count: u64,
    edge_count: u64,
}

/// The header of `bytes`, once the magic, the version and the room for a header and a
/// checksum are checked.
fn parse_header(bytes: &[u8], source: &str) -> Result<Header, InputError> {
    let err = |msg: String| fail(source, msg);

    // Magic and version first: they say whether this is our file at all.
    if bytes.len() < MAGIC.len() {
        if !bytes.is_empty() && MAGIC.starts_with(bytes) {
            return Err(err(format!(
                "truncated: expected {} more bytes in the header",
                HEADER_LEN - bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Err(err(
                "not a spreadbench graph file (the file is empty)".into()
            ));
        }
        return Err(err("not a spreadbench graph file (bad magic)".into()));
    }
    if !is_sbg(bytes) {
        return Err(err("not a spreadbench graph file (bad magic)".into()));
    }
    if bytes.len() < 12 {
        return Err(err(format!(
            "truncated: expected {} more bytes in the header",
            HEADER_LEN - bytes.len()
        )));
    }
    let version = le_u32(&bytes[8..12]);
    if !is_supported(version) {
        return Err(err(format!(
            "format version {version} is not supported (this build reads version \
             {FORMAT_VERSION_1} or {FORMAT_VERSION})"
        )));
    }
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(err(if bytes.len() < HEADER_LEN {
            format!(
                "truncated: expected {} more bytes in the header",
                HEADER_LEN - bytes.len()
            )
        } else {
            format!(
                "truncated: expected {} more bytes for the checksum",
                HEADER_LEN + TRAILER_LEN - bytes.len()
            )
        }));
    }

    Ok(Header {
        version,
        flags: le_u32(&bytes[12..16]),
        node_count: le_u64(&bytes[16..24]),
        edge_count: le_u64(&bytes[24..32]),
    })
}

/// The bytes before the trailer, if the trailer is their checksum.
fn verify_checksum<'a>(
    bytes: &'a [u8],
    header: &Header,
    source: &str,
) -> Result<&'a [u8], InputError> {
    let body_len = bytes.len() - TRAILER_LEN;
    let (body, trailer) = bytes.split_at(body_len);
    let mut h = Fnv1a64::new();
    h.write(body);
    if h.finish() != le_u64(trailer) {
        let min_len = min_file_len(header.flags, header.node_count, header.edge_count);
        if (bytes.len() as u128) < min_len {
            return Err(fail(
                source,
                format!(
                    "checksum mismatch: file is truncated or corrupt ({} bytes; its header declares at least {min_len})",
                    bytes.len()
                ),
            ));
        }
        return Err(fail(source, "checksum mismatch: file is corrupt".into()));
    }
    Ok(body)
}

/// Refuses flags the header's version does not have. Checked after the checksum in
/// [`from_bytes`], but from the header alone in [`read_from`], which must know which
/// sections to read before it has the bytes the checksum covers.
fn check_flags(header: &Header, source: &str) -> Result<(), InputError> {
    if header.version == FORMAT_VERSION_1 && header.flags & FLAG_EMBEDDINGS != 0 {
        return Err(fail(
            source,
            "flag bit 1 (embeddings) is set in a version-1 file, which has no embeddings \
             section: the header is corrupt"
                .into(),
        ));
    }
    if header.flags & !known_flags(header.version) != 0 {
        return Err(fail(
            source,
            format!(
                "unknown flags {:#x} in the header (version {} knows only {})",
                header.flags,
                header.version,
                if header.version == FORMAT_VERSION_1 {
                    "bit 0"
                } else {
                    "bits 0 and 1"
                }
            ),
        ));
    }
    Ok(())
}

/// Refuses node and edge counts over the supported maximum.
fn check_counts(header: &Header, source: &str) -> Result<(), InputError> {
    let Header {
        node_count,
        edge_count,
        ..
    } = *header;
    if node_count > u32::MAX as u64 {
        return Err(fail(
            source,
            format!(
                "node count {node_count} exceeds the supported maximum {}",
                u32::MAX
            ),
        ));
    }
    if edge_count > u32::MAX as u64 {
        return Err(fail(
            source,
            format!(
                "edge count {edge_count} exceeds the supported maximum {}",
                u32::MAX
            ),
        ));
    }
    Ok(())
}

/// The `TIER` section: one tier per node.
fn read_tiers(r: &mut Cursor<'_>, node_count: u64) -> Result<Vec<Tier>, InputError> {
    let tier_bytes = r.section(TAG_TIER, Some(node_count as u128))?;
    let mut tiers = Vec::with_capacity(node_count as usize);
    for (i, &b) in tier_bytes.iter().enumerate() {
        match Tier::from_u8(b) {
            Some(t) => tiers.push(t),
            None => {
                return Err(fail(
                    r.source,
                    format!("section TIER: node {i} has invalid tier byte {b}"),
                ))
            }
        }
    }
    Ok(tiers)
}

/// The `DEGR` section: one out-degree per node, summing to the edge count.
fn read_degrees(
    r: &mut Cursor<'_>,
    node_count: u64,
    edge_count: u64,
) -> Result<Vec<u32>, InputError> {
    let degr = r.section(TAG_DEGR, Some(4 * node_count as u128))?;
    let mut degrees = Vec::with_capacity(node_count as usize);
    let mut degree_sum: u64 = 0;
    for (i, chunk) in degr.chunks_exact(4).enumerate() {
        let d = le_u32(chunk);
        if d > NodeRecord::MAX_DEGREE {
            return Err(fail(
                r.source,
                format!(
                    "section DEGR: node {i} has out-degree {d}; at most {} is supported",
                    NodeRecord::MAX_DEGREE
                ),
            ));
        }
        degree_sum += d as u64;
        degrees.push(d);
    }
    if degree_sum != edge_count {
        return Err(fail(
            r.source,
            format!(
                "section DEGR: out-degrees sum to {degree_sum} but the header declares {edge_count} edges"
            ),
        ));
    }
    Ok(degrees)
}

/// The `EDGE` section: the edges of each node in turn, as many as its out-degree.
fn read_edges(
    r: &mut Cursor<'_>,
    degrees: &[u32],
    node_count: u64,
    edge_count: u64,
) -> Result<Vec<EdgeSpec>, InputError> {
    let source = r.source;
    let err = |msg: String| fail(source, msg);
    let edge_bytes = r.section(TAG_EDGE, Some(EDGE_ENTRY_LEN as u128 * edge_count as u128))?;
    let mut edges = Vec::with_capacity(edge_count as usize);
    let mut entries = edge_bytes.chunks_exact(EDGE_ENTRY_LEN).enumerate();
    for (src, &degree) in degrees.iter().enumerate() {
        for _ in 0..degree {
            // The degree sum equals m and the section holds exactly m entries.
            let Some((i, e)) = entries.next() else {
                return Err(err(
                    "section EDGE: fewer entries than the out-degrees declare".into(),
                ));
            };
            let dst = le_u32(&e[0..4]);
            let weight = f32::from_bits(le_u32(&e[4..8]));
            let kind_byte = e[8];
            if dst as u64 >= node_count {
                return Err(err(format!(
                    "section EDGE: entry {i} has target {dst}, not below the node count {node_count}"
                )));
            }
            if !(weight > 0.0 && weight <= 1.0) {
                return Err(err(format!(
                    "section EDGE: entry {i} has weight {weight}, outside (0, 1]"
                )));
            }
            let Some(kind) = EdgeKind::from_u8(kind_byte) else {
                return Err(err(format!(
                    "section EDGE: entry {i} has invalid edge type byte {kind_byte}"
                )));
            };
            edges.push(EdgeSpec {
                src: src as u32,
                dst,
                weight,
                kind,
            });
        }
    }
    Ok(edges)
}

/// The `LABL` section: one UTF-8 label per node, filling the section exactly.
fn read_labels(r: &mut Cursor<'_>, n: usize) -> Result<Vec<String>, InputError> {
    let payload = r.section(TAG_LABL, None)?;
    let mut lr = Cursor {
        bytes: payload,
        pos: 0,
        source: r.source,
    };
    let mut labels = Vec::with_capacity(n.min(payload.len() / 4));
    for i in 0..n {
        let len = le_u32(lr.take(4, "LABL")?) as usize;
        let raw = lr.take(len, "LABL")?;
        match std::str::from_utf8(raw) {
            Ok(s) => labels.push(s.to_owned()),
            Err(e) => {
                return Err(fail(
                    r.source,
                    format!(
                        "section LABL: label of node {i} is not valid UTF-8 (at byte {})",
                        e.valid_up_to()
                    ),
                ))
            }
        }
    }
    if lr.pos != payload.len() {
        return Err(fail(
            r.source,
            format!(
                "section LABL: {} bytes left over after the {n} labels",
                payload.len() - lr.pos
            ),
        ));
    }
    Ok(labels)
}

/// The `EMBD` section: the dimension `d`, then `n·d` f32 that fill the section exactly, every
/// row finite and not all zeros.
fn read_embeddings(r: &mut Cursor<'_>, n: usize) -> Result<(usize, CacheAligned<f32>), InputError> {
    let source = r.source;
    let err = |msg: String| fail(source, format!("section EMBD: {msg}"));
    let payload = r.section(TAG_EMBD, None)?;
    if payload.len() < 4 {
        return Err(err(format!(
            "length {}, too short for the dimension (a u32) it starts with",
            payload.len()
        )));
    }
    let dim = le_u32(&payload[..4]) as usize;
    if dim == 0 || dim > MAX_EMBEDDING_DIM {
        return Err(err(format!(
            "dimension {dim}; must be between 1 and {MAX_EMBEDDING_DIM}"
        )));
    }
    let values = &payload[4..];
    // n ≤ u32::MAX and dim ≤ 2^16: the product fits in u64 (and in u128 for the length).
    let expected = 4 * n as u128 * dim as u128;
    if values.len() as u128 != expected {
        return Err(err(format!(
            "{} bytes of vectors; {n} nodes × dimension {dim} need {expected}",
            values.len()
        )));
    }
    let at = |i: usize| f32::from_bits(le_u32(&values[4 * i..]));
    let rows = CacheAligned::from_fn(n * dim, at);
    for (row, v) in rows.chunks_exact(dim).enumerate() {
        if let Some(col) = v.iter().position(|x| !x.is_finite()) {
            return Err(err(format!("row {row} holds {} at column {col}", v[col])));
        }
        if v.iter().all(|&x| x == 0.0) {
            return Err(err(format!(
                "row {row} is all zeros, so it has no direction"
            )));
        }
    }
    Ok((dim, rows))
}

/// The smallest file the header's counts allow (u128: the counts may be garbage).
fn min_file_len(flags: u32, node_count: u64, edge_count: u64) -> u128 {
    let n = node_count as u128;
    let m = edge_count as u128;
    let mut len = (HEADER_LEN + 3 * SECTION_HEAD_LEN + TRAILER_LEN) as u128
        + 5 * n
        + EDGE_ENTRY_LEN as u128 * m;
    if flags & FLAG_LABELS != 0 {
        len += SECTION_HEAD_LEN as u128 + 4 * n;
    }
    if flags & FLAG_EMBEDDINGS != 0 {
        // At least one component per row.
        len += SECTION_HEAD_LEN as u128 + 4 + 4 * n;
    }
    len
}

/// Reads forward through the bytes before the trailer, with bounds checks that become
/// truncation errors.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    source: &'a str,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes `len` bytes, or fails naming the section they belong to.
    fn take(&mut self, len: usize, section: &str) -> Result<&'a [u8], InputError> {
        if len > self.remaining() {
            return Err(InputError::new(format!(
                "{}: truncated: expected {} more bytes in section {section}",
                self.source,
                len - self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// Reads a section head, checks its tag and (if known) its length, and returns its
    /// payload.
    fn section(
        &mut self,
        tag: &[u8; 4],
        expected_len: Option<u128>,
    ) -> Result<&'a [u8], InputError> {
        let name = String::from_utf8_lossy(tag);
        let at = self.pos;
        let head = self.take(SECTION_HEAD_LEN, &name)?;
        if &head[0..4] != tag {
            return Err(InputError::new(format!(
                "{}: expected section {name} at offset {at}, found tag {}",
                self.source,
                describe_tag(&head[0..4])
            )));
        }
        let len = le_u64(&head[4..12]);
        if let Some(expected) = expected_len {
            if len as u128 != expected {
                return Err(InputError::new(format!(
                    "{}: section {name} has length {len}, expected {expected} from the header counts",
                    self.source
                )));
            }
        }
        if len > self.remaining() as u64 {
            return Err(InputError::new(format!(
                "{}: truncated: expected {} more bytes in section {name}",
                self.source,
                len - self.remaining() as u64
            )));
        }
        self.take(len as usize, &name)
    }
}

fn describe_tag(tag: &[u8]) -> String {
    if tag.iter().all(|b| b.is_ascii_graphic()) {
        format!("'{}'", String::from_utf8_lossy(tag))
    } else {
        format!("{tag:02x?}")
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Writes the graph to `path` with [`atomic_file::write_atomic`]'s rules (atomically for a
/// regular file or a symlink to one, straight through for a device or FIFO, refused for
/// anything else). On failure no temporary file is left and `path` is as it was.
pub fn write_file(g: &Graph, path: &Path) -> anyhow::Result<()> {
    write_file_inner(g, path, None)
}

/// [`write_file`] that gives up, leaving `path` as it was, once `stop` is set (a signal):
/// the error then has [`atomic_file::Stopped`] at its root.
pub fn write_file_until(g: &Graph, path: &Path, stop: &AtomicBool) -> anyhow::Result<()> {
    write_file_inner(g, path, Some(stop))
}

fn write_file_inner(g: &Graph, path: &Path, stop: Option<&AtomicBool>) -> anyhow::Result<()> {
    stage_file(g, path, stop)?
        .commit()
        .with_context(|| context(path))
}

/// [`write_file_until`] that leaves the rename to [`atomic_file::Staged::commit`], so that
/// `gen` can place the graph and the files beside it together.
pub fn stage_file(
    g: &Graph,
    path: &Path,
    stop: Option<&AtomicBool>,
) -> anyhow::Result<atomic_file::Staged> {
    let bytes = to_bytes(g);
    atomic_file::stage(path, stop, |w| w.write_all(&bytes)).with_context(|| context(path))
}

fn context(path: &Path) -> String {
    format!("cannot write graph file {}", path.display())
}

/// Reads and parses a `.sbg` file, or standard input for `-`. A file that cannot be read or is
/// not a valid graph file is an [`InputError`].
pub fn read_file(path: &Path) -> anyhow::Result<Graph> {
    let input = Input::open(path)?;
    let name = input.name.clone();
    read_from(input, &name)
}

/// The largest `.sbg` input this build reads: 4 GiB, about fifty times scale-free-1m's 77 MB.
///
/// The rule ([`read_from`]): an input is read up to the size its header declares (the header's
/// node and edge counts fix every section but the labels and the embeddings, whose lengths
/// are in the `LABL` and `EMBD` sections' heads) and never further, and a declared size over this bound is refused before
/// anything past the header is read. So an endless input stops at its header: `/dev/zero`
/// fails the magic, and a valid header followed by endless bytes is refused once the declared
/// size has been read.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// At most this much is reserved ahead of reading, so that a header declaring gigabytes in a
/// small (corrupt) input costs no memory; real graphs of up to this size need no regrowth.
const MAX_PREALLOC_BYTES: u64 = 256 << 20;

/// Reads a `.sbg` from `reader` (a file, a pipe, standard input), named `name` in messages,
/// within [`MAX_FILE_BYTES`] and the size its header declares; then parses it as
/// [`from_bytes`] does.
pub fn read_from(mut reader: impl Read, name: &str) -> anyhow::Result<Graph> {
    let cannot_read = |e: io::Error| InputError::new(format!("{name}: cannot read: {e}"));
    let mut bytes = Vec::new();
    fill(&mut reader, &mut bytes, HEADER_LEN as u128).map_err(cannot_read)?;
    if bytes.len() < HEADER_LEN || !is_sbg(&bytes) || !is_supported(le_u32(&bytes[8..12])) {
        // Short, not ours or another version: from_bytes names which, from these bytes alone.
        return Ok(from_bytes(&bytes, name)?);
    }
    let header = Header {
        version: le_u32(&bytes[8..12]),
        flags: le_u32(&bytes[12..16]),
        node_count: le_u64(&bytes[16..24]),
        edge_count: le_u64(&bytes[24..32]),
    };
    // Before reading on: the flags say which sections there are to read.
    check_flags(&header, name)?;
    let Header { version, flags, .. } = header;
    let n = header.node_count as u128;
    let m = header.edge_count as u128;
    let sections = (HEADER_LEN + 3 * SECTION_HEAD_LEN) as u128 + 5 * n + EDGE_ENTRY_LEN as u128 * m;
    let mut declared = sections + TRAILER_LEN as u128;
    // Each optional section's length is in its head: the head is read (within the bound)
    // before its payload is counted, and the next head sits after that payload.
    let mut at = sections;
    for &(flag, tag) in optional_sections(version) {
        if flags & flag == 0 {
            continue;
        }
        declared += SECTION_HEAD_LEN as u128;
        let head_end = at + SECTION_HEAD_LEN as u128;
        check_declared(declared, name, n, m)?;
        reserve(&mut bytes, declared);
        fill(&mut reader, &mut bytes, head_end).map_err(cannot_read)?;
        // A missing or damaged head adds nothing (nor do the sections after it): the
        // checksum then reports the damage.
        if bytes.len() as u128 != head_end {
            break;
        }
        let h = at as usize;
        if &bytes[h..h + 4] != tag {
            break;
        }
        let len = le_u64(&bytes[h + 4..h + 12]) as u128;
        declared += len;
        at = head_end + len;
    }
    check_declared(declared, name, n, m)?;
    reserve(&mut bytes, declared);
    fill(&mut reader, &mut bytes, declared).map_err(cannot_read)?;
    if bytes.len() as u128 == declared && more_to_read(&mut reader).map_err(cannot_read)? {
        return Err(InputError::new(format!(
            "{name}: longer than the {declared} bytes its header declares: the file is corrupt"
        ))
        .into());
    }
    // A short read is a truncated file: from_bytes says so, with the checksum.
    Ok(from_bytes(&bytes, name)?)
}

/// Refuses a declared size over [`MAX_FILE_BYTES`].
fn check_declared(declared: u128, name: &str, n: u128, m: u128) -> Result<(), InputError> {
    if declared > MAX_FILE_BYTES as u128 {
        return Err(InputError::new(format!(
            "{name}: its header declares {n} nodes and {m} edges, a file of {declared} bytes, \
             over the {} this build reads (a corrupt header, or too large a graph)",
            crate::input::human_bytes(MAX_FILE_BYTES)
        )));
    }
    Ok(())
}

fn reserve(bytes: &mut Vec<u8>, declared: u128) {
    let want = declared.min(MAX_PREALLOC_BYTES as u128) as usize;
    bytes.reserve_exact(want.saturating_sub(bytes.len()));
}

/// Reads from `reader` until `bytes` holds `upto` bytes or the input ends.
fn fill(reader: &mut impl Read, bytes: &mut Vec<u8>, upto: u128) -> io::Result<()> {
    let have = bytes.len() as u128;
    if upto > have {
        let more = u64::try_from(upto - have).unwrap_or(u64::MAX);
        reader.take(more).read_to_end(bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic_file::temp_path;

    fn spec(src: u32, dst: u32, weight: f32, kind: EdgeKind) -> EdgeSpec {
        EdgeSpec {
            src,
            dst,
            weight,
            kind,
        }
    }

    fn sample(labels: bool) -> Graph {
        let tiers = [Tier::Hot, Tier::Warm, Tier::Cold, Tier::Warm, Tier::Hot];
        let g = Graph::from_edges(
            &tiers,
            vec![
                spec(0, 1, 0.5, EdgeKind::Excitatory),
                spec(0, 2, 0.3, EdgeKind::Inhibitory),
                spec(1, 0, 1.0, EdgeKind::Modulatory),
                spec(2, 3, 0.125, EdgeKind::Excitatory),
                spec(3, 3, 0.7, EdgeKind::Inhibitory),
                spec(3, 0, f32::MIN_POSITIVE, EdgeKind::Modulatory),
                // node 4 is isolated
            ],
        )
        .unwrap();
        if labels {
            g.with_labels(vec![
                "alpha".into(),
                "β-node".into(),
                "".into(),
                "42".into(),
                "x,y".into(),
            ])
        } else {
            g
        }
    }

    /// Three components per node, unit rows (as recall holds them) and one row that is not.
    fn rows() -> Vec<f32> {
        let s = std::f32::consts::FRAC_1_SQRT_2;
        vec![
            1.0, 0.0, 0.0, //
            0.0, -1.0, 0.0, //
            s, s, 0.0, //
            0.6, 0.0, 0.8, //
            2.0, 2.0, 1.0,
        ]
    }

    fn sample_embedded(labels: bool) -> Graph {
        sample(labels).with_embedding_rows(3, CacheAligned::from_vec(rows()))
    }

    /// Offset of the `EMBD` head in `to_bytes(&sample_embedded(labels))`.
    fn embd_at(labels: bool) -> usize {
        let labl = if labels {
            SECTION_HEAD_LEN
                + [5, "β-node".len(), 0, 2, 3]
                    .iter()
                    .map(|l| 4 + l)
                    .sum::<usize>()
        } else {
            0
        };
        HEADER_LEN + 3 * SECTION_HEAD_LEN + 5 * 5 + EDGE_ENTRY_LEN * 6 + labl
    }

    /// What `spreadbench gen` wrote for a 4-node chain (`chain-64` with `nodes = 4`) before
    /// version 2 existed (build a2e727b): the version-1 fixture.
    const CHAIN_4_V1: [u8; 123] = [
        0x53, 0x50, 0x52, 0x44, 0x47, 0x52, 0x50, 0x48, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x54, 0x49, 0x45, 0x52, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x44, 0x45, 0x47, 0x52, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x45, 0x44, 0x47, 0x45, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f,
        0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x3b, 0x3f, 0x37, 0x22, 0x22,
        0x88, 0x9d, 0x40,
    ];

    fn err_of(bytes: &[u8]) -> String {
        from_bytes(bytes, "g.sbg").unwrap_err().0
    }

    /// Recomputes the trailer after a deliberate edit, so that structural checks are reached.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        let body = bytes.len() - TRAILER_LEN;
        bytes.truncate(body);
        let mut h = Fnv1a64::new();
        h.write(&bytes);
        bytes.extend_from_slice(&h.finish().to_le_bytes());
        bytes
    }

    #[test]
    fn round_trip_without_labels() {
        let g = sample(false);
        let bytes = to_bytes(&g);
        assert!(is_sbg(&bytes));
        assert_eq!(
            bytes.len(),
            HEADER_LEN + 3 * SECTION_HEAD_LEN + 5 * 5 + 9 * 6 + TRAILER_LEN
        );
        let back = from_bytes(&bytes, "g.sbg").unwrap();
        assert_eq!(back, g);
        assert_eq!(back.fingerprint(), g.fingerprint());
        assert!(back.labels().is_none());
        assert_eq!(back.kind_counts(), [2, 2, 2]);
        assert_eq!(back.tier_counts(), [2, 2, 1]);
    }

    #[test]
    fn round_trip_with_labels() {
        let g = sample(true);
        let back = from_bytes(&to_bytes(&g), "g.sbg").unwrap();
        assert_eq!(back, g);
        assert_eq!(back.labels().unwrap()[1], "β-node");
    }

    #[test]
    fn round_trip_empty_and_generated() {
        let empty = Graph::from_edges(&[], vec![]).unwrap();
        assert_eq!(from_bytes(&to_bytes(&empty), "e.sbg").unwrap(), empty);

        let p = crate::graph::generate::GraphParams {
            topology: crate::graph::generate::Topology::BarabasiAlbert { m: 3 },
            nodes: 300,
            directed: false,
            weight_min: 0.05,
            weight_max: 1.0,
            inhibitory_share: 0.2,
            modulatory_share: 0.2,
            tier_shares: [0.2, 0.5, 0.3],
            seed: 7,
        };
        let g = crate::graph::generate::generate(&p).unwrap();
        let back = from_bytes(&to_bytes(&g), "g.sbg").unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for labels in [false, true] {
            let bytes = to_bytes(&sample(labels));
            for len in 0..bytes.len() {
                let e = from_bytes(&bytes[..len], "g.sbg");
                assert!(e.is_err(), "prefix of {len} bytes was accepted");
                assert!(e.unwrap_err().0.starts_with("g.sbg: "));
            }
        }
    }

    #[test]
    fn truncation_is_reported_as_such() {
        let bytes = to_bytes(&sample(false));
        assert!(
            err_of(&bytes[..5]).contains("truncated"),
            "{}",
            err_of(&bytes[..5])
        );
        assert!(err_of(&bytes[..20]).contains("truncated"));
        let e = err_of(&bytes[..bytes.len() - 20]);
        assert!(e.contains("truncated or corrupt"), "{e}");
    }

    #[test]
    fn flipped_byte_is_a_checksum_error() {
        let bytes = to_bytes(&sample(true));
        // Every byte after the magic and version, including the trailer itself.
        for i in 12..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let e = err_of(&bad);
            assert!(e.starts_with("g.sbg: checksum mismatch"), "byte {i}: {e}");
        }
    }

    #[test]
    fn other_version_is_refused() {
        let mut bytes = to_bytes(&sample(false));
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(
            err_of(&bytes),
            "g.sbg: format version 7 is not supported (this build reads version 1 or 2)"
        );
    }

    #[test]
    fn bad_magic_is_refused() {
        let mut bytes = to_bytes(&sample(false));
        bytes[0] = b'X';
        assert_eq!(
            err_of(&bytes),
            "g.sbg: not a spreadbench graph file (bad magic)"
        );
        assert!(!is_sbg(&bytes));
        assert!(err_of(b"src,dst\n0,1\n").contains("bad magic"));
        assert!(err_of(b"").contains("empty"));
    }

    #[test]
    fn structural_errors_behind_a_valid_checksum() {
        let good = to_bytes(&sample(true));
        let n = 5usize;
        let tier_at = HEADER_LEN + SECTION_HEAD_LEN;
        let degr_at = tier_at + n + SECTION_HEAD_LEN;
        let edge_at = degr_at + 4 * n + SECTION_HEAD_LEN;

        let mut b = good.clone();
        b[tier_at + 2] = 9;
        assert!(err_of(&reseal(b)).contains("invalid tier byte 9"));

        let mut b = good.clone();
        b[degr_at..degr_at + 4].copy_from_slice(&3u32.to_le_bytes());
        let e = err_of(&reseal(b));
        assert!(
            e.contains("out-degrees sum to 7") && e.contains("6 edges"),
            "{e}"
        );

        let mut b = good.clone();
        b[edge_at..edge_at + 4].copy_from_slice(&5u32.to_le_bytes());
        assert!(err_of(&reseal(b)).contains("target 5"));

        let mut b = good.clone();
        b[edge_at + 4..edge_at + 8].copy_from_slice(&1.5f32.to_bits().to_le_bytes());
        assert!(err_of(&reseal(b)).contains("weight 1.5, outside (0, 1]"));

        let mut b = good.clone();
        b[edge_at + 4..edge_at + 8].copy_from_slice(&f32::NAN.to_bits().to_le_bytes());
        assert!(err_of(&reseal(b)).contains("outside (0, 1]"));

        let mut b = good.clone();
        b[edge_at + 8] = 3;
        assert!(err_of(&reseal(b)).contains("invalid edge type byte 3"));

        let mut b = good.clone();
        b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(b"TIEX");
        let e = err_of(&reseal(b));
        assert!(
            e.contains("expected section TIER") && e.contains("'TIEX'"),
            "{e}"
        );

        let mut b = good.clone();
        b[16..24].copy_from_slice(&6u64.to_le_bytes());
        assert!(err_of(&reseal(b)).contains("section TIER has length 5, expected 6"));

        // A huge declared count is refused without allocating.
        let mut b = good.clone();
        b[24..32].copy_from_slice(&(u32::MAX as u64).to_le_bytes());
        let e = err_of(&reseal(b));
        assert!(
            e.contains("section DEGR") || e.contains("section EDGE"),
            "{e}"
        );
        let mut b = good.clone();
        b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(err_of(&reseal(b)).contains("node count"));

        // Bad UTF-8 in a label ("alpha" is the first label, after its u32 length).
        let labl_payload = edge_at + 9 * 6 + SECTION_HEAD_LEN;
        let mut b = good.clone();
        b[labl_payload + 4] = 0xff;
        assert!(err_of(&reseal(b)).contains("label of node 0 is not valid UTF-8"));

        // A label length running past the section.
        let mut b = good.clone();
        b[labl_payload..labl_payload + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(err_of(&reseal(b)).contains("truncated: expected"));

        // Trailing garbage before the checksum.
        let mut b = good.clone();
        b.insert(good.len() - TRAILER_LEN, 0);
        assert!(err_of(&reseal(b)).contains("unexpected bytes after the last section"));

        // Unknown flags.
        let mut b = good;
        b[12] |= 0x80;
        assert!(err_of(&reseal(b)).contains("unknown flags"));
    }

    #[test]
    fn version_1_fixture_still_loads_and_is_still_written() {
        let g = from_bytes(&CHAIN_4_V1, "v1.sbg").unwrap();
        let chain = Graph::from_edges(
            &[Tier::Hot; 4],
            (0..3)
                .map(|i| spec(i, i + 1, 1.0, EdgeKind::Excitatory))
                .collect(),
        )
        .unwrap();
        assert_eq!(g, chain);
        assert!(g.embedding_rows().is_none());
        // A graph without embeddings is written as version 1, byte for byte.
        assert_eq!(to_bytes(&chain), CHAIN_4_V1);
        assert_eq!(read_from(Trickle(&CHAIN_4_V1), "v1.sbg").unwrap(), chain);
    }

    #[test]
    fn graph_without_embeddings_is_version_1_and_with_them_version_2() {
        for labels in [false, true] {
            let plain = to_bytes(&sample(labels));
            assert_eq!(le_u32(&plain[8..12]), 1);
            assert_eq!(le_u32(&plain[12..16]), labels as u32);
            let embedded = to_bytes(&sample_embedded(labels));
            assert_eq!(le_u32(&embedded[8..12]), 2);
            assert_eq!(le_u32(&embedded[12..16]), 2 | labels as u32);
            // The embeddings are a section appended after the version-1 sections.
            let at = embd_at(labels);
            assert_eq!(embedded[16..at], plain[16..at]);
            assert_eq!(&embedded[at..at + 4], TAG_EMBD);
            assert_eq!(le_u64(&embedded[at + 4..at + 12]), 4 + 4 * 15);
            assert_eq!(le_u32(&embedded[at + 12..at + 16]), 3);
            assert_eq!(embedded.len(), at + SECTION_HEAD_LEN + 4 + 60 + TRAILER_LEN);
        }
    }

    #[test]
    fn round_trip_with_embeddings() {
        for labels in [false, true] {
            let g = sample_embedded(labels);
            let back = from_bytes(&to_bytes(&g), "g.sbg").unwrap();
            assert_eq!(back, g);
            let (dim, rows_back) = back.embedding_rows().unwrap();
            assert_eq!(dim, 3);
            // Bit for bit, the non-unit row too: the file keeps rows as they were held.
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(rows_back), bits(&rows()));
            assert_eq!(back.fingerprint(), sample(labels).fingerprint());
            assert_eq!(back.labels().is_some(), labels);
            assert_eq!(read_from(Trickle(&to_bytes(&g)), "<stdin>").unwrap(), g);
        }
        // Embeddings are content: a graph without them is another graph.
        assert_ne!(sample_embedded(false), sample(false));
        // A version-2 file with flag bit 1 clear (not written by this build) is read.
        let mut b = to_bytes(&sample(true));
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(from_bytes(&reseal(b), "g.sbg").unwrap(), sample(true));
    }

    #[test]
    fn every_truncation_and_flipped_byte_of_an_embedded_file_is_an_error() {
        for labels in [false, true] {
            let bytes = to_bytes(&sample_embedded(labels));
            for len in 0..bytes.len() {
                let e = err_of(&bytes[..len]);
                assert!(e.starts_with("g.sbg: "), "{len}: {e}");
                assert_eq!(
                    read_err(Trickle(&bytes[..len])),
                    from_bytes(&bytes[..len], "<stdin>").unwrap_err().0
                );
            }
            // The checksum covers the section.
            for i in embd_at(labels)..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x01;
                let e = err_of(&bad);
                assert!(e.starts_with("g.sbg: checksum mismatch"), "byte {i}: {e}");
            }
        }
    }

    #[test]
    fn embeddings_section_errors_behind_a_valid_checksum() {
        let good = to_bytes(&sample_embedded(true));
        let at = embd_at(true);
        let dim_at = at + SECTION_HEAD_LEN;
        let row = |r: usize, c: usize| dim_at + 4 + 4 * (3 * r + c);
        let set = |b: &mut Vec<u8>, i: usize, x: f32| {
            b[i..i + 4].copy_from_slice(&x.to_bits().to_le_bytes())
        };

        let mut b = good.clone();
        b[dim_at..dim_at + 4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: dimension 0; must be between 1 and 65536"
        );

        let mut b = good.clone();
        b[dim_at..dim_at + 4].copy_from_slice(&(MAX_EMBEDDING_DIM as u32 + 1).to_le_bytes());
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: dimension 65537; must be between 1 and 65536"
        );

        // A dimension the vectors do not fill: 60 bytes are 5 × 3, not 5 × 4.
        let mut b = good.clone();
        b[dim_at..dim_at + 4].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: 60 bytes of vectors; 5 nodes × dimension 4 need 80"
        );

        // One component short, with the section length to match.
        let mut b = good.clone();
        b.drain(row(4, 2)..row(4, 2) + 4);
        b[at + 4..at + 12].copy_from_slice(&60u64.to_le_bytes());
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: 56 bytes of vectors; 5 nodes × dimension 3 need 60"
        );

        // A section too short for its dimension.
        let mut b = good[..dim_at + 2].to_vec();
        b[at + 4..at + 12].copy_from_slice(&2u64.to_le_bytes());
        b.extend_from_slice(&[0; TRAILER_LEN]);
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: length 2, too short for the dimension (a u32) it starts with"
        );

        // A length that runs past the end of the file.
        let mut b = good.clone();
        b[at + 4..at + 12].copy_from_slice(&1000u64.to_le_bytes());
        assert!(err_of(&reseal(b)).contains("truncated: expected 936 more bytes in section EMBD"));

        for (value, shown) in [
            (f32::NAN, "NaN"),
            (f32::INFINITY, "inf"),
            (f32::NEG_INFINITY, "-inf"),
        ] {
            let mut b = good.clone();
            set(&mut b, row(2, 1), value);
            assert_eq!(
                err_of(&reseal(b)),
                format!("g.sbg: section EMBD: row 2 holds {shown} at column 1")
            );
        }

        let mut b = good.clone();
        for c in 0..3 {
            set(&mut b, row(3, c), if c == 1 { -0.0 } else { 0.0 });
        }
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: section EMBD: row 3 is all zeros, so it has no direction"
        );

        // A missing section, a wrong tag.
        let mut b = good[..at].to_vec();
        b.extend_from_slice(&[0; TRAILER_LEN]);
        assert!(err_of(&reseal(b)).contains("truncated: expected 12 more bytes in section EMBD"));
        let mut b = good.clone();
        b[at..at + 4].copy_from_slice(b"EMBX");
        let e = err_of(&reseal(b));
        assert!(
            e.contains("expected section EMBD") && e.contains("'EMBX'"),
            "{e}"
        );

        // Version 1 has no flag bit 1; version 2 no bit 2.
        let mut b = good.clone();
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: flag bit 1 (embeddings) is set in a version-1 file, which has no embeddings \
             section: the header is corrupt"
        );
        let mut b = good;
        b[12] |= 4;
        assert_eq!(
            err_of(&reseal(b)),
            "g.sbg: unknown flags 0x7 in the header (version 2 knows only bits 0 and 1)"
        );
    }

    #[test]
    fn embedding_limit_is_recalls() {
        assert_eq!(MAX_EMBEDDING_DIM, crate::recall::embeddings::MAX_DIM);
    }

    /// `read_from`'s error for `reader`.
    fn read_err(reader: impl Read) -> String {
        let e = read_from(reader, "<stdin>").unwrap_err();
        e.downcast_ref::<InputError>()
            .unwrap_or_else(|| panic!("not an InputError: {e:#}"))
            .0
            .clone()
    }

    /// A pipe that hands out at most 7 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn stream_reads_exactly_the_declared_size() {
        for g in [
            sample(false),
            sample(true),
            sample_embedded(false),
            sample_embedded(true),
        ] {
            let bytes = to_bytes(&g);
            assert_eq!(read_from(Trickle(&bytes), "<stdin>").unwrap(), g);
            // Whatever follows the declared size is not read to its end.
            let e = read_err(bytes.as_slice().chain(io::repeat(0)));
            assert_eq!(
                e,
                format!(
                    "<stdin>: longer than the {} bytes its header declares: the file is corrupt",
                    bytes.len()
                )
            );
            // A short stream reads as the same truncated file from_bytes reports.
            for len in [0, 5, 20, 40, bytes.len() - 1] {
                let from_stream = read_err(Trickle(&bytes[..len]));
                assert_eq!(
                    from_stream,
                    from_bytes(&bytes[..len], "<stdin>").unwrap_err().0
                );
            }
        }
    }

    #[test]
    fn endless_streams_stop_at_the_header() {
        assert_eq!(
            read_err(io::repeat(0)),
            "<stdin>: not a spreadbench graph file (bad magic)"
        );
        // A header declaring more than the bound: refused before reading on.
        let mut head = to_bytes(&sample(false))[..HEADER_LEN].to_vec();
        head[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let e = read_err(head.as_slice().chain(io::repeat(0)));
        assert!(
            e.starts_with("<stdin>: its header declares 1099511627776 nodes and 6 edges")
                && e.contains("over the 4 GiB this build reads"),
            "{e}"
        );
        // Labels whose declared length passes the bound.
        let bytes = to_bytes(&sample(true));
        let labl_len_at = HEADER_LEN + 3 * SECTION_HEAD_LEN + 5 * 5 + EDGE_ENTRY_LEN * 6 + 4;
        assert_eq!(&bytes[labl_len_at - 4..labl_len_at], TAG_LABL);
        let mut b = bytes[..labl_len_at].to_vec();
        b.extend_from_slice(&MAX_FILE_BYTES.to_le_bytes());
        let e = read_err(b.as_slice().chain(io::repeat(0)));
        assert!(e.contains("over the 4 GiB"), "{e}");

        // Flags the version does not have: refused from the header, before reading on.
        let mut head = to_bytes(&sample_embedded(false))[..HEADER_LEN].to_vec();
        head[8..12].copy_from_slice(&1u32.to_le_bytes());
        let e = read_err(head.as_slice().chain(io::repeat(0)));
        assert!(
            e.starts_with("<stdin>: flag bit 1 (embeddings) is set in a version-1 file"),
            "{e}"
        );
        head[8..12].copy_from_slice(&2u32.to_le_bytes());
        head[12] = 0x12;
        let e = read_err(head.as_slice().chain(io::repeat(0)));
        assert_eq!(
            e,
            "<stdin>: unknown flags 0x12 in the header (version 2 knows only bits 0 and 1)"
        );

        // Embeddings whose declared length passes the bound, after labels and without them.
        for labels in [false, true] {
            let bytes = to_bytes(&sample_embedded(labels));
            let embd_len_at = embd_at(labels) + 4;
            assert_eq!(&bytes[embd_len_at - 4..embd_len_at], TAG_EMBD);
            let mut b = bytes[..embd_len_at].to_vec();
            b.extend_from_slice(&MAX_FILE_BYTES.to_le_bytes());
            let e = read_err(b.as_slice().chain(io::repeat(0)));
            assert!(e.contains("over the 4 GiB"), "{e}");
            // Within the bound: read to the declared size, no further.
            let mut b = bytes[..embd_len_at].to_vec();
            b.extend_from_slice(&(1u64 << 20).to_le_bytes());
            let e = read_err(b.as_slice().chain(io::repeat(0)));
            assert!(
                e.contains("longer than the") && e.contains("bytes its header declares"),
                "{e}"
            );
            let declared: usize = embd_len_at + 8 + (1 << 20) + TRAILER_LEN;
            assert!(e.contains(&format!("the {declared} bytes")), "{e}");
        }
    }

    #[test]
    fn file_round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sbg");
        let g = sample(true);
        write_file(&g, &path).unwrap();
        assert_eq!(read_file(&path).unwrap(), g);
        assert!(!temp_path(&path).exists());
        // Overwrite in place.
        write_file(&sample(false), &path).unwrap();
        assert_eq!(read_file(&path).unwrap(), sample(false));

        let missing = dir.path().join("nope.sbg");
        let e = read_file(&missing).unwrap_err();
        let ie = e.downcast_ref::<InputError>().expect("an InputError");
        assert!(
            ie.0.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{}",
            ie.0
        );

        // A failed write leaves no temp file behind.
        let bad = dir.path().join("no-such-dir").join("g.sbg");
        assert!(write_file(&g, &bad).is_err());
        assert!(!temp_path(&bad).exists());
    }
}
