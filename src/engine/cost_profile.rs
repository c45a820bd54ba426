//! Per-node cost profiles: the work a spread seeded at one node alone does (edges relaxed,
//! nodes activated, nodes expanded, contributions rejected, hops), for every node of a graph.
//!
//! They exist because a request's latency is decided by how far its seeds reach, which the
//! seeds' degrees predict badly on a scale-free graph (DESIGN §3: 71% of warm-10k requests
//! within 20% from degree and two-hop volume, 98.6% from summed profiles). Computing them
//! costs one spread per node, so a profile is cached in a compact binary file whose name holds
//! the graph's fingerprint and the spread configuration's identity; loading checks both, the
//! length and a checksum, so a stale or damaged cache is refused rather than trusted.
//!
//! File layout (little-endian): magic `SBCPROF1`, u64 graph fingerprint, u64 config identity,
//! u64 node count, then five columns of `node count` entries — edges (u32), activated (u32),
//! expanded (u32), rejected (u32), hops (u8) — and a u64 FNV-1a checksum of all bytes before
//! it. Counters past u32 saturate (a single-seed spread that large is off any latency scale).

use super::model::SpreadConfig;
use super::predictor::RequestFeatures;
use super::scratch::SpreadScratch;
use super::spreader::{Seed, Spreader};
use crate::graph::{fnv1a64, Fnv1a64, Graph};
use crate::InputError;
use anyhow::Context;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

const MAGIC: &[u8; 8] = b"SBCPROF1";
const HEADER_BYTES: usize = 8 + 3 * 8;
/// Bytes per node over the five columns.
const NODE_BYTES: usize = 4 * 4 + 1;

/// The work of a spread seeded at each node alone, at activation 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostProfile {
    graph_fingerprint: u64,
    config_identity: u64,
    pub edges: Vec<u32>,
    pub activated: Vec<u32>,
    pub expanded: Vec<u32>,
    pub rejected: Vec<u32>,
    pub hops: Vec<u8>,
}

/// A stable identity of a spread configuration: FNV-1a of its JSON form (the same on every
/// machine; execution settings are not part of a config, so they do not change it).
pub fn config_identity(config: &SpreadConfig) -> u64 {
    let json = serde_json::to_string(config).unwrap_or_default();
    fnv1a64(json.as_bytes())
}

/// The threads a profile is computed on: as many as the machine runs at once.
fn machine_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn sat(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

impl CostProfile {
    /// One spread per node, on up to `available_parallelism` threads (each with its own
    /// scratch; the work counters do not depend on how a spread executes, so the spreader's
    /// executor is not used).
    pub fn compute(graph: &Graph, spreader: &Spreader) -> CostProfile {
        Self::compute_with_threads(graph, spreader, machine_threads())
    }

    pub fn compute_with_threads(graph: &Graph, spreader: &Spreader, threads: usize) -> CostProfile {
        let never = AtomicBool::new(false);
        match Self::compute_on(graph, spreader, threads, &never) {
            Some(p) => p,
            None => unreachable!("nothing sets the stop flag"),
        }
    }

    /// [`CostProfile::compute`], given up as soon as `stop` is set (each thread looks before
    /// every spread): `None` then. On a graph of a million nodes the profile takes minutes,
    /// and a signal that asks a measuring command to stop must not wait for it.
    pub fn compute_until(graph: &Graph, spreader: &Spreader, stop: &AtomicBool) -> Option<Self> {
        Self::compute_on(graph, spreader, machine_threads(), stop)
    }

    fn compute_on(
        graph: &Graph,
        spreader: &Spreader,
        threads: usize,
        stop: &AtomicBool,
    ) -> Option<CostProfile> {
        let n = graph.node_count();
        let config = spreader.config().clone();
        let mut p = CostProfile {
            graph_fingerprint: graph.fingerprint(),
            config_identity: config_identity(&config),
            edges: vec![0; n],
            activated: vec![0; n],
            expanded: vec![0; n],
            rejected: vec![0; n],
            hops: vec![0; n],
        };
        let threads = threads.clamp(1, n.max(1));
        let chunk = n.div_ceil(threads).max(1);
        // Results are ranked and cut to top-k after the work is counted; skipping the ranking
        // would need engine changes, and it is cheap beside the spread.
        let serial = match Spreader::new(config) {
            Ok(s) => s,
            // The spreader was built from this config, so it is valid.
            Err(e) => unreachable!("a spreader's own config is valid: {e}"),
        };
        let finished = std::thread::scope(|s| {
            let mut workers = Vec::with_capacity(threads);
            let parts = p
                .edges
                .chunks_mut(chunk)
                .zip(p.activated.chunks_mut(chunk))
                .zip(p.expanded.chunks_mut(chunk))
                .zip(p.rejected.chunks_mut(chunk))
                .zip(p.hops.chunks_mut(chunk))
                .enumerate();
            for (i, ((((e, a), x), r), h)) in parts {
                let serial = &serial;
                workers.push(s.spawn(move || {
                    let mut scratch = SpreadScratch::new(n);
                    let mut out = super::SpreadResult::with_capacity(n);
                    for j in 0..e.len() {
                        if stop.load(Ordering::Relaxed) {
                            return false;
                        }
                        let node = (i * chunk + j) as u32;
                        let seed = [Seed::new(node, 1.0)];
                        if serial
                            .spread_into(graph, &seed, &mut scratch, &mut out)
                            .is_err()
                        {
                            continue;
                        }
                        let w = &out.work;
                        e[j] = sat(w.edges_relaxed);
                        a[j] = w.nodes_activated;
                        x[j] = sat(w.frontier_sizes.iter().map(|&f| f as u64).sum());
                        r[j] = sat(w.rejected);
                        h[j] = w.hops.min(255) as u8;
                    }
                    true
                }));
            }
            // Every worker joined, and a panic in one raised again here, as the scope would.
            let mut finished = true;
            for w in workers {
                finished &= w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            }
            finished
        });
        finished.then_some(p)
    }

    pub fn node_count(&self) -> usize {
        self.edges.len()
    }

    pub fn graph_fingerprint(&self) -> u64 {
        self.graph_fingerprint
    }

    pub fn config_identity(&self) -> u64 {
        self.config_identity
    }

    /// Whether this profile was computed for `graph` under `config`.
    pub fn matches(&self, graph: &Graph, config: &SpreadConfig) -> bool {
        self.graph_fingerprint == graph.fingerprint()
            && self.config_identity == config_identity(config)
            && self.node_count() == graph.node_count()
    }

    /// The cache file's name for `graph` under `config`: a different graph or config never
    /// finds the other's file.
    pub fn file_name(graph: &Graph, config: &SpreadConfig) -> String {
        format!(
            "cost-profile-{:016x}-{:016x}.bin",
            graph.fingerprint(),
            config_identity(config)
        )
    }

    /// The request's features: its seeds' summed profiles. Seeds outside the graph add
    /// nothing (the spread itself refuses them).
    #[inline]
    pub fn request_features(&self, graph: &Graph, seeds: &[Seed], depth: u32) -> RequestFeatures {
        let mut f = RequestFeatures {
            seeds: seeds.len() as u32,
            depth,
            ..RequestFeatures::default()
        };
        for s in seeds {
            let i = s.node as usize;
            if i >= self.edges.len() {
                continue;
            }
            let e = self.edges[i] as f64;
            f.edges += e;
            f.activated += self.activated[i] as f64;
            f.expanded += self.expanded[i] as f64;
            f.rejected += self.rejected[i] as f64;
            f.weighted_edges += s.activation * e;
            f.seed_degree += graph.out_degree(s.node) as f64;
        }
        f
    }

    fn to_bytes(&self) -> Vec<u8> {
        let n = self.node_count();
        let mut b = Vec::with_capacity(HEADER_BYTES + n * NODE_BYTES + 8);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.graph_fingerprint.to_le_bytes());
        b.extend_from_slice(&self.config_identity.to_le_bytes());
        b.extend_from_slice(&(n as u64).to_le_bytes());
        for col in [&self.edges, &self.activated, &self.expanded, &self.rejected] {
            col.iter()
                .for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
        }
        b.extend_from_slice(&self.hops);
        let sum = fnv1a64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Writes the profile to `path` through [`crate::atomic_file`] (never a half-written
    /// file; a symlink stays a link).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = self.to_bytes();
        crate::atomic_file::write_atomic(path, |w| w.write_all(&bytes))
            .with_context(|| format!("cannot write cost profile {}", path.display()))
    }

    /// Reads a profile written by [`CostProfile::save`]. A file that is not one, is
    /// truncated, too long or fails its checksum is an [`InputError`] naming the file; reading
    /// stops at the length the header declares, so a device or pipe cannot make it read
    /// forever. Whether it fits a graph is [`CostProfile::matches`]' question.
    pub fn load(path: &Path) -> anyhow::Result<CostProfile> {
        let name = path.display().to_string();
        let bad = |what: &str| InputError::new(format!("{name}: not a valid cost profile: {what}"));
        let mut file = std::fs::File::open(path)
            .map_err(|e| InputError::new(format!("{name}: cannot read: {e}")))?;
        let mut header = [0u8; HEADER_BYTES];
        file.read_exact(&mut header)
            .map_err(|_| bad("shorter than its header"))?;
        if &header[..8] != MAGIC {
            return Err(bad("wrong magic bytes").into());
        }
        let u64_at = |b: &[u8], at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(a)
        };
        let n = u64_at(&header, 24);
        let body = n
            .checked_mul(NODE_BYTES as u64)
            .and_then(|v| v.checked_add(8))
            .filter(|&v| v <= u32::MAX as u64 * NODE_BYTES as u64)
            .ok_or_else(|| bad("node count out of range"))?;
        let rest = crate::input::read_to_end_bounded(&mut file, &name, body)?;
        if (rest.len() as u64) < body {
            return Err(bad("truncated").into());
        }
        let n = n as usize;
        let mut h = Fnv1a64::new();
        h.write(&header);
        h.write(&rest[..n * NODE_BYTES]);
        if h.finish() != u64_at(&rest, n * NODE_BYTES) {
            return Err(bad("checksum mismatch").into());
        }
        let col = |k: usize| -> Vec<u32> {
            rest[k * 4 * n..(k + 1) * 4 * n]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        Ok(CostProfile {
            graph_fingerprint: u64_at(&header, 8),
            config_identity: u64_at(&header, 16),
            edges: col(0),
            activated: col(1),
            expanded: col(2),
            rejected: col(3),
            hops: rest[16 * n..17 * n].to_vec(),
        })
    }

    /// The profile for `graph` under `spreader`'s config from the cache file `path` when it
    /// holds a matching one, else computed and saved there. Tells which happened and how long
    /// computing took; a cache that is damaged or for another graph is recomputed and
    /// replaced (it is a cache: the message says so, nothing is lost).
    pub fn load_or_compute(
        path: &Path,
        graph: &Graph,
        spreader: &Spreader,
    ) -> anyhow::Result<(CostProfile, ProfileSource)> {
        let never = AtomicBool::new(false);
        match Self::load_or_compute_until(path, graph, spreader, &never)? {
            Some(found) => Ok(found),
            None => unreachable!("nothing sets the stop flag"),
        }
    }

    /// [`CostProfile::load_or_compute`], computing as [`CostProfile::compute_until`] does:
    /// `None` when `stop` was set before the profile was complete, and nothing is saved.
    pub fn load_or_compute_until(
        path: &Path,
        graph: &Graph,
        spreader: &Spreader,
        stop: &AtomicBool,
    ) -> anyhow::Result<Option<(CostProfile, ProfileSource)>> {
        let stale = match Self::load(path) {
            Ok(p) if p.matches(graph, spreader.config()) => {
                return Ok(Some((p, ProfileSource::Loaded)))
            }
            Ok(_) => Some("made for another graph or spread configuration".to_string()),
            Err(e) if path.exists() => Some(format!("{e:#}")),
            Err(_) => None,
        };
        let t = std::time::Instant::now();
        let Some(p) = Self::compute_until(graph, spreader, stop) else {
            return Ok(None);
        };
        let took = t.elapsed();
        p.save(path)?;
        Ok(Some((p, ProfileSource::Computed { took, stale })))
    }
}

/// Where [`CostProfile::load_or_compute`] got its profile.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileSource {
    Loaded,
    /// Computed (in `took`); `stale` says why an existing file was not used.
    Computed {
        took: std::time::Duration,
        stale: Option<String>,
    },
}
