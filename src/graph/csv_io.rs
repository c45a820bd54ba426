//! CSV edge lists: import (any integer or string ids) and export (which imports back to the
//! identical [`Graph`]).
//!
//! Edge file, one directed edge per row: `src,dst[,weight[,type]]`. An optional header row is
//! recognised by its first field (`src`, `source`, `from`, `u`, `id1` or `node1`, any case).
//! Weight defaults to 1 and must lie in (0, 1]; type defaults to excitatory and is read with
//! [`EdgeKind::parse`]. Blank lines and lines starting with `#` are skipped; fields are
//! trimmed.
//!
//! Nodes file, next to it at [`nodes_path`] (`g.csv` → `g.csv.nodes.csv`), optional:
//! `id[,tier]` with a header row. It gives tiers, and lists nodes that have no edges. Nodes
//! it does not list, or all nodes when there is no such file, get tiers from
//! [`assign_tiers`] with the import's shares and seed.
//!
//! Ids become dense `0..n`: in ascending numeric order if every id is an integer, otherwise
//! in order of first appearance (nodes file first, then each edge row's src and dst). The
//! original ids are kept as labels unless they are exactly `0`..`n-1` already.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::Context;

use super::generate::assign_tiers;
use super::{EdgeKind, EdgeSpec, Graph, Tier};
use crate::atomic_file;
use crate::input::{human_bytes, input_error_in, is_stdin, Bounded, Input};
use crate::InputError;

/// How to read a CSV edge list.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvImport {
    /// Store each row as u→v and v→u.
    pub undirected: bool,
    /// Tier shares [hot, warm, cold] and seed used (via generate::assign_tiers) for nodes when
    /// no nodes file exists (or it does not list them).
    pub tier_shares: [f64; 3],
    pub seed: u64,
}

/// First fields that mark the first row of an edge file as a header.
const EDGE_HEADER_WORDS: [&str; 6] = ["src", "source", "from", "u", "id1", "node1"];
/// First fields that mark the first row of a nodes file as a header.
const NODE_HEADER_WORDS: [&str; 5] = ["id", "node", "node_id", "nodeid", "name"];
const EDGE_FIELDS: [&str; 4] = ["src", "dst", "weight", "type"];
const NODE_FIELDS: [&str; 2] = ["id", "tier"];

/// `<path>.nodes.csv`, e.g. `g.csv` → `g.csv.nodes.csv`: where node tiers are read from and
/// written to.
pub fn nodes_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".nodes.csv");
    PathBuf::from(s)
}

/// The most an edge list (or its nodes file) may hold: 1 GiB, about three times scale-free-1m's
/// edge list (8 M rows, some 300 MB). Lower than `.sbg`'s bound because each row, however
/// short, costs about 26 bytes of memory until the graph is built: an endless stream of the
/// shortest rows (`0,1`, 4 bytes) costs about 7 GB before it is refused.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The longest physical line read: 1 MiB. Real rows are tens of bytes; the bound stops an
/// input without line breaks (`/dev/zero`) after a megabyte instead of at [`MAX_FILE_BYTES`].
pub const MAX_LINE_BYTES: u64 = 1 << 20;

/// The bounds a reader applies (the constants above, smaller in tests).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    file: u64,
    line: u64,
}

const BOUNDS: Bounds = Bounds {
    file: MAX_FILE_BYTES,
    line: MAX_LINE_BYTES,
};

/// Reads a CSV edge list (and its nodes file, if there is one) into a graph; `-` reads
/// standard input, which has no nodes file. Every problem with the files' content, or a file
/// that cannot be read, is an [`InputError`] naming the file, the line and the field.
pub fn read_edge_list(path: &Path, opts: &CsvImport) -> anyhow::Result<Graph> {
    let input = Input::open(path)?;
    let name = input.name.clone();
    let npath = (!is_stdin(path)).then(|| nodes_path(path));
    read_edge_list_from(input, &name, npath.as_deref(), opts)
}

/// Reads a CSV edge list from `reader` (a file, a pipe, standard input), named `name` in
/// messages, with the nodes file at `nodes_file` if one is given and exists. Both are read
/// within [`MAX_FILE_BYTES`] and [`MAX_LINE_BYTES`].
pub fn read_edge_list_from(
    edges: impl io::Read,
    name: &str,
    nodes_file: Option<&Path>,
    opts: &CsvImport,
) -> anyhow::Result<Graph> {
    read_within(edges, name, nodes_file, opts, BOUNDS)
}

fn read_within(
    edges: impl io::Read,
    name: &str,
    nodes_file: Option<&Path>,
    opts: &CsvImport,
    bounds: Bounds,
) -> anyhow::Result<Graph> {
    let mut ids = Ids::default();

    // Nodes file first: its ids come first in first-appearance order.
    let listed_tiers = match nodes_file {
        Some(npath) => read_nodes_file(npath, &mut ids, bounds)?,
        None => Vec::new(),
    };

    // Edges, with ids in first-appearance numbering for now.
    let rows = read_edge_rows(edges, name, &mut ids, bounds)?;

    let n = ids.names.len();
    if rows.is_empty() && n == 0 {
        return Err(InputError::new(format!("{name}: no edges")).into());
    }

    let dense_of = dense_numbering(&ids.names);

    let mut labels = vec![String::new(); n];
    for (old, label) in ids.names.into_iter().enumerate() {
        labels[dense_of[old] as usize] = label;
    }
    let labels_are_dense = labels.iter().enumerate().all(|(i, s)| *s == i.to_string());

    let assigned = assign_tiers(n, opts.tier_shares, opts.seed);
    let mut tiers = assigned;
    for (old, t) in listed_tiers.iter().enumerate() {
        if let Some(t) = t {
            tiers[dense_of[old] as usize] = *t;
        }
    }

    let edges = renumber(rows, &dense_of, opts.undirected);

    let g = Graph::from_edges(&tiers, edges)
        .map_err(|e| InputError::new(format!("{name}: {}", e.0)))?;
    Ok(if labels_are_dense {
        g
    } else {
        g.with_labels(labels)
    })
}

/// The tiers the nodes file at `npath` lists (indexed like `ids`), none if it does not exist.
fn read_nodes_file(
    npath: &Path,
    ids: &mut Ids,
    bounds: Bounds,
) -> anyhow::Result<Vec<Option<Tier>>> {
    let mut listed_tiers: Vec<Option<Tier>> = Vec::new();
    let nname = npath.display().to_string();
    match File::open(npath) {
        Ok(f) => read_nodes(f, &nname, ids, &mut listed_tiers, bounds)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(InputError::new(format!("{nname}: cannot read: {e}")).into()),
    }
    Ok(listed_tiers)
}

/// The edge file's rows, with ids numbered in order of first appearance in `ids`.
fn read_edge_rows(
    edges: impl io::Read,
    name: &str,
    ids: &mut Ids,
    bounds: Bounds,
) -> anyhow::Result<Vec<EdgeSpec>> {
    let mut rows: Vec<EdgeSpec> = Vec::new();
    let mut rdr = reader(edges, name, bounds);
    let mut rec = csv::StringRecord::new();
    let mut first = true;
    while let Some(line) = next_record(&mut rdr, &mut rec, name, &EDGE_FIELDS)? {
        let src_text = field_text(&rec, 0, first);
        if first {
            first = false;
            if EDGE_HEADER_WORDS
                .iter()
                .any(|w| src_text.eq_ignore_ascii_case(w))
            {
                continue;
            }
        }
        rows.push(edge_row(&rec, src_text, line, name, ids)?);
    }
    Ok(rows)
}

/// One edge row (`src,dst[,weight[,type]]`, on physical line `line`) as an edge.
fn edge_row(
    rec: &csv::StringRecord,
    src_text: &str,
    line: u64,
    name: &str,
    ids: &mut Ids,
) -> Result<EdgeSpec, InputError> {
    let at = |field: &str, msg: String| {
        InputError::new(format!("{name}:{line}: field '{field}': {msg}"))
    };
    if !(2..=4).contains(&rec.len()) {
        return Err(InputError::new(format!(
            "{name}:{line}: expected 2 to 4 fields (src,dst[,weight[,type]]), found {}",
            rec.len()
        )));
    }
    let dst_text = &rec[1];
    if src_text.is_empty() {
        return Err(at("src", "is empty".into()));
    }
    if dst_text.is_empty() {
        return Err(at("dst", "is empty".into()));
    }
    let weight = match rec.get(2) {
        None | Some("") => 1.0,
        Some(w) => parse_weight(w).map_err(|msg| at("weight", msg))?,
    };
    let kind = match rec.get(3) {
        None | Some("") => EdgeKind::Excitatory,
        Some(t) => EdgeKind::parse(t).ok_or_else(|| {
            at(
                "type",
                format!("'{t}' is not one of excitatory, inhibitory, modulatory"),
            )
        })?,
    };
    let src = ids
        .intern(src_text)
        .map_err(|msg| InputError::new(format!("{name}:{line}: {msg}")))?;
    let dst = ids
        .intern(dst_text)
        .map_err(|msg| InputError::new(format!("{name}:{line}: {msg}")))?;
    Ok(EdgeSpec {
        src,
        dst,
        weight,
        kind,
    })
}

/// The dense id of each id in `names` (indexed in first-appearance order).
fn dense_numbering(names: &[String]) -> Vec<u32> {
    let n = names.len();
    // Ascending numeric order if every id is an integer (ties between spellings of the same
    // number, like "7" and "07", keep first-appearance order), else first appearance.
    let numeric: Option<Vec<i64>> = names.iter().map(|s| s.parse::<i64>().ok()).collect();
    match numeric {
        Some(values) => {
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_by_key(|&i| (values[i as usize], i));
            let mut dense_of = vec![0u32; n];
            for (dense, &old) in order.iter().enumerate() {
                dense_of[old as usize] = dense as u32;
            }
            dense_of
        }
        None => (0..n as u32).collect(),
    }
}

/// The rows in dense ids, with the reversed copies of an undirected import.
fn renumber(mut edges: Vec<EdgeSpec>, dense_of: &[u32], undirected: bool) -> Vec<EdgeSpec> {
    // Renumbered in place, and reversed copies appended rather than interleaved: the rows are
    // the largest allocation of an import, and `Graph::from_edges` sorts them anyway.
    let directed_rows = edges.len();
    for e in edges.iter_mut() {
        e.src = dense_of[e.src as usize];
        e.dst = dense_of[e.dst as usize];
    }
    if undirected {
        for i in 0..directed_rows {
            let e = edges[i];
            // A self-loop is one edge either way.
            if e.src != e.dst {
                edges.push(EdgeSpec {
                    src: e.dst,
                    dst: e.src,
                    ..e
                });
            }
        }
    }
    edges
}

/// Reads the nodes file into `ids` (in file order) and `tiers` (indexed like `ids`).
fn read_nodes(
    file: impl io::Read,
    name: &str,
    ids: &mut Ids,
    tiers: &mut Vec<Option<Tier>>,
    bounds: Bounds,
) -> anyhow::Result<()> {
    let mut rdr = reader(file, name, bounds);
    let mut rec = csv::StringRecord::new();
    let mut first = true;
    let mut listed_on: HashMap<u32, u64> = HashMap::new();
    while let Some(line) = next_record(&mut rdr, &mut rec, name, &NODE_FIELDS)? {
        let id = field_text(&rec, 0, first);
        if first {
            first = false;
            if NODE_HEADER_WORDS.iter().any(|w| id.eq_ignore_ascii_case(w)) {
                continue;
            }
        }
        if !(1..=2).contains(&rec.len()) {
            return Err(InputError::new(format!(
                "{name}:{line}: expected 1 or 2 fields (id[,tier]), found {}",
                rec.len()
            ))
            .into());
        }
        if id.is_empty() {
            return Err(InputError::new(format!("{name}:{line}: field 'id': is empty")).into());
        }
        let tier = match rec.get(1) {
            None | Some("") => None,
            Some(t) => Some(Tier::parse(t).ok_or_else(|| {
                InputError::new(format!(
                    "{name}:{line}: field 'tier': '{t}' is not one of hot, warm, cold"
                ))
            })?),
        };
        let idx = ids
            .intern(id)
            .map_err(|msg| InputError::new(format!("{name}:{line}: {msg}")))?;
        if let Some(prev) = listed_on.insert(idx, line) {
            return Err(InputError::new(format!(
                "{name}:{line}: field 'id': node '{id}' is listed twice (first on line {prev})"
            ))
            .into());
        }
        if tiers.len() <= idx as usize {
            tiers.resize(idx as usize + 1, None);
        }
        tiers[idx as usize] = tier;
    }
    Ok(())
}

/// Distinct ids in order of first appearance.
#[derive(Default)]
struct Ids {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Ids {
    fn intern(&mut self, id: &str) -> Result<u32, String> {
        if let Some(&i) = self.index.get(id) {
            return Ok(i);
        }
        if self.names.len() >= u32::MAX as usize {
            return Err(format!("more than {} distinct node ids", u32::MAX));
        }
        let i = self.names.len() as u32;
        self.index.insert(id.to_owned(), i);
        self.names.push(id.to_owned());
        Ok(i)
    }
}

/// The CSV parser over `r` (named `name` in messages), within `bounds`.
fn reader<R: io::Read>(r: R, name: &str, bounds: Bounds) -> csv::Reader<LineTracked<Bounded<R>>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(LineTracked::new(
            Bounded::new(r, name, bounds.file),
            name,
            bounds.line,
        ))
}

/// Field `i` of `rec`; on the file's first record, without a leading UTF-8 byte order mark.
fn field_text(rec: &csv::StringRecord, i: usize, first: bool) -> &str {
    let s = rec.get(i).unwrap_or("");
    if first {
        s.strip_prefix('\u{feff}').map_or(s, str::trim)
    } else {
        s
    }
}

/// Reads the next record that is not blank; returns its 1-based physical line, or `None` at
/// the end.
fn next_record<R: io::Read>(
    rdr: &mut csv::Reader<LineTracked<R>>,
    rec: &mut csv::StringRecord,
    name: &str,
    fields: &[&str],
) -> anyhow::Result<Option<u64>> {
    loop {
        match rdr.read_record(rec) {
            Ok(false) => return Ok(None),
            Ok(true) => {
                let line = rdr
                    .get_mut()
                    .line_of_record(rec.position().map(|p| p.byte()));
                // A line of only whitespace is a single empty field after trimming.
                if rec.len() == 1 && rec[0].is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            Err(e) => {
                let line = match e.kind() {
                    csv::ErrorKind::Io(_) => None,
                    _ => Some(rdr.get_mut().line_of_record(e.position().map(|p| p.byte()))),
                };
                return Err(csv_error(e, line, name, fields).into());
            }
        }
    }
}

/// One line naming the file (and the line, when known) for a CSV-level failure.
fn csv_error(e: csv::Error, line: Option<u64>, name: &str, fields: &[&str]) -> InputError {
    let at = match line {
        Some(l) => format!("{name}:{l}"),
        None => name.to_owned(),
    };
    match e.kind() {
        csv::ErrorKind::Io(io) => match input_error_in(io) {
            // A bound was passed: the reader's own message says which.
            Some(e) => e.clone(),
            None => InputError::new(format!("{name}: cannot read: {io}")),
        },
        csv::ErrorKind::Utf8 { err, .. } => {
            let field = match fields.get(err.field()) {
                Some(f) => format!("'{f}'"),
                None => format!("{}", err.field() + 1),
            };
            InputError::new(format!("{at}: field {field}: not valid UTF-8"))
        }
        _ => {
            let msg = e.to_string().replace(['\n', '\r'], " ");
            InputError::new(format!("{at}: {msg}"))
        }
    }
}

/// A reader that remembers the bytes the CSV parser has not finished with, so that the
/// physical line of each record can be found. (`csv::Position::line()` does not count blank
/// lines, counts CRLF blank lines as nothing, and its byte offset points at the first skipped
/// blank or comment line before a record rather than at the record.)
///
/// It also refuses a physical line longer than `max_line` bytes, since it sees every byte.
struct LineTracked<R> {
    inner: R,
    /// The bytes read from `inner`, from offset `base` on.
    window: VecDeque<u8>,
    base: u64,
    /// Line terminators counted in the bytes before `base`.
    terminators: u64,
    /// Bytes read since the last line terminator.
    line_len: u64,
    max_line: u64,
    name: String,
}

impl<R> LineTracked<R> {
    fn new(inner: R, name: &str, max_line: u64) -> Self {
        LineTracked {
            inner,
            window: VecDeque::new(),
            base: 0,
            terminators: 0,
            line_len: 0,
            max_line,
            name: name.to_owned(),
        }
    }

    /// The 1-based line of the byte at `at` in the window.
    fn line_at(&self, at: usize) -> u64 {
        let mut t = self.terminators;
        for (i, &b) in self.window.iter().enumerate().take(at) {
            match b {
                b'\n' => t += 1,
                b'\r' if self.window.get(i + 1) != Some(&b'\n') => t += 1,
                _ => {}
            }
        }
        t + 1
    }

    fn byte(&self, offset: u64) -> Option<u8> {
        let i = offset.checked_sub(self.base)?;
        self.window.get(usize::try_from(i).ok()?).copied()
    }

    /// The 1-based line of the record the parser began reading at byte `from` (where the
    /// previous record ended): skips blank and comment lines the way the parser does, counts
    /// `\n`, `\r\n` and lone `\r` as one terminator each, and forgets the bytes before the
    /// record. Records must be asked about in order.
    fn line_of_record(&mut self, from: Option<u64>) -> u64 {
        let mut at = from.unwrap_or(self.base).max(self.base);
        loop {
            match self.byte(at) {
                Some(b'\r' | b'\n') => at += 1,
                Some(b'#') => {
                    while let Some(b) = self.byte(at) {
                        at += 1;
                        if b == b'\n' || b == b'\r' {
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
        let end = usize::try_from(at - self.base)
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        for i in 0..end {
            match self.window[i] {
                b'\n' => self.terminators += 1,
                b'\r' if self.window.get(i + 1) != Some(&b'\n') => self.terminators += 1,
                _ => {}
            }
        }
        self.window.drain(..end);
        self.base += end as u64;
        self.terminators + 1
    }
}

impl<R: io::Read> io::Read for LineTracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.window.extend(chunk);
        // The pieces between terminators: the first continues the line the previous read
        // ended in, the last is carried into the next read.
        let mut too_long = None;
        let mut at = self.window.len() - n;
        for (i, piece) in chunk.split(|&b| b == b'\n' || b == b'\r').enumerate() {
            if i > 0 {
                self.line_len = 0;
                at += 1;
            }
            self.line_len += piece.len() as u64;
            if self.line_len > self.max_line && too_long.is_none() {
                too_long = Some(at);
            }
            at += piece.len();
        }
        if let Some(at) = too_long {
            let e = InputError::new(format!(
                "{}:{}: line longer than {}; refusing to read further (is it an endless input such as /dev/zero?)",
                self.name,
                self.line_at(at),
                human_bytes(self.max_line)
            ));
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }
}

/// A weight in (0, 1], or the reason it is not one.
fn parse_weight(text: &str) -> Result<f32, String> {
    let Ok(wide) = text.parse::<f64>() else {
        return Err(format!("'{text}' is not a number"));
    };
    if !(wide > 0.0 && wide <= 1.0) {
        return Err(format!("{text} is outside (0, 1]"));
    }
    // Parsed again directly as f32, so the value is correctly rounded once (what `{}` wrote
    // comes back bit for bit).
    let w = text
        .parse::<f32>()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if w <= 0.0 {
        return Err(format!(
            "{text} is too small to store (the smallest weight is {})",
            f32::from_bits(1)
        ));
    }
    Ok(w.min(1.0))
}

/// A CSV writer that quotes fields starting with `#`, so ids like `#tag` do not read back as
/// comments.
fn writer<W: io::Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().comment(Some(b'#')).from_writer(w)
}

/// Writes `src,dst,weight,type` (header row, one row per directed edge in CSR order, type as
/// its full name, weight as the shortest decimal that reads back to the same f32) to `path`
/// and `id,tier` (every node, in id order, tier by name) to [`nodes_path`]`(path)`. Ids are
/// the graph's labels if it has them, else `0..n-1`. Both files follow
/// [`atomic_file::write_atomic`]'s rules; both are written in full under temporary names
/// before either is renamed into place (the nodes file first), so a failure leaves neither.
pub fn write_edge_list(g: &Graph, path: &Path) -> anyhow::Result<()> {
    write_edge_list_inner(g, path, None)
}

/// [`write_edge_list`] that gives up, leaving both files as they were, once `stop` is set (a
/// signal): the error then has [`atomic_file::Stopped`] at its root.
pub fn write_edge_list_until(g: &Graph, path: &Path, stop: &AtomicBool) -> anyhow::Result<()> {
    write_edge_list_inner(g, path, Some(stop))
}

fn write_edge_list_inner(g: &Graph, path: &Path, stop: Option<&AtomicBool>) -> anyhow::Result<()> {
    let labels = g.labels();
    let id = |i: u32| -> String {
        match labels {
            Some(l) => l[i as usize].clone(),
            None => i.to_string(),
        }
    };
    let npath = nodes_path(path);
    let nodes_context = || format!("cannot write nodes file {}", npath.display());
    let edges_context = || format!("cannot write edge list {}", path.display());
    let nodes = atomic_file::stage(&npath, stop, |w| {
        let mut wtr = writer(w);
        wtr.write_record(["id", "tier"])?;
        for (i, r) in g.nodes().iter().enumerate() {
            wtr.write_record([id(i as u32).as_str(), r.tier().name()])?;
        }
        wtr.flush()
    })
    .with_context(nodes_context)?;

    let edges = atomic_file::stage(path, stop, |w| {
        let mut wtr = writer(w);
        wtr.write_record(["src", "dst", "weight", "type"])?;
        for e in g.edge_specs() {
            let weight = e.weight.to_string();
            wtr.write_record([
                id(e.src).as_str(),
                id(e.dst).as_str(),
                weight.as_str(),
                e.kind.name(),
            ])?;
        }
        wtr.flush()
    })
    .with_context(edges_context)?;
    nodes.commit().with_context(nodes_context)?;
    edges.commit().with_context(edges_context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate::{generate, GraphParams, Topology};
    use std::fs;
    use std::io::Read;

    fn opts() -> CsvImport {
        CsvImport {
            undirected: false,
            tier_shares: [0.0, 1.0, 0.0],
            seed: 1,
        }
    }

    /// Writes `content` to `name` in a fresh temp dir and returns (dir, path).
    fn file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        (dir, path)
    }

    fn input_error(r: anyhow::Result<Graph>) -> String {
        let e = r.unwrap_err();
        e.downcast_ref::<InputError>()
            .unwrap_or_else(|| panic!("not an InputError: {e:#}"))
            .0
            .clone()
    }

    #[test]
    fn nodes_path_appends() {
        assert_eq!(
            nodes_path(Path::new("d/g.csv")),
            PathBuf::from("d/g.csv.nodes.csv")
        );
    }

    #[test]
    fn generated_graph_round_trips() {
        let p = GraphParams {
            topology: Topology::BarabasiAlbert { m: 3 },
            nodes: 200,
            directed: false,
            weight_min: 0.01,
            weight_max: 1.0,
            inhibitory_share: 0.2,
            modulatory_share: 0.15,
            tier_shares: [0.2, 0.5, 0.3],
            seed: 11,
        };
        let g = generate(&p).unwrap();
        assert!(g.kind_counts().iter().all(|&k| k > 0));
        assert!(g.tier_counts().iter().all(|&k| k > 0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.csv");
        write_edge_list(&g, &path).unwrap();
        // Different import shares and seed: the nodes file decides every tier.
        let back = read_edge_list(
            &path,
            &CsvImport {
                undirected: false,
                tier_shares: [1.0, 0.0, 0.0],
                seed: 99,
            },
        )
        .unwrap();
        assert_eq!(back, g);
        assert!(back.labels().is_none());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }

    #[test]
    fn isolated_nodes_labels_and_odd_ids_round_trip() {
        let tiers = [Tier::Cold, Tier::Hot, Tier::Warm, Tier::Hot];
        let spec = |src, dst, weight, kind| EdgeSpec {
            src,
            dst,
            weight,
            kind,
        };
        let g = Graph::from_edges(
            &tiers,
            vec![
                spec(0, 1, 0.1, EdgeKind::Inhibitory),
                spec(1, 0, 1.0, EdgeKind::Modulatory),
                spec(0, 0, 1e-40, EdgeKind::Excitatory),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.csv");
        write_edge_list(&g, &path).unwrap();
        assert_eq!(read_edge_list(&path, &opts()).unwrap(), g);

        let labelled = g.with_labels(vec![
            "#tag".into(),
            "a,b".into(),
            "say \"hi\"".into(),
            "ünï".into(),
        ]);
        write_edge_list(&labelled, &path).unwrap();
        let back = read_edge_list(&path, &opts()).unwrap();
        assert_eq!(back, labelled);
    }

    #[test]
    fn string_ids_in_first_appearance_order_with_labels() {
        let (_d, path) = file(
            "g.csv",
            "carol,alice,0.5\nalice,bob\nbob,carol,1,inhibitory\n",
        );
        let g = read_edge_list(&path, &opts()).unwrap();
        assert_eq!(g.labels().unwrap(), ["carol", "alice", "bob"]);
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.out_edges(0)[0].target, 1);
        assert_eq!(g.out_edges(0)[0].weight, 0.5);
        assert_eq!(g.out_edges(2)[0].weight, -1.0);
        assert_eq!(g.tier_counts(), [0, 3, 0]);
    }

    #[test]
    fn integer_ids_are_sorted_and_kept_as_labels_unless_dense() {
        let (_d, path) = file("g.csv", "30,10\n-5,30\n");
        let g = read_edge_list(&path, &opts()).unwrap();
        assert_eq!(g.labels().unwrap(), ["-5", "10", "30"]);
        assert_eq!(g.out_edges(2)[0].target, 1);

        let (_d, path) = file("g.csv", "2,0\n1,2\n");
        let g = read_edge_list(&path, &opts()).unwrap();
        assert!(g.labels().is_none());
        assert_eq!(g.out_edges(2)[0].target, 0);
    }

    #[test]
    fn header_comments_blanks_and_whitespace() {
        let text =
            "\u{feff}Source , Target,Weight,Type\n# a comment\n\n  a ,  b , 0.25 , m \n   \nb,a\n";
        let (_d, path) = file("g.csv", text);
        let g = read_edge_list(&path, &opts()).unwrap();
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.labels().unwrap(), ["a", "b"]);
        assert_eq!(g.edge_kinds()[0], EdgeKind::Modulatory);
        assert_eq!(g.out_edges(0)[0].weight, 0.125);
    }

    #[test]
    fn undirected_doubles_edges() {
        let (_d, path) = file("g.csv", "0,1,0.5,i\n1,2\n2,2\n");
        let mut o = opts();
        o.undirected = true;
        let g = read_edge_list(&path, &o).unwrap();
        assert_eq!(g.edge_count(), 5, "self-loop stored once");
        assert_eq!(g.out_edges(1).len(), 2);
        assert_eq!(g.out_edges(1)[0].weight, -0.5);
        o.undirected = false;
        assert_eq!(read_edge_list(&path, &o).unwrap().edge_count(), 3);
    }

    #[test]
    fn bad_weight_names_line_and_field() {
        let (_d, path) = file("g.csv", "src,dst,weight\n0,1,0.5\n1,2,abc\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(e.contains(":3:") && e.contains("weight"), "{e}");
        assert!(e.ends_with("field 'weight': 'abc' is not a number"), "{e}");
        assert!(e.starts_with(&path.display().to_string()));

        let (_d, path) = file("g.csv", "# comment\n0,1,0.5\n1,2,1.5\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.ends_with(":3: field 'weight': 1.5 is outside (0, 1]"),
            "{e}"
        );

        for w in ["0", "-0.1", "NaN", "inf"] {
            let (_d, path) = file("g.csv", &format!("0,1,{w}\n"));
            let e = input_error(read_edge_list(&path, &opts()));
            assert!(e.contains(":1: field 'weight'"), "{e}");
        }
    }

    #[test]
    fn line_numbers_are_physical_lines() {
        let cases = [
            ("0,1\n\n0,1,x\n", 3),
            ("\n\n\n0,1,x\n", 4),
            ("0,1\r\n\r\n0,1,x\r\n", 3),
            ("# c\n\n# c\n0,1,x\n", 4),
            ("0,1\n  \n0,1,x\n", 3),
            ("0,\"a\nb\"\n0,1,x\n", 3),
            ("0,1\r\r0,1,x\n", 3),
            ("src,dst\n0,1\n\n\n\n0,1\n0,1,x\n", 7),
            ("#\n#\r\n0,1,0.5\n#x\n\n0,1,x", 6),
        ];
        for (text, line) in cases {
            let (_d, path) = file("g.csv", text);
            let e = input_error(read_edge_list(&path, &opts()));
            assert!(
                e.contains(&format!(":{line}: field 'weight'")),
                "{text:?}: {e}"
            );
        }
        // Many records: the tracked window stays correct across buffer refills.
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("{i},{}\r\n", i + 1));
            if i % 7 == 0 {
                text.push_str("# comment\n\n");
            }
        }
        let lines = text.lines().count();
        text.push_str("1,2,3\n");
        let (_d, path) = file("g.csv", &text);
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.contains(&format!(":{}: field 'weight'", lines + 1)),
            "{e}"
        );
    }

    #[test]
    fn bad_type_is_refused() {
        let (_d, path) = file("g.csv", "0,1\n\n0,1,0.5,x\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.ends_with(":3: field 'type': 'x' is not one of excitatory, inhibitory, modulatory"),
            "{e}"
        );
    }

    #[test]
    fn wrong_column_counts_and_empty_ids() {
        let (_d, path) = file("g.csv", "0,1\n0,1,0.5,e,extra\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.contains(":2: expected 2 to 4 fields") && e.contains("found 5"),
            "{e}"
        );

        let (_d, path) = file("g.csv", "0,1\n7\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.contains(":2: expected 2 to 4 fields") && e.contains("found 1"),
            "{e}"
        );

        let (_d, path) = file("g.csv", "0,1\n , 2\n");
        assert!(input_error(read_edge_list(&path, &opts())).ends_with(":2: field 'src': is empty"));
        let (_d, path) = file("g.csv", "0,\n");
        assert!(input_error(read_edge_list(&path, &opts())).ends_with(":1: field 'dst': is empty"));
    }

    #[test]
    fn nodes_file_gives_tiers_and_isolated_nodes() {
        let (dir, path) = file("g.csv", "a,b\n");
        fs::write(nodes_path(&path), "id,tier\nz,cold\nb,hot\na\n").unwrap();
        let g = read_edge_list(&path, &opts()).unwrap();
        assert_eq!(g.labels().unwrap(), ["z", "b", "a"]);
        assert_eq!(g.tier(0), Tier::Cold);
        assert_eq!(g.tier(1), Tier::Hot);
        assert_eq!(g.tier(2), Tier::Warm, "unlisted tier comes from the shares");
        assert_eq!(g.out_edges(2)[0].target, 1);

        // Nodes only, no edges: a graph of isolated nodes.
        fs::write(&path, "").unwrap();
        let g = read_edge_list(&path, &opts()).unwrap();
        assert_eq!((g.node_count(), g.edge_count()), (3, 0));
        drop(dir);
    }

    #[test]
    fn nodes_file_errors() {
        let (_d, path) = file("g.csv", "0,1\n");
        fs::write(nodes_path(&path), "id,tier\n0,hot\n1,lukewarm\n").unwrap();
        let e = input_error(read_edge_list(&path, &opts()));
        let np = nodes_path(&path).display().to_string();
        assert_eq!(
            e,
            format!("{np}:3: field 'tier': 'lukewarm' is not one of hot, warm, cold")
        );

        fs::write(nodes_path(&path), "id,tier\n0,hot\n0,cold\n").unwrap();
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(
            e.contains(":3: field 'id'") && e.contains("first on line 2"),
            "{e}"
        );

        fs::write(nodes_path(&path), "id,tier\n0,hot,x\n").unwrap();
        assert!(input_error(read_edge_list(&path, &opts())).contains(":2: expected 1 or 2 fields"));
    }

    /// Repeats `pattern` for ever, as `yes` does.
    struct Endless(&'static [u8], usize);

    impl io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            for b in buf.iter_mut() {
                *b = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
            Ok(buf.len())
        }
    }

    fn within(input: impl io::Read, file: u64, line: u64) -> anyhow::Result<Graph> {
        read_within(input, "<stdin>", None, &opts(), Bounds { file, line })
    }

    #[test]
    fn endless_rows_are_refused_at_the_total_bound() {
        let e = input_error(within(Endless(b"0,1\n", 0), 1 << 20, 100));
        assert!(
            e.starts_with("<stdin>: larger than 1 MiB; refusing to read further"),
            "{e}"
        );
        // Exactly at the bound is still read.
        let g = within(Endless(b"0,1\n", 0).take(1 << 20), 1 << 20, 100).unwrap();
        assert_eq!(g.edge_count(), 1 << 18);
    }

    #[test]
    fn a_line_past_the_line_bound_is_refused_naming_it() {
        let e = input_error(within(io::repeat(0), 1 << 30, 4096));
        assert_eq!(
            e,
            "<stdin>:1: line longer than 4096 bytes; refusing to read further (is it an endless input such as /dev/zero?)"
        );
        // Physical lines, counted as the error messages count them.
        let head = b"0,1\r\n# comment\n\r1,2\n".as_slice();
        let e = input_error(within(head.chain(io::repeat(b'7')), 1 << 30, 4096));
        assert!(
            e.starts_with("<stdin>:5: line longer than 4096 bytes"),
            "{e}"
        );
        // A line of exactly the bound is read (4094 digits, a comma, one more digit).
        let mut text = "1".repeat(4094);
        text.push_str(",2\n0,1\n");
        let g = within(text.as_bytes(), 1 << 30, 4096).unwrap();
        assert_eq!(g.edge_count(), 2);
        let mut text = "1".repeat(4095);
        text.push_str(",2\n");
        assert!(input_error(within(text.as_bytes(), 1 << 30, 4096)).contains(":1: line longer"));
    }

    #[test]
    fn empty_missing_and_non_utf8_files() {
        let (_d, path) = file("g.csv", "# only a comment\n\nsrc,dst\n");
        let e = input_error(read_edge_list(&path, &opts()));
        assert_eq!(e, format!("{}: no edges", path.display()));

        let missing = path.with_file_name("missing.csv");
        let e = input_error(read_edge_list(&missing, &opts()));
        assert!(
            e.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{e}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.csv");
        fs::write(&path, b"0,1\n1,2\n2,\xff\xfe\n").unwrap();
        let e = input_error(read_edge_list(&path, &opts()));
        assert!(e.ends_with(":3: field 'dst': not valid UTF-8"), "{e}");
    }
}
