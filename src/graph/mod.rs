//! The compact memory graph: CSR adjacency with typed, weighted edges and a storage tier per
//! node, plus the ways to make one (generators, CSV import) and to save it (`.sbg`, CSV).
//!
//! Layout (what the spreading loop reads, and nothing else, sits in the two hot arrays):
//!
//! | array        | element        | size    | holds                                             |
//! |--------------|----------------|---------|---------------------------------------------------|
//! | `nodes`      | [`NodeRecord`] | 8 bytes | first edge index (u32), out-degree (30 bits) and tier (2 bits): 8 nodes per cache line |
//! | `edges`      | [`Edge`]       | 8 bytes | target id (u32) and weight × type factor (f32): one stream per adjacency list |
//! | `edge_kinds` | [`EdgeKind`]   | 1 byte  | cold: the edge type, for export and statistics     |
//! | `labels`     | `String`       | —       | cold: original ids of an imported graph, if any    |
//! | `embeddings` | f32 rows       | 4·dim   | cold: node vectors saved with the graph (`.sbg` `EMBD`), if any |
//!
//! Both hot arrays start on a 64-byte cache line ([`CacheAligned`]), so each line holds eight
//! whole records. Adjacency lists are sorted by target id, so a graph built from the same
//! edges in any order is the same graph, byte for byte.

pub mod csv_io;
pub mod generate;
pub mod sbg;

use crate::aligned::CacheAligned;

use std::fmt;

/// Storage tier of a node. Each tier has its own spreading parameters (threshold, confidence,
/// budgets); see `engine::TierParams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Tier {
    Hot = 0,
    Warm = 1,
    Cold = 2,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Hot, Tier::Warm, Tier::Cold];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }

    pub fn from_u8(v: u8) -> Option<Tier> {
        match v {
            0 => Some(Tier::Hot),
            1 => Some(Tier::Warm),
            2 => Some(Tier::Cold),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hot" | "0" => Some(Tier::Hot),
            "warm" | "1" => Some(Tier::Warm),
            "cold" | "2" => Some(Tier::Cold),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Edge type and the factor it applies to a contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EdgeKind {
    Excitatory = 0,
    Inhibitory = 1,
    Modulatory = 2,
}

impl EdgeKind {
    pub fn factor(self) -> f32 {
        match self {
            EdgeKind::Excitatory => 1.0,
            EdgeKind::Inhibitory => -1.0,
            EdgeKind::Modulatory => 0.5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Excitatory => "excitatory",
            EdgeKind::Inhibitory => "inhibitory",
            EdgeKind::Modulatory => "modulatory",
        }
    }

    pub fn from_u8(v: u8) -> Option<EdgeKind> {
        match v {
            0 => Some(EdgeKind::Excitatory),
            1 => Some(EdgeKind::Inhibitory),
            2 => Some(EdgeKind::Modulatory),
            _ => None,
        }
    }

    /// Accepts the full name, its first letter, or the factor (`1`, `-1`, `0.5`).
    pub fn parse(s: &str) -> Option<EdgeKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "excitatory" | "e" | "+1" | "1" => Some(EdgeKind::Excitatory),
            "inhibitory" | "i" | "-1" => Some(EdgeKind::Inhibitory),
            "modulatory" | "m" | "0.5" | "+0.5" => Some(EdgeKind::Modulatory),
            _ => None,
        }
    }
}

/// Hot per-node record: where the node's adjacency starts, its out-degree and its tier,
/// packed into 8 bytes so that one cache line holds eight nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct NodeRecord {
    first_edge: u32,
    /// Out-degree in the low 30 bits, tier in the top 2.
    degree_tier: u32,
}

impl NodeRecord {
    pub const MAX_DEGREE: u32 = (1 << 30) - 1;

    #[inline]
    pub fn new(first_edge: u32, degree: u32, tier: Tier) -> Self {
        debug_assert!(degree <= Self::MAX_DEGREE);
        NodeRecord {
            first_edge,
            degree_tier: degree | ((tier as u32) << 30),
        }
    }

    #[inline]
    pub fn first_edge(self) -> usize {
        self.first_edge as usize
    }

    #[inline]
    pub fn degree(self) -> usize {
        (self.degree_tier & Self::MAX_DEGREE) as usize
    }

    #[inline]
    pub fn tier(self) -> Tier {
        // A table, not a match: this is read once per touched node in every hop.
        const BY_BITS: [Tier; 4] = [Tier::Hot, Tier::Warm, Tier::Cold, Tier::Cold];
        BY_BITS[(self.degree_tier >> 30) as usize]
    }
}

/// One directed edge as the spreading loop reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Edge {
    pub target: u32,
    /// `w × type factor`: positive for excitatory and modulatory edges, negative for
    /// inhibitory ones. The factors are ±1 and 0.5, so the product is exact in f32.
    pub weight: f32,
}

/// One directed edge as given to [`Graph::from_edges`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeSpec {
    pub src: u32,
    pub dst: u32,
    /// Raw weight in (0, 1].
    pub weight: f32,
    pub kind: EdgeKind,
}

/// A directed, weighted, typed graph in CSR form. Immutable once built.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Starts on a cache line, so each line holds exactly eight whole records.
    nodes: CacheAligned<NodeRecord>,
    /// Starts on a cache line, so each line holds exactly eight whole edges.
    edges: CacheAligned<Edge>,
    edge_kinds: Vec<EdgeKind>,
    labels: Option<Vec<String>>,
    /// Node vectors carried with the graph (read from or written to an `.sbg`), as raw rows:
    /// recall owns what they mean, so the graph neither checks nor normalises them.
    embeddings: Option<EmbeddingRows>,
    /// Unique per built graph (clones share it, as they share content): lets per-graph caches
    /// such as a spread scratch's copy of the tiers know when they must be refreshed.
    instance: u64,
}

/// Equality is by content; the instance id is not content.
impl PartialEq for Graph {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
            && self.edges == other.edges
            && self.edge_kinds == other.edge_kinds
            && self.labels == other.labels
            && self.embeddings == other.embeddings
    }
}

/// `dim` f32 components per node, row `i` for node `i`, in one cache-aligned array.
#[derive(Debug, Clone, PartialEq)]
struct EmbeddingRows {
    dim: usize,
    data: CacheAligned<f32>,
}

static NEXT_GRAPH_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Graph {
    /// Builds the CSR form from a list of directed edges. Adjacency lists are sorted by
    /// (target, kind, weight) so the result does not depend on the order of `edges`.
    ///
    /// Fails (as bad input) if an edge names a node outside `0..tiers.len()`, a weight is
    /// outside (0, 1], or the graph is larger than the u32 layout can hold.
    pub fn from_edges(
        tiers: &[Tier],
        mut edges: Vec<EdgeSpec>,
    ) -> Result<Graph, crate::InputError> {
        let n = tiers.len();
        if n > u32::MAX as usize {
            return Err(crate::InputError::new(format!(
                "graph has {n} nodes; at most {} are supported",
                u32::MAX
            )));
        }
        if edges.len() > u32::MAX as usize {
            return Err(crate::InputError::new(format!(
                "graph has {} edges; at most {} are supported",
                edges.len(),
                u32::MAX
            )));
        }
        for e in &edges {
            if e.src as usize >= n || e.dst as usize >= n {
                return Err(crate::InputError::new(format!(
                    "edge {} -> {} names a node outside 0..{n}",
                    e.src, e.dst
                )));
            }
            if !(e.weight > 0.0 && e.weight <= 1.0) {
                return Err(crate::InputError::new(format!(
                    "edge {} -> {} has weight {} outside (0, 1]",
                    e.src, e.dst, e.weight
                )));
            }
        }
        edges.sort_unstable_by(|a, b| {
            (a.src, a.dst, a.kind as u8)
                .cmp(&(b.src, b.dst, b.kind as u8))
                .then(a.weight.total_cmp(&b.weight))
        });
        let mut degree = vec![0u32; n];
        for e in &edges {
            degree[e.src as usize] += 1;
        }
        let mut nodes = Vec::with_capacity(n);
        let mut start = 0u32;
        for (i, &d) in degree.iter().enumerate() {
            if d > NodeRecord::MAX_DEGREE {
                return Err(crate::InputError::new(format!(
                    "node {i} has out-degree {d}; at most {} is supported",
                    NodeRecord::MAX_DEGREE
                )));
            }
            nodes.push(NodeRecord::new(start, d, tiers[i]));
            start += d;
        }
        let edge_kinds = edges.iter().map(|e| e.kind).collect();
        let nodes = CacheAligned::from_vec(nodes);
        let edges = CacheAligned::from_fn(edges.len(), |i| Edge {
            target: edges[i].dst,
            weight: edges[i].weight * edges[i].kind.factor(),
        });
        Ok(Graph {
            nodes,
            edges,
            edge_kinds,
            labels: None,
            embeddings: None,
            instance: NEXT_GRAPH_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Identifies this built graph (and its clones) among all graphs built in the process.
    #[inline]
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// Attaches the original ids of an imported graph (cold metadata, one per node).
    pub fn with_labels(mut self, labels: Vec<String>) -> Graph {
        debug_assert_eq!(labels.len(), self.nodes.len());
        self.labels = Some(labels);
        self
    }

    /// Attaches node vectors (cold metadata): `data` holds `dim` components per node, row `i`
    /// for node `i`. They are not part of [`Graph::fingerprint`], which names the graph alone.
    ///
    /// # Panics
    /// If `dim` is 0 or `data` is not `dim` components per node (a caller's bug, not input).
    pub fn with_embedding_rows(mut self, dim: usize, data: CacheAligned<f32>) -> Graph {
        assert!(dim > 0, "embedding dimension must be at least 1");
        assert_eq!(
            Some(data.len()),
            self.nodes.len().checked_mul(dim),
            "embedding rows are not {dim} components per node"
        );
        self.embeddings = Some(EmbeddingRows { dim, data });
        self
    }

    /// The node vectors saved with the graph, if any: `(dim, rows)`, row `i` at `i·dim`.
    pub fn embedding_rows(&self) -> Option<(usize, &[f32])> {
        self.embeddings.as_ref().map(|e| (e.dim, &e.data[..]))
    }

    #[inline]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    #[inline]
    pub fn node(&self, id: u32) -> NodeRecord {
        self.nodes[id as usize]
    }

    #[inline]
    pub fn nodes(&self) -> &[NodeRecord] {
        &self.nodes
    }

    #[inline]
    pub fn tier(&self, id: u32) -> Tier {
        self.nodes[id as usize].tier()
    }

    #[inline]
    pub fn out_degree(&self, id: u32) -> usize {
        self.nodes[id as usize].degree()
    }

    /// The out-edges of `id`, sorted by target.
    #[inline]
    pub fn out_edges(&self, id: u32) -> &[Edge] {
        let r = self.nodes[id as usize];
        &self.edges[r.first_edge()..r.first_edge() + r.degree()]
    }

    /// All edges in CSR order (the adjacency of node 0, then node 1, …).
    #[inline]
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    pub fn edge_kinds(&self) -> &[EdgeKind] {
        &self.edge_kinds
    }

    pub fn labels(&self) -> Option<&[String]> {
        self.labels.as_deref()
    }

    /// Iterates every edge as an [`EdgeSpec`] with its raw weight, in CSR order.
    pub fn edge_specs(&self) -> impl Iterator<Item = EdgeSpec> + '_ {
        self.nodes.iter().enumerate().flat_map(move |(src, r)| {
            (r.first_edge()..r.first_edge() + r.degree()).map(move |i| {
                let kind = self.edge_kinds[i];
                EdgeSpec {
                    src: src as u32,
                    dst: self.edges[i].target,
                    weight: self.edges[i].weight / kind.factor(),
                    kind,
                }
            })
        })
    }

    /// Node counts per tier, indexed by `Tier as usize`.
    pub fn tier_counts(&self) -> [usize; 3] {
        let mut c = [0usize; 3];
        for r in self.nodes.iter() {
            c[r.tier() as usize] += 1;
        }
        c
    }

    /// Edge counts per kind, indexed by `EdgeKind as usize`.
    pub fn kind_counts(&self) -> [usize; 3] {
        let mut c = [0usize; 3];
        for k in &self.edge_kinds {
            c[*k as usize] += 1;
        }
        c
    }

    /// A 64-bit fingerprint of the graph's content (structure, weights, kinds, tiers; not the
    /// labels or embeddings, so a graph saved with its vectors keeps its identity).
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv1a64::new();
        h.write(&(self.nodes.len() as u64).to_le_bytes());
        for r in self.nodes.iter() {
            h.write(&r.first_edge.to_le_bytes());
            h.write(&r.degree_tier.to_le_bytes());
        }
        for (e, k) in self.edges.iter().zip(&self.edge_kinds) {
            h.write(&e.target.to_le_bytes());
            h.write(&e.weight.to_bits().to_le_bytes());
            h.write(&[*k as u8]);
        }
        h.finish()
    }
}

/// FNV-1a, 64-bit: a tiny, fully specified hash, used for checksums and identities that must
/// be the same on every machine and every version (unlike `std`'s `DefaultHasher`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Fnv1a64 {
    pub fn new() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }

    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a64::new();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_record_packs_degree_and_tier() {
        let r = NodeRecord::new(17, NodeRecord::MAX_DEGREE, Tier::Cold);
        assert_eq!(r.first_edge(), 17);
        assert_eq!(r.degree(), NodeRecord::MAX_DEGREE as usize);
        assert_eq!(r.tier(), Tier::Cold);
        assert_eq!(std::mem::size_of::<NodeRecord>(), 8);
        assert_eq!(std::mem::size_of::<Edge>(), 8);
    }

    #[test]
    fn hot_arrays_start_on_a_cache_line() {
        let tiers = [Tier::Warm; 3];
        let e = EdgeSpec {
            src: 0,
            dst: 2,
            weight: 0.5,
            kind: EdgeKind::Excitatory,
        };
        let g = Graph::from_edges(&tiers, vec![e]).unwrap();
        assert_eq!(g.nodes().as_ptr() as usize % 64, 0);
        assert_eq!(g.edges().as_ptr() as usize % 64, 0);
        // 8 records and 8 edges per line.
        assert_eq!(64 / std::mem::size_of::<NodeRecord>(), 8);
        assert_eq!(64 / std::mem::size_of::<Edge>(), 8);
    }

    #[test]
    fn csr_is_independent_of_edge_order() {
        let tiers = [Tier::Warm; 4];
        let e = |s, d, w| EdgeSpec {
            src: s,
            dst: d,
            weight: w,
            kind: EdgeKind::Excitatory,
        };
        let a = Graph::from_edges(&tiers, vec![e(0, 1, 0.5), e(0, 3, 0.25), e(2, 1, 1.0)]).unwrap();
        let b = Graph::from_edges(&tiers, vec![e(2, 1, 1.0), e(0, 3, 0.25), e(0, 1, 0.5)]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.out_edges(0).len(), 2);
        assert_eq!(a.out_edges(0)[1].target, 3);
        assert_eq!(a.out_edges(1).len(), 0);
        assert_eq!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn type_factor_is_folded_and_recovered() {
        let tiers = [Tier::Hot; 2];
        let g = Graph::from_edges(
            &tiers,
            vec![
                EdgeSpec {
                    src: 0,
                    dst: 1,
                    weight: 0.3,
                    kind: EdgeKind::Inhibitory,
                },
                EdgeSpec {
                    src: 1,
                    dst: 0,
                    weight: 0.3,
                    kind: EdgeKind::Modulatory,
                },
            ],
        )
        .unwrap();
        assert_eq!(g.out_edges(0)[0].weight, -0.3);
        assert_eq!(g.out_edges(1)[0].weight, 0.15);
        let back: Vec<_> = g.edge_specs().collect();
        assert_eq!(back[0].weight, 0.3);
        assert_eq!(back[1].weight, 0.3);
        assert_eq!(back[1].kind, EdgeKind::Modulatory);
    }

    #[test]
    fn bad_edges_are_refused() {
        let tiers = [Tier::Hot; 2];
        let bad = EdgeSpec {
            src: 0,
            dst: 2,
            weight: 0.5,
            kind: EdgeKind::Excitatory,
        };
        assert!(Graph::from_edges(&tiers, vec![bad]).is_err());
        let bad = EdgeSpec {
            src: 0,
            dst: 1,
            weight: 0.0,
            kind: EdgeKind::Excitatory,
        };
        assert!(Graph::from_edges(&tiers, vec![bad]).is_err());
    }
}
