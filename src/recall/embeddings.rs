//! Node embeddings: one unit f32 vector per node, stored so the similarity scan can stream
//! them, and generated (seeded) so that nodes similar by vector are also near in the graph.
//!
//! The rows live in one contiguous, 64-byte-aligned array (row `i` at `i·dim`), normalised
//! once when they are built: cosine similarity is then a plain dot product, and the scan reads
//! memory in order. Every constructor checks that each row is finite and not all zeros, since
//! such a row has no direction and would make every score it touches meaningless.
//!
//! Generation follows DESIGN §7: `clusters` centre nodes are drawn, every node joins the cell
//! of its nearest centre in the graph (multi-source BFS along out-edges, ties to the lower
//! centre id), each cell gets a random unit centroid, and a node's vector is its centroid plus
//! Gaussian noise, normalised. All randomness comes from [`SeededRng`] sub-streams and the
//! Gaussian draws use only IEEE-exact arithmetic (no libm), so the same spec and graph give the
//! same bits on every machine.

use crate::aligned::CacheAligned;
use crate::graph::Graph;
use crate::rng::SeededRng;
use crate::InputError;
use std::fmt;

/// The largest `dim` accepted from a workload or a file (far above any embedding model's).
pub const MAX_DIM: usize = 1 << 16;

/// How far from 1 a stored row's norm may be for [`Embeddings::from_stored`] to keep it as
/// is: well above the ~1e-7 that rounding a normalised row to f32 leaves, far below any
/// difference that would move a similarity a recall can see.
pub const UNIT_NORM_TOLERANCE: f64 = 1e-6;

/// Unit vectors for `n` nodes, `dim` components each, in one 64-byte-aligned array.
#[derive(Clone, PartialEq)]
pub struct Embeddings {
    n: usize,
    dim: usize,
    data: CacheAligned<f32>,
}

/// Why a row cannot be normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowError {
    /// `data[row·dim + col]` is NaN or ±∞.
    NonFinite { row: usize, col: usize, value: f32 },
    /// Every component of the row is zero.
    Zero { row: usize },
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RowError::NonFinite { row, col, value } => {
                write!(f, "row {row} holds {value} at column {col}")
            }
            RowError::Zero { row } => {
                write!(f, "row {row} is all zeros, so it has no direction")
            }
        }
    }
}

impl Embeddings {
    /// Builds embeddings from `data` (row-major, `dim` per row), normalising every row.
    /// `data.len()` must be a multiple of `dim`, and `dim` at least 1.
    pub fn from_rows(dim: usize, data: Vec<f32>) -> Result<Embeddings, RowError> {
        Self::from_aligned(dim, CacheAligned::from_vec(data))
    }

    /// As [`Embeddings::from_rows`], normalising in place an already aligned array.
    pub fn from_aligned(dim: usize, data: CacheAligned<f32>) -> Result<Embeddings, RowError> {
        Self::build(dim, data, false)
    }

    /// As [`Embeddings::from_aligned`] for rows that were saved as unit vectors (an `.sbg`'s
    /// `EMBD` section, a `.npy` written by `gen`): a row whose norm, summed in f64, is within
    /// [`UNIT_NORM_TOLERANCE`] of 1 is kept bit for bit; any other row is normalised.
    /// Normalising a unit row again moves the last bit of some components, which would give
    /// vectors read back a different [`Embeddings::fingerprint`] from the ones written.
    pub fn from_stored(dim: usize, data: CacheAligned<f32>) -> Result<Embeddings, RowError> {
        Self::build(dim, data, true)
    }

    fn build(
        dim: usize,
        mut data: CacheAligned<f32>,
        keep_unit_rows: bool,
    ) -> Result<Embeddings, RowError> {
        assert!(dim > 0, "embedding dimension must be at least 1");
        assert_eq!(data.len() % dim, 0, "data is not a whole number of rows");
        let n = data.len() / dim;
        for (row, v) in data.chunks_exact_mut(dim).enumerate() {
            if let Some(col) = v.iter().position(|x| !x.is_finite()) {
                return Err(RowError::NonFinite {
                    row,
                    col,
                    value: v[col],
                });
            }
            if keep_unit_rows {
                let sq: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
                if (sq.sqrt() - 1.0).abs() <= UNIT_NORM_TOLERANCE {
                    continue;
                }
            }
            if !normalise(v) {
                return Err(RowError::Zero { row });
            }
        }
        Ok(Embeddings { n, dim, data })
    }

    /// Number of rows (nodes).
    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit vector of node `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All rows, row-major; starts on a 64-byte boundary.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Size of the rows in bytes (what one full scan reads).
    pub fn bytes(&self) -> u64 {
        (self.data.len() * std::mem::size_of::<f32>()) as u64
    }

    /// A hash of the rows as stored (after normalisation), the same on every machine: it
    /// names the embeddings in a recall run's workload identity.
    pub fn fingerprint(&self) -> u64 {
        let mut h = crate::graph::Fnv1a64::new();
        h.write(&(self.n as u64).to_le_bytes());
        h.write(&(self.dim as u64).to_le_bytes());
        for x in self.data.iter() {
            h.write(&x.to_bits().to_le_bytes());
        }
        h.finish()
    }

    /// Generates embeddings for `graph` as the module documentation describes. Fails (bad
    /// input, naming the `embeddings.*` field) when `spec` does not fit the graph.
    pub fn generate(graph: &Graph, spec: &EmbeddingSpec) -> Result<Generated, InputError> {
        spec.validate(graph.node_count())?;
        let n = graph.node_count();
        let dim = spec.dim;
        let centres = pick_centres(n, spec.clusters, spec.seed);
        let cells = voronoi_cells(graph, &centres);

        let mut normal = Normal::new(SeededRng::derive(spec.seed, "embeddings.centroids"));
        let mut centroids = vec![0f32; spec.clusters * dim];
        for c in centroids.chunks_exact_mut(dim) {
            // A Gaussian vector, normalised, is uniform on the sphere. A zero draw of every
            // component is impossible in practice but would be redrawn.
            loop {
                c.iter_mut().for_each(|x| *x = normal.next() as f32);
                if normalise(c) {
                    break;
                }
            }
        }

        let mut normal = Normal::new(SeededRng::derive(spec.seed, "embeddings.noise"));
        let noise = spec.noise as f64;
        let mut data = CacheAligned::<f32>::new_default(n * dim);
        for (node, v) in data.chunks_exact_mut(dim).enumerate() {
            let centroid = &centroids[cells[node] as usize * dim..][..dim];
            loop {
                for (x, &c) in v.iter_mut().zip(centroid) {
                    *x = (c as f64 + noise * normal.next()) as f32;
                }
                // Only a noise draw that cancels the centroid exactly gives a zero row.
                if normalise(v) {
                    break;
                }
            }
        }
        Ok(Generated {
            embeddings: Embeddings { n, dim, data },
            cells,
            centres,
        })
    }
}

impl fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embeddings")
            .field("n", &self.n)
            .field("dim", &self.dim)
            .finish()
    }
}

/// Scales `v` to unit length (the norm summed in f64, so no row of finite f32 values
/// overflows or underflows). False, and `v` unchanged, if `v` is all zeros.
pub fn normalise(v: &mut [f32]) -> bool {
    let sq: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
    if sq == 0.0 {
        return false;
    }
    let inv = 1.0 / sq.sqrt();
    v.iter_mut().for_each(|x| *x = (*x as f64 * inv) as f32);
    true
}

/// Embeddings made by [`Embeddings::generate`], with the cell structure they were made from
/// (for quality measures: how often a cue's hits fall in its own cell).
#[derive(Debug, Clone)]
pub struct Generated {
    pub embeddings: Embeddings,
    /// The cell (centre index, `0..clusters`) of every node.
    pub cells: Vec<u32>,
    /// The node id of every centre, in centre-index order.
    pub centres: Vec<u32>,
}

/// How to generate embeddings: a workload's `[embeddings]` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddingSpec {
    /// Components per vector.
    pub dim: usize,
    /// Number of cells (centres); at most the node count.
    pub clusters: usize,
    /// Standard deviation of the Gaussian noise added to each component of the centroid.
    pub noise: f32,
    /// Standard deviation of the noise added to each component of a node's vector to make a
    /// cue (see [`CueStream`]).
    pub cue_noise: f32,
    pub seed: u64,
}

impl EmbeddingSpec {
    /// The settings chosen for `warm-10k` (10,000 nodes): see [`EmbeddingSpec::for_nodes`].
    pub fn warm_10k(seed: u64) -> EmbeddingSpec {
        Self::for_nodes(10_000, seed)
    }

    /// Defaults for a graph of `nodes` nodes: `dim` 768; one cell per 100 nodes, so a cell is
    /// about as large as recall's 100 candidates; `noise` 0.03 per component, which puts two
    /// nodes of one cell at cosine ≈ 1 / (1 + 768·0.03²) ≈ 0.59 and nodes of different cells
    /// near 0 (± 0.04); `cue_noise` 0.02, which scales a cue's cosine with its own cell by
    /// ≈ 1 / √(1 + 768·0.02²) ≈ 0.85, still clear of θ_sim = 0.4.
    pub fn for_nodes(nodes: usize, seed: u64) -> EmbeddingSpec {
        EmbeddingSpec {
            dim: 768,
            clusters: nodes.div_ceil(100).max(1),
            noise: 0.03,
            cue_noise: 0.02,
            seed,
        }
    }

    /// Checks the spec against a graph of `nodes` nodes; errors name the field.
    pub fn validate(&self, nodes: usize) -> Result<(), InputError> {
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(InputError::new(format!(
                "embeddings.dim = {}: must be between 1 and {MAX_DIM}",
                self.dim
            )));
        }
        if nodes == 0 {
            return Err(InputError::new(
                "embeddings: the graph has no nodes to embed".to_string(),
            ));
        }
        if self.clusters == 0 || self.clusters > nodes {
            return Err(InputError::new(format!(
                "embeddings.clusters = {}: must be between 1 and the node count ({nodes})",
                self.clusters
            )));
        }
        for (field, v) in [("noise", self.noise), ("cue_noise", self.cue_noise)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(InputError::new(format!(
                    "embeddings.{field} = {v}: must be a finite number ≥ 0"
                )));
            }
        }
        Ok(())
    }
}

/// `clusters` distinct node ids, drawn by a partial Fisher–Yates shuffle.
fn pick_centres(n: usize, clusters: usize, seed: u64) -> Vec<u32> {
    let mut rng = SeededRng::derive(seed, "embeddings.centres");
    let mut ids: Vec<u32> = (0..n as u32).collect();
    for i in 0..clusters {
        let j = i + rng.below((n - i) as u64) as usize;
        ids.swap(i, j);
    }
    ids.truncate(clusters);
    ids
}

/// The cell of every node: the index of its nearest centre along out-edges.
///
/// A FIFO BFS seeded with the centres in index order settles ties to the lower centre id:
/// by induction each distance level is queued in non-decreasing cell order, so the first
/// level-`d` neighbour to reach a node has the lowest cell among those at that distance.
/// Edge weights and kinds play no part: cells follow the topology only.
///
/// A node no centre reaches (another component, or only reachable against edge direction)
/// joins the centre whose node id is nearest its own (ties to the lower centre id), a rule
/// that needs no graph structure and keeps such nodes spread over all cells.
fn voronoi_cells(graph: &Graph, centres: &[u32]) -> Vec<u32> {
    const UNSET: u32 = u32::MAX;
    let n = graph.node_count();
    let mut cell = vec![UNSET; n];
    let mut queue = Vec::with_capacity(n);
    for (c, &node) in centres.iter().enumerate() {
        cell[node as usize] = c as u32;
        queue.push(node);
    }
    let mut head = 0;
    while head < queue.len() {
        let u = queue[head];
        head += 1;
        let cu = cell[u as usize];
        for e in graph.out_edges(u) {
            let t = e.target as usize;
            if cell[t] == UNSET {
                cell[t] = cu;
                queue.push(e.target);
            }
        }
    }
    if queue.len() < n {
        let mut by_id: Vec<(u32, u32)> = centres
            .iter()
            .enumerate()
            .map(|(c, &node)| (node, c as u32))
            .collect();
        by_id.sort_unstable();
        for (v, c) in cell.iter_mut().enumerate() {
            if *c == UNSET {
                *c = nearest_by_id(&by_id, v as u32);
            }
        }
    }
    cell
}

/// The centre index whose node id is nearest `v` in `by_id` (sorted (node, centre) pairs);
/// on equal distance, the lower centre index.
fn nearest_by_id(by_id: &[(u32, u32)], v: u32) -> u32 {
    let i = by_id.partition_point(|&(node, _)| node < v);
    let above = by_id.get(i);
    let below = i.checked_sub(1).map(|j| by_id[j]);
    match (below, above) {
        (Some((bn, bc)), Some(&(an, ac))) => {
            let (db, da) = (v - bn, an - v);
            if db < da || (db == da && bc < ac) {
                bc
            } else {
                ac
            }
        }
        (Some((_, bc)), None) => bc,
        (None, Some(&(_, ac))) => ac,
        (None, None) => unreachable!("at least one centre"),
    }
}

/// Standard normal draws by Marsaglia's polar method, with [`ln`] instead of libm's so the
/// bits are the same on every machine.
struct Normal {
    rng: SeededRng,
    spare: Option<f64>,
}

impl Normal {
    fn new(rng: SeededRng) -> Normal {
        Normal { rng, spare: None }
    }

    #[inline]
    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        const SCALE: f64 = 1.0 / (1u64 << 31) as f64;
        loop {
            // Two uniforms in [-1, 1) with 32 bits each, from one 64-bit draw.
            let r = self.rng.next_u64();
            let u = (r >> 32) as f64 * SCALE - 1.0;
            let v = (r as u32) as f64 * SCALE - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * ln(s) / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

/// Natural log of a positive, normal `x`, from +, ×, ÷ only (IEEE-exact, so portable):
/// `x = m·2^e` with `m ∈ [√½, √2)`, and `ln m = 2·atanh(t)`, `t = (m−1)/(m+1)`, `|t| ≤ 0.172`,
/// by its series to `t^21` (relative error below 1e-15, far under f32's).
fn ln(x: f64) -> f64 {
    debug_assert!(x.is_normal() && x > 0.0);
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut p = 1.0 / 21.0;
    for k in (1..10).rev() {
        p = 1.0 / (2 * k + 1) as f64 + t2 * p;
    }
    2.0 * t * (1.0 + t2 * p) + e as f64 * std::f64::consts::LN_2
}

/// A seeded stream of cues (DESIGN §7): a random node's vector plus Gaussian noise of
/// standard deviation `cue_noise` per component, normalised.
pub struct CueStream {
    pick: SeededRng,
    normal: Normal,
    cue_noise: f64,
}

impl CueStream {
    pub fn new(seed: u64, cue_noise: f32) -> CueStream {
        CueStream {
            pick: SeededRng::derive(seed, "recall.cue-nodes"),
            normal: Normal::new(SeededRng::derive(seed, "recall.cue-noise")),
            cue_noise: cue_noise as f64,
        }
    }

    /// Writes the next cue into `cue` (resized to `emb.dim()`) and returns the node it was
    /// drawn from; `None` when there are no rows to draw from.
    pub fn next_cue(&mut self, emb: &Embeddings, cue: &mut Vec<f32>) -> Option<u32> {
        if emb.is_empty() {
            return None;
        }
        let node = self.pick.below(emb.len() as u64) as usize;
        cue.clear();
        cue.extend_from_slice(emb.row(node));
        if self.cue_noise == 0.0 {
            // The row is unit already; normalising again could move its last bits.
            return Some(node as u32);
        }
        loop {
            for (x, &r) in cue.iter_mut().zip(emb.row(node)) {
                *x = (r as f64 + self.cue_noise * self.normal.next()) as f32;
            }
            if normalise(cue) {
                return Some(node as u32);
            }
        }
    }
}

/// A stretch of the cue stream drawn up front (the recall counterpart of
/// [`crate::workload::RequestList`]), so that every setting runs the same cues.
#[derive(Debug, Clone, PartialEq)]
pub struct CueList {
    dim: usize,
    data: Vec<f32>,
    nodes: Vec<u32>,
}

impl CueList {
    /// The next `count` cues of `stream` over `emb`.
    pub fn draw(stream: &mut CueStream, emb: &Embeddings, count: usize) -> CueList {
        let dim = emb.dim();
        let mut data = Vec::with_capacity(count * dim);
        let mut nodes = Vec::with_capacity(count);
        let mut cue = Vec::with_capacity(dim);
        for _ in 0..count {
            match stream.next_cue(emb, &mut cue) {
                Some(node) => {
                    data.extend_from_slice(&cue);
                    nodes.push(node);
                }
                None => break,
            }
        }
        CueList { dim, data, nodes }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Cue `i` and the node it was drawn from.
    #[inline]
    pub fn get(&self, i: usize) -> (&[f32], u32) {
        (&self.data[i * self.dim..(i + 1) * self.dim], self.nodes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{EdgeKind, EdgeSpec, Tier};

    fn chain_graph(n: usize, both_ways: bool) -> Graph {
        let mut edges = Vec::new();
        for i in 0..n.saturating_sub(1) as u32 {
            edges.push(EdgeSpec {
                src: i,
                dst: i + 1,
                weight: 1.0,
                kind: EdgeKind::Excitatory,
            });
            if both_ways {
                edges.push(EdgeSpec {
                    src: i + 1,
                    dst: i,
                    weight: 1.0,
                    kind: EdgeKind::Excitatory,
                });
            }
        }
        Graph::from_edges(&vec![Tier::Warm; n], edges).unwrap()
    }

    #[test]
    fn portable_ln_matches_libm() {
        let mut x = 1e-300f64;
        while x < 1e300 {
            for y in [x, x * 1.37, x * 0.71, 1.0 - x.min(0.5)] {
                let (a, b) = (ln(y), y.ln());
                assert!((a - b).abs() <= 4e-16 * b.abs().max(1.0), "{y}: {a} vs {b}");
            }
            x *= 3.3;
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut g = Normal::new(SeededRng::new(5));
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = g.next();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        // Standard errors: 1/√n ≈ 0.0022 for the mean, √(2/n) ≈ 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
    }

    #[test]
    fn rows_are_normalised_and_bad_rows_named() {
        let e = Embeddings::from_rows(2, vec![3.0, 4.0, 0.0, -2.0]).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e.row(0), &[0.6, 0.8]);
        assert_eq!(e.row(1), &[0.0, -1.0]);
        assert_eq!(e.as_slice().as_ptr() as usize % 64, 0);
        // Tiny and huge finite rows normalise without under- or overflow.
        let e = Embeddings::from_rows(2, vec![1e-45, 0.0, 3e38, 3e38]).unwrap();
        assert_eq!(e.row(0), &[1.0, 0.0]);
        assert!((e.row(1)[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);

        let err = Embeddings::from_rows(2, vec![1.0, 0.0, 0.0, 0.0]).unwrap_err();
        assert_eq!(err, RowError::Zero { row: 1 });
        assert_eq!(
            err.to_string(),
            "row 1 is all zeros, so it has no direction"
        );
        let err = Embeddings::from_rows(3, vec![1.0, f32::NAN, 0.0]).unwrap_err();
        assert_eq!(err.to_string(), "row 0 holds NaN at column 1");
        let err = Embeddings::from_rows(1, vec![1.0, f32::NEG_INFINITY]).unwrap_err();
        assert_eq!(err.to_string(), "row 1 holds -inf at column 0");
    }

    #[test]
    fn cells_follow_bfs_with_ties_to_the_lower_centre() {
        // Chain 0-1-2-3-4-5-6 both ways, centres at nodes 6 (index 0) and 2 (index 1):
        // node 4 is at distance 2 from both and goes to centre index 0.
        let g = chain_graph(7, true);
        let cells = voronoi_cells(&g, &[6, 2]);
        assert_eq!(cells, vec![1, 1, 1, 1, 0, 0, 0]);
        // Reversed indices: the tie goes the other way.
        let cells = voronoi_cells(&g, &[2, 6]);
        assert_eq!(cells, vec![0, 0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn unreachable_nodes_join_the_centre_nearest_by_id() {
        // One-way chain 0→1→…→9 with centres 3 (index 0) and 6 (index 1): nodes 0..3 are
        // reached by no centre. 0, 1, 2 are nearest to node 3 by id.
        let g = chain_graph(10, false);
        let cells = voronoi_cells(&g, &[6, 3]);
        assert_eq!(cells, vec![1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
        // Equal id distance (4 is 2 from both 2 and 6): the lower centre index wins.
        let by_id = [(2, 1), (6, 0)];
        assert_eq!(nearest_by_id(&by_id, 4), 0);
        assert_eq!(nearest_by_id(&by_id, 3), 1);
        assert_eq!(nearest_by_id(&by_id, 0), 1);
        assert_eq!(nearest_by_id(&by_id, 9), 0);
    }

    fn small_spec(seed: u64) -> EmbeddingSpec {
        EmbeddingSpec {
            dim: 64,
            clusters: 8,
            noise: 0.05,
            cue_noise: 0.02,
            seed,
        }
    }

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        let g = chain_graph(300, true);
        let a = Embeddings::generate(&g, &small_spec(1)).unwrap();
        let b = Embeddings::generate(&g, &small_spec(1)).unwrap();
        let c = Embeddings::generate(&g, &small_spec(2)).unwrap();
        assert_eq!(a.embeddings, b.embeddings);
        assert_eq!(a.cells, b.cells);
        assert_ne!(a.embeddings, c.embeddings);
        assert_eq!(a.centres.len(), 8);
        for (i, &c) in a.centres.iter().enumerate() {
            assert_eq!(a.cells[c as usize], i as u32, "a centre is in its own cell");
        }
        for i in 0..a.embeddings.len() {
            let norm: f64 = a
                .embeddings
                .row(i)
                .iter()
                .map(|&x| (x as f64).powi(2))
                .sum();
            assert!((norm - 1.0).abs() < 1e-6);
        }
        // The bits are pinned, so a change to the generator, to the ChaCha stream or to the
        // arithmetic on another machine shows here.
        let bytes: Vec<u8> = a
            .embeddings
            .as_slice()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let cells: Vec<u8> = a.cells.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(
            (crate::graph::fnv1a64(&bytes), crate::graph::fnv1a64(&cells)),
            (5480636199079428532, 6946366584785192565),
            "generated bits changed"
        );
    }

    #[test]
    fn same_cell_vectors_are_close_and_others_far() {
        let g = chain_graph(400, true);
        let spec = EmbeddingSpec {
            dim: 256,
            clusters: 4,
            noise: 0.05,
            cue_noise: 0.0,
            seed: 9,
        };
        let gen = Embeddings::generate(&g, &spec).unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        // Expected same-cell cosine: 1 / (1 + 256·0.05²) = 0.615; across cells ≈ 0 ± 0.06.
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for i in (0..400).step_by(7) {
            for j in (1..400).step_by(11) {
                if i == j {
                    continue;
                }
                let s = dot(gen.embeddings.row(i), gen.embeddings.row(j));
                if gen.cells[i] == gen.cells[j] {
                    same.push(s);
                } else {
                    other.push(s);
                }
            }
        }
        assert!(same.iter().all(|&s| (0.5..0.72).contains(&s)), "{same:?}");
        assert!(other.iter().all(|&s| s.abs() < 0.3), "{other:?}");
    }

    #[test]
    fn at_the_chosen_settings_a_nodes_nearest_are_in_its_own_cell() {
        // warm-10k's generator and settings at 2,000 nodes (20 cells of ~100), to stay fast.
        let w = crate::workload::Workload::load("warm-10k").unwrap();
        let mut p = w.graph.clone();
        p.nodes = 2000;
        let g = crate::graph::generate::generate(&p).unwrap();
        let spec = EmbeddingSpec::for_nodes(2000, w.seed);
        assert_eq!((spec.dim, spec.clusters), (768, 20));
        let gen = Embeddings::generate(&g, &spec).unwrap();
        let mut hits = Vec::new();
        let (mut own, mut total) = (0, 0);
        for node in (0..2000).step_by(97) {
            let cue = gen.embeddings.row(node).to_vec();
            super::super::top_k(&gen.embeddings, &cue, 11, &mut hits);
            assert_eq!(hits[0].0 as usize, node, "a node is its own nearest");
            for h in &hits[1..] {
                total += 1;
                own += usize::from(gen.cells[h.0 as usize] == gen.cells[node]);
            }
        }
        assert!(
            own * 10 >= total * 9,
            "{own} of {total} nearest in the own cell"
        );
    }

    #[test]
    fn spec_errors_name_the_field() {
        let g = chain_graph(10, true);
        let bad = |f: fn(&mut EmbeddingSpec)| {
            let mut s = small_spec(1);
            f(&mut s);
            Embeddings::generate(&g, &s).unwrap_err().0
        };
        assert_eq!(
            bad(|s| s.clusters = 11),
            "embeddings.clusters = 11: must be between 1 and the node count (10)"
        );
        assert!(bad(|s| s.clusters = 0).starts_with("embeddings.clusters = 0"));
        assert!(bad(|s| s.dim = 0).starts_with("embeddings.dim = 0"));
        assert!(bad(|s| s.noise = f32::NAN).starts_with("embeddings.noise = NaN"));
        assert!(bad(|s| s.cue_noise = -1.0).starts_with("embeddings.cue_noise = -1"));
    }

    #[test]
    fn cues_are_unit_and_near_their_node() {
        let g = chain_graph(50, true);
        let gen = Embeddings::generate(&g, &small_spec(3)).unwrap();
        let e = &gen.embeddings;
        let mut a = CueStream::new(7, 0.02);
        let mut b = CueStream::new(7, 0.02);
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let na = a.next_cue(e, &mut ca).unwrap();
            let nb = b.next_cue(e, &mut cb).unwrap();
            assert_eq!((na, &ca), (nb, &cb));
            let norm: f32 = ca.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-5);
            let s: f32 = ca.iter().zip(e.row(na as usize)).map(|(x, y)| x * y).sum();
            // 1 / √(1 + 64·0.02²) = 0.987.
            assert!(s > 0.95, "{s}");
        }
        // Without noise a cue is its node's vector.
        let mut c = CueStream::new(7, 0.0);
        let n = c.next_cue(e, &mut ca).unwrap();
        assert_eq!(&ca[..], e.row(n as usize));
    }
}
