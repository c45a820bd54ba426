//! Workload specs (TOML) and the built-in workloads.
//!
//! A workload says which graph to build, how tiers and spreading are configured, what the
//! request stream looks like, and how long to run. This module parses and validates a spec
//! (naming the file, key and reason on any error), resolves it into engine and generator
//! parameters, computes the workload's identity hash, and produces the seeded request stream.
//! The built-ins live in `workloads/*.toml` and are embedded in the binary.
//!
//! Each rule is said once. The TOML form is serde-tagged enums (the graph by `generator`, the
//! decay by `kind`), so serde itself refuses an unknown key, an unknown variant and a key that
//! does not apply to the chosen generator or decay kind; `SpecFile::check` holds the range of
//! each key on its own; `resolve` keeps what spans several keys; the model's own rules stay in
//! [`SpreadConfig::validate`]. toml reports serde's errors without the key path, so `describe`
//! adds it.

use crate::engine::{Decay, FanEffect, Seed, SpreadConfig, TierParams, TierPolicy, MAX_DEPTH};
use crate::graph::generate::{GraphParams, Topology};
use crate::graph::{Fnv1a64, Graph, Tier};
use crate::recall::pipeline::MAX_RECALL_K;
use crate::recall::{EmbeddingSpec, RecallConfig, RecallMode, SimilarityMode};
use crate::rng::SeededRng;
use crate::InputError;
use serde::de::Unexpected;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml_edit::TableLike;

/// The built-in workloads: name and TOML text.
pub const BUILTINS: &[(&str, &str)] = &[
    ("warm-10k", include_str!("../workloads/warm-10k.toml")),
    ("hot-1k", include_str!("../workloads/hot-1k.toml")),
    ("chain-64", include_str!("../workloads/chain-64.toml")),
    ("fan-32", include_str!("../workloads/fan-32.toml")),
    ("mixed-100k", include_str!("../workloads/mixed-100k.toml")),
    (
        "scale-free-1m",
        include_str!("../workloads/scale-free-1m.toml"),
    ),
    (
        "scale-free-1m-deep",
        include_str!("../workloads/scale-free-1m-deep.toml"),
    ),
];

/// The workload used when none is named.
pub const DEFAULT_WORKLOAD: &str = "warm-10k";

/// The most requests a run may measure or warm up (10¹²: days of work; above it is a typo,
/// and sums of request counts must not overflow). The CLI's `--spreads`/`--warmup` share it.
pub const MAX_REQUESTS: u64 = 1_000_000_000_000;

// ---- The TOML form. Every table refuses unknown keys. ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    graph: GraphSection,
    #[serde(default)]
    tiers: TiersSection,
    #[serde(default)]
    spread: SpreadSection,
    #[serde(default)]
    requests: RequestsSection,
    #[serde(default)]
    run: RunSection,
    /// Absent: the workload has no embeddings (recall then needs `--embeddings`).
    embeddings: Option<EmbeddingsSection>,
    #[serde(default)]
    recall: RecallSection,
    /// Absent: requests have no latency budget.
    budget: Option<BudgetSection>,
}

/// `[budget]`: a latency budget for every request of `run` and `soak` (DESIGN §3), e.g.
/// `latency = "250us"`; `--budget` overrides it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSection {
    latency: String,
}

/// `[graph]`, tagged by its `generator` key: each generator takes its own keys besides the
/// common ones and refuses the others'.
#[derive(Debug, Deserialize)]
#[serde(tag = "generator", rename_all = "kebab-case", deny_unknown_fields)]
enum GraphSection {
    BarabasiAlbert {
        m: i64,
        #[serde(flatten)]
        common: GraphCommon,
    },
    WattsStrogatz {
        k: i64,
        p: f64,
        #[serde(flatten)]
        common: GraphCommon,
    },
    ErdosRenyi {
        mean_degree: f64,
        #[serde(flatten)]
        common: GraphCommon,
    },
    Chain {
        #[serde(flatten)]
        common: GraphCommon,
    },
    Fan {
        #[serde(flatten)]
        common: GraphCommon,
    },
}

impl GraphSection {
    fn common(&self) -> &GraphCommon {
        match self {
            GraphSection::BarabasiAlbert { common, .. }
            | GraphSection::WattsStrogatz { common, .. }
            | GraphSection::ErdosRenyi { common, .. }
            | GraphSection::Chain { common }
            | GraphSection::Fan { common } => common,
        }
    }
}

/// The `[graph]` keys of every generator. A key it does not know is refused by the enclosing
/// variant's `deny_unknown_fields` (serde ignores that attribute on a flattened struct).
#[derive(Debug, Deserialize)]
struct GraphCommon {
    nodes: i64,
    #[serde(default)]
    directed: bool,
    #[serde(default = "default_weight_min")]
    weight_min: f64,
    #[serde(default = "default_weight_max")]
    weight_max: f64,
    #[serde(default)]
    inhibitory_share: f64,
    #[serde(default)]
    modulatory_share: f64,
}

fn default_weight_min() -> f64 {
    0.1
}
fn default_weight_max() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TiersSection {
    policy: TierPolicy,
    shares: SharesSection,
    hot: Option<TierOverride>,
    warm: Option<TierOverride>,
    cold: Option<TierOverride>,
}

impl Default for TiersSection {
    fn default() -> Self {
        TiersSection {
            policy: SpreadConfig::default().tier_policy,
            shares: SharesSection::default(),
            hot: None,
            warm: None,
            cold: None,
        }
    }
}

/// Without the table every node is warm; with it, a share left out is 0.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SharesSection {
    #[serde(default)]
    hot: f64,
    #[serde(default)]
    warm: f64,
    #[serde(default)]
    cold: f64,
}

impl Default for SharesSection {
    fn default() -> Self {
        SharesSection {
            hot: 0.0,
            warm: 1.0,
            cold: 0.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierOverride {
    threshold: Option<f64>,
    confidence: Option<f64>,
    latency_budget_us: Option<f64>,
    visit_budget: Option<i64>,
}

/// `[spread]`: a key left out keeps the model's default ([`SpreadConfig::default`]); `decay`
/// is the engine's own [`Decay`], tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SpreadSection {
    /// Signed, so that an out-of-range depth is reported as written rather than as its cast.
    max_depth: i64,
    decay: Decay,
    fan_effect: FanEffect,
    cycle_penalty: f64,
    top_k: Option<i64>,
}

impl Default for SpreadSection {
    fn default() -> Self {
        let d = SpreadConfig::default();
        SpreadSection {
            max_depth: i64::from(d.max_depth),
            decay: d.decay,
            fan_effect: d.fan_effect,
            cycle_penalty: d.cycle_penalty,
            top_k: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RequestsSection {
    seeds_per_request: i64,
    seed_activation: f64,
}

impl Default for RequestsSection {
    fn default() -> Self {
        RequestsSection {
            seeds_per_request: 3,
            seed_activation: 1.0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunSection {
    spreads: i64,
    warmup: i64,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            spreads: 20_000,
            warmup: 2_000,
        }
    }
}

/// `[embeddings]`: generated node vectors (DESIGN §7); keys left out take
/// [`EmbeddingSpec::for_nodes`]'s values.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingsSection {
    dim: Option<i64>,
    clusters: Option<i64>,
    noise: Option<f64>,
    cue_noise: Option<f64>,
}

/// `[recall]`: a key left out keeps [`RecallConfig::default`] (Engram's defaults).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RecallSection {
    mode: RecallMode,
    similarity: SimilarityMode,
    max_candidates: i64,
    similarity_threshold: f64,
    temperature: f64,
    min_confidence: f64,
    max_results: i64,
    rerank_factor: i64,
    fan_effect: Option<FanEffect>,
}

impl Default for RecallSection {
    fn default() -> Self {
        let d = RecallConfig::default();
        RecallSection {
            mode: d.mode,
            similarity: d.similarity,
            max_candidates: d.max_candidates as i64,
            similarity_threshold: d.similarity_threshold,
            temperature: d.temperature,
            min_confidence: d.min_confidence,
            max_results: d.max_results as i64,
            rerank_factor: d.rerank_factor as i64,
            fan_effect: d.fan_effect,
        }
    }
}

impl EmbeddingsSection {
    /// The spec for a graph of `nodes` nodes, checked; messages name the key.
    fn spec(&self, nodes: usize, seed: u64) -> Result<EmbeddingSpec, String> {
        let d = EmbeddingSpec::for_nodes(nodes, seed);
        let count = |key: &str, v: Option<i64>, default: usize, most: usize| match v {
            None => Ok(default),
            Some(v) if v >= 1 && v as u64 <= most as u64 => Ok(v as usize),
            Some(v) => Err(format!("embeddings.{key}: must be in 1..={most} (got {v})")),
        };
        let spec = EmbeddingSpec {
            dim: count("dim", self.dim, d.dim, crate::recall::embeddings::MAX_DIM)?,
            clusters: count("clusters", self.clusters, d.clusters, nodes)?,
            noise: self.noise.map_or(d.noise, |v| v as f32),
            cue_noise: self.cue_noise.map_or(d.cue_noise, |v| v as f32),
            seed,
        };
        for (key, v) in [("noise", self.noise), ("cue_noise", self.cue_noise)] {
            if let Some(v) = v {
                ensure(
                    v.is_finite() && (0.0..=1e6).contains(&v),
                    &format!("embeddings.{key}"),
                    "must be a finite number in [0, 1000000]",
                    Num(v),
                )?;
            }
        }
        Ok(spec)
    }
}

impl RecallSection {
    fn config(&self) -> Result<RecallConfig, String> {
        let count = |key: &str, v: i64, most: usize| {
            if v >= 1 && v as u64 <= most as u64 {
                Ok(v as usize)
            } else {
                Err(format!("recall.{key}: must be in 1..={most} (got {v})"))
            }
        };
        let c = RecallConfig {
            mode: self.mode,
            similarity: self.similarity,
            max_candidates: count("max_candidates", self.max_candidates, MAX_RECALL_K)?,
            similarity_threshold: self.similarity_threshold,
            temperature: self.temperature,
            min_confidence: self.min_confidence,
            max_results: count("max_results", self.max_results, MAX_RECALL_K)?,
            rerank_factor: count("rerank_factor", self.rerank_factor, 64)?,
            fan_effect: self.fan_effect,
        };
        c.validate().map_err(|e| format!("recall.{e}"))?;
        Ok(c)
    }
}

// ---- The resolved form. ----

/// How requests are drawn: each request has `seeds_per_request` seeds, chosen uniformly
/// (with replacement; duplicates merge) from all nodes, each at `seed_activation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestSpec {
    pub seeds_per_request: usize,
    pub seed_activation: f64,
}

/// Default measurement length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    pub spreads: u64,
    pub warmup: u64,
}

/// A parsed, validated workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    pub description: String,
    /// Where it came from: `builtin:NAME` or the file path.
    pub source: String,
    pub seed: u64,
    pub graph: GraphParams,
    pub spread: SpreadConfig,
    pub requests: RequestSpec,
    pub run: RunSpec,
    /// How to generate node vectors, when the workload has an `[embeddings]` section.
    pub embeddings: Option<EmbeddingSpec>,
    pub recall: RecallConfig,
    /// The `[budget]` section's latency budget per request, in ns (none by default).
    pub budget_ns: Option<u64>,
}

impl Workload {
    /// Resolves `-w NAME_OR_PATH`: a built-in name, or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Workload, InputError> {
        if let Some((_, text)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
            return Workload::parse(text, &format!("builtin:{name_or_path}"));
        }
        let path = Path::new(name_or_path);
        if path.exists() || name_or_path.ends_with(".toml") {
            let file = std::fs::File::open(path).map_err(|e| {
                InputError::new(format!("{name_or_path}: cannot read workload: {e}"))
            })?;
            let bytes = crate::input::read_to_end_bounded(
                file,
                name_or_path,
                crate::input::MAX_TEXT_INPUT_BYTES,
            )?;
            let text = String::from_utf8(bytes).map_err(|e| {
                InputError::new(format!("{name_or_path}: workload is not UTF-8 text: {e}"))
            })?;
            return Workload::parse(&text, name_or_path);
        }
        let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        Err(InputError::new(format!(
            "unknown workload '{name_or_path}': not a built-in ({}) and no such file",
            names.join(", ")
        )))
    }

    /// Parses and validates TOML text; `source` names it in error messages.
    pub fn parse(text: &str, source: &str) -> Result<Workload, InputError> {
        let spec: SpecFile = toml::from_str(text)
            .map_err(|e| InputError::new(format!("{source}: {}", describe(text, &e))))?;
        resolve(spec)
            .map_err(|e| InputError::new(format!("{source}: {e}")))
            .map(|mut w| {
                w.source = source.to_string();
                w
            })
    }

    /// The workload's identity: a hash of everything that decides its results — the graph's
    /// content, the spread configuration, the request spec and the seed. Two runs with the same
    /// identity are comparable; the same graph loaded from a file has the same identity as when
    /// generated.
    pub fn identity(&self, graph: &Graph) -> String {
        let mut h = Fnv1a64::new();
        h.write(&graph.fingerprint().to_le_bytes());
        let rest = serde_json::json!({
            "spread": self.spread,
            "requests": self.requests,
            "seed": self.seed,
        });
        h.write(rest.to_string().as_bytes());
        format!("{:016x}", h.finish())
    }

    /// The identity of a recall measurement: [`Workload::identity`]'s inputs plus the
    /// embeddings (by a hash of their bytes, so generated and imported vectors that are equal
    /// agree) and the recall configuration. A recall run and a spread run of one workload
    /// have different identities: their latencies measure different things.
    pub fn recall_identity(
        &self,
        graph: &Graph,
        embeddings_hash: u64,
        recall: &RecallConfig,
    ) -> String {
        let mut h = Fnv1a64::new();
        h.write(&graph.fingerprint().to_le_bytes());
        h.write(&embeddings_hash.to_le_bytes());
        let rest = serde_json::json!({
            "spread": self.spread,
            "recall": recall,
            "cue_noise": self.embeddings.map(|e| e.cue_noise),
            "seed": self.seed,
        });
        h.write(rest.to_string().as_bytes());
        format!("{:016x}", h.finish())
    }

    /// The seeded request stream for this workload and a graph of `nodes` nodes.
    pub fn requests(&self, nodes: usize) -> RequestStream {
        RequestStream::new(self.seed, nodes, &self.requests)
    }
}

/// A number in a message: as Rust writes it, except very small or large magnitudes, which
/// `{}` would spell out in hundreds of digits (`1e-300`).
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a != 0.0 && a.is_finite() && !(1e-6..1e15).contains(&a) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// `Err("KEY: RULE (got VALUE)")` unless `ok`: one line for the range of each key.
fn ensure(ok: bool, key: &str, rule: &str, got: impl fmt::Display) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{key}: {rule} (got {got})"))
    }
}

impl SpecFile {
    /// The range of each key on its own. Unknown keys and variants, and keys that do not apply
    /// to the chosen generator or decay kind, serde has refused already.
    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        let g = self.graph.common();
        ensure(g.nodes >= 1, "graph.nodes", "must be at least 1", g.nodes)?;
        if g.nodes > i64::from(u32::MAX) {
            let limit = u32::MAX;
            return Err(format!(
                "graph.nodes: {} is above the limit of {limit}",
                g.nodes
            ));
        }
        if let GraphSection::WattsStrogatz { p, .. } = self.graph {
            ensure(
                (0.0..=1.0).contains(&p),
                "graph.p",
                "must be in [0, 1]",
                Num(p),
            )?;
        }
        for (key, v) in [
            ("graph.weight_min", g.weight_min),
            ("graph.weight_max", g.weight_max),
        ] {
            ensure(v > 0.0 && v <= 1.0, key, "must be in (0, 1]", Num(v))?;
        }
        for (key, v) in [
            ("graph.inhibitory_share", g.inhibitory_share),
            ("graph.modulatory_share", g.modulatory_share),
        ] {
            ensure((0.0..=1.0).contains(&v), key, "must be in [0, 1]", Num(v))?;
        }
        let sh = &self.tiers.shares;
        for (t, v) in Tier::ALL.iter().zip([sh.hot, sh.warm, sh.cold]) {
            let key = format!("tiers.shares.{t}");
            ensure((0.0..=1.0).contains(&v), &key, "must be in [0, 1]", Num(v))?;
        }
        let depth = self.spread.max_depth;
        let rule = format!("must be in 1..={MAX_DEPTH}");
        ensure(
            (1..=i64::from(MAX_DEPTH)).contains(&depth),
            "spread.max_depth",
            &rule,
            depth,
        )?;
        let rq = &self.requests;
        let n = rq.seeds_per_request;
        let rule = "must be in 1..=1000000";
        ensure(
            (1..=1_000_000).contains(&n),
            "requests.seeds_per_request",
            rule,
            n,
        )?;
        let a = rq.seed_activation;
        let rule = "must be in (0, 1] and at least 2^-32";
        ensure(
            Seed::valid_activation(a),
            "requests.seed_activation",
            rule,
            Num(a),
        )?;
        let run = &self.run;
        let most = MAX_REQUESTS as i64;
        ensure(
            run.spreads >= 1,
            "run.spreads",
            "must be at least 1",
            run.spreads,
        )?;
        ensure(run.warmup >= 0, "run.warmup", "must be >= 0", run.warmup)?;
        for (key, v) in [("run.spreads", run.spreads), ("run.warmup", run.warmup)] {
            ensure(v <= most, key, "must be at most 1000000000000", v)?;
        }
        Ok(())
    }
}

impl TiersSection {
    /// DESIGN §2's tier parameters with this file's overrides. Threshold and confidence are
    /// left to [`SpreadConfig::validate`]; the two keys converted here are checked here.
    fn params(&self) -> Result<[TierParams; 3], String> {
        let mut tiers = Tier::ALL.map(TierParams::default_for);
        for (t, o) in Tier::ALL
            .into_iter()
            .zip([&self.hot, &self.warm, &self.cold])
        {
            let Some(o) = o else { continue };
            let p = &mut tiers[t as usize];
            p.threshold = o.threshold.unwrap_or(p.threshold);
            p.confidence = o.confidence.unwrap_or(p.confidence);
            if let Some(v) = o.latency_budget_us {
                let key = format!("tiers.{t}.latency_budget_us");
                ensure(v.is_finite() && v > 0.0, &key, "must be > 0", Num(v))?;
                p.latency_budget_ns = (v * 1000.0).round() as u64;
            }
            if let Some(v) = o.visit_budget {
                let key = format!("tiers.{t}.visit_budget");
                ensure(
                    (0..=i64::from(u16::MAX)).contains(&v),
                    &key,
                    "must be in 0..=65535",
                    v,
                )?;
                p.visit_budget = v as u32;
            }
        }
        Ok(tiers)
    }
}

impl SpreadSection {
    /// The engine's configuration, held to [`SpreadConfig::validate`] (its messages get the
    /// section's name in front, as the file spells the key).
    fn config(&self, tiers: &TiersSection) -> Result<SpreadConfig, String> {
        // Negative here; 0 is the model's to refuse.
        let top_k = match self.top_k {
            None => None,
            Some(k) => Some(
                usize::try_from(k)
                    .map_err(|_| format!("spread.top_k: must be at least 1 (got {k})"))?,
            ),
        };
        let spread = SpreadConfig {
            max_depth: self.max_depth as u32,
            decay: self.decay,
            fan_effect: self.fan_effect,
            cycle_penalty: self.cycle_penalty,
            tier_policy: tiers.policy,
            tiers: tiers.params()?,
            top_k,
        };
        spread.validate().map_err(|e| {
            if e.starts_with("tiers.") {
                e
            } else {
                format!("spread.{e}")
            }
        })?;
        Ok(spread)
    }
}

/// A checked spec as the workload it describes. What is left to check here spans several keys.
fn resolve(s: SpecFile) -> Result<Workload, String> {
    s.check()?;
    let g = s.graph.common();
    let nodes = g.nodes as usize;
    let topology = match s.graph {
        GraphSection::BarabasiAlbert { m, .. } => {
            // One node with m = 1 is a graph without edges, accepted as it always was.
            let ok = m >= 1 && (m as usize) < nodes.max(2);
            ensure(ok, "graph.m", "must be in 1..nodes", m)?;
            Topology::BarabasiAlbert { m: m as usize }
        }
        GraphSection::WattsStrogatz { k, p, .. } => {
            let ok = k >= 2 && k % 2 == 0 && (k as usize) < nodes;
            ensure(ok, "graph.k", "must be an even number in 2..nodes", k)?;
            Topology::WattsStrogatz { k: k as usize, p }
        }
        GraphSection::ErdosRenyi { mean_degree: d, .. } => {
            let ok = d.is_finite() && d > 0.0 && d <= (nodes as f64 - 1.0).max(0.0);
            ensure(ok, "graph.mean_degree", "must be in (0, nodes - 1]", Num(d))?;
            Topology::ErdosRenyi { mean_degree: d }
        }
        GraphSection::Chain { .. } => Topology::Chain,
        GraphSection::Fan { .. } => Topology::Fan,
    };
    let (wmin, wmax) = (g.weight_min, g.weight_max);
    if wmin > wmax {
        let (wmin, wmax) = (Num(wmin), Num(wmax));
        return Err(format!(
            "graph.weight_min: {wmin} is above graph.weight_max {wmax}"
        ));
    }
    if g.inhibitory_share + g.modulatory_share > 1.0 + 1e-9 {
        return Err("graph.inhibitory_share + graph.modulatory_share: must not exceed 1".into());
    }
    let sh = &s.tiers.shares;
    let shares = [sh.hot, sh.warm, sh.cold];
    let total: f64 = shares.iter().sum();
    let rule = "hot + warm + cold must sum to 1";
    ensure(
        (total - 1.0).abs() <= 1e-6,
        "tiers.shares",
        rule,
        Num(total),
    )?;
    let spread = s.spread.config(&s.tiers)?;

    Ok(Workload {
        graph: GraphParams {
            topology,
            nodes,
            directed: g.directed,
            weight_min: wmin,
            weight_max: wmax,
            inhibitory_share: g.inhibitory_share,
            modulatory_share: g.modulatory_share,
            tier_shares: shares,
            seed: s.seed,
        },
        name: s.name,
        description: s.description,
        source: String::new(),
        seed: s.seed,
        spread,
        requests: RequestSpec {
            seeds_per_request: s.requests.seeds_per_request as usize,
            seed_activation: s.requests.seed_activation,
        },
        run: RunSpec {
            spreads: s.run.spreads as u64,
            warmup: s.run.warmup as u64,
        },
        embeddings: s
            .embeddings
            .as_ref()
            .map(|e| e.spec(nodes, s.seed))
            .transpose()?,
        recall: s.recall.config()?,
        budget_ns: s
            .budget
            .as_ref()
            .map(|b| {
                crate::engine::parse_duration(&b.latency)
                    .map_err(|e| format!("budget.latency: {e}"))
            })
            .transpose()?,
    })
}

// ---- Naming the key of a toml or serde error. ----

/// Tables tagged by one of their keys: the table, its tag, and how a message names the tag's
/// value.
const TAGGED_TABLES: [(&str, &str, &str); 2] = [
    ("graph", "generator", "generator"),
    ("spread.decay", "kind", "decay kind"),
];

/// One line for a toml or serde error: the key path, the reason, and the line.
///
/// toml passes serde's messages on with a span but without the key path, and for a tagged
/// table (which serde reads whole before it looks inside) the span is the whole table. So the
/// span is mapped back to its key path through toml_edit's spans of the same text, and serde's
/// fixed phrasings for an unknown variant, an unknown key and a missing key are said in this
/// project's words, naming the key itself at its own line.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().replace('\n', " ");
    let Some(span) = e.span() else { return msg };
    let line_of = |at: usize| {
        let before = &text.as_bytes()[..at.min(text.len())];
        before.iter().filter(|&&b| b == b'\n').count() + 1
    };
    let mut line = line_of(span.start);
    // A syntax error: there is no document to take key paths from.
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        return format!("{msg} (line {line})");
    };
    let root = doc.as_table() as &dyn TableLike;
    let mut path = Vec::new();
    // An error about the top level has the span of its own keys, which a table that starts
    // the file may also hold (both are empty then).
    if doc.as_table().span() != Some(span.clone()) {
        locate(root, &span, &mut path);
    }
    let reason = if let Some((value, expected)) = quoted_names(&msg, "unknown variant `") {
        // Pointing at a tagged table rather than at its tag: name the tag.
        if let Some((_, tag, _)) = TAGGED_TABLES.iter().find(|t| t.0 == path.join(".")) {
            path.push(tag.to_string());
        }
        format!("'{value}' is not one of {}", expected.join(", "))
    } else if let Some((key, expected)) = quoted_names(&msg, "unknown field `") {
        if path.last().map(String::as_str) == Some(key) {
            path.pop();
        }
        let at = table_at(root, &path).and_then(|t| t.get_key_value(key));
        if let Some(start) = at.and_then(|(k, v)| k.span().or(v.span())).map(|r| r.start) {
            line = line_of(start);
        }
        let mut reason = match tag_of(root, &path) {
            Some(tag) => format!("does not apply to {tag}"),
            None => "unknown key".to_string(),
        };
        match expected[..] {
            [] => {}
            [one] => reason += &format!("; expected {one}"),
            _ => reason += &format!("; expected one of {}", expected.join(", ")),
        }
        path.push(key.to_string());
        reason
    } else if let Some((key, _)) = quoted_names(&msg, "missing field `") {
        let reason = match tag_of(root, &path) {
            Some(tag) => format!("required for {tag}"),
            None => "required".to_string(),
        };
        path.push(key.to_string());
        reason
    } else {
        // A tagged table is read whole, so a value of the wrong type has the table's span:
        // name the key whose value serde's message shows, when only one key has it.
        let key = table_at(root, &path).and_then(|t| key_showing(t, &msg));
        if let Some((key, start)) = key {
            line = line_of(start);
            path.push(key);
        }
        msg
    };
    if path.is_empty() {
        format!("{reason} (line {line})")
    } else {
        format!("{}: {reason} (line {line})", path.join("."))
    }
}

/// Pushes onto `path` the keys down to the deepest key or value whose span holds `span`.
fn locate(table: &dyn TableLike, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    let holds =
        |r: Option<Range<usize>>| r.is_some_and(|r| r.start <= span.start && span.end <= r.end);
    for (key, item) in table.iter() {
        path.push(key.to_string());
        let key_span = table.get_key_value(key).and_then(|(k, _)| k.span());
        let inside = item.as_table_like().is_some_and(|t| locate(t, span, path));
        if inside || holds(item.span()) || holds(key_span) {
            return true;
        }
        path.pop();
    }
    false
}

/// The one key of `table` whose value serde's "invalid type: VALUE, expected …" shows, and
/// where it starts.
fn key_showing(table: &dyn TableLike, msg: &str) -> Option<(String, usize)> {
    let shown = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    let mut hits = table.iter().filter(|(_, item)| {
        let unexpected = match item.as_value() {
            Some(toml_edit::Value::String(v)) => Unexpected::Str(v.value()),
            Some(toml_edit::Value::Integer(v)) => Unexpected::Signed(*v.value()),
            Some(toml_edit::Value::Float(v)) => Unexpected::Float(*v.value()),
            Some(toml_edit::Value::Boolean(v)) => Unexpected::Bool(*v.value()),
            _ => return false,
        };
        shown.starts_with(&format!("{unexpected}, "))
    });
    let (key, item) = hits.next()?;
    let start = item.span()?.start;
    hits.next().is_none().then(|| (key.to_string(), start))
}

fn table_at<'a>(root: &'a dyn TableLike, path: &[String]) -> Option<&'a dyn TableLike> {
    path.iter()
        .try_fold(root, |t, key| t.get(key).and_then(|i| i.as_table_like()))
}

/// How a message names the tag of the tagged table at `path`: `generator 'chain'`.
fn tag_of(root: &dyn TableLike, path: &[String]) -> Option<String> {
    let (_, tag, label) = TAGGED_TABLES.iter().find(|t| t.0 == path.join("."))?;
    let value = table_at(root, path)?.get(tag)?.as_str()?;
    Some(format!("{label} '{value}'"))
}

/// The name in serde's message `PREFIX name`, …` and the names it lists as expected (serde
/// quotes each in backquotes: "expected `a`, `b` or `c`").
fn quoted_names<'m>(msg: &'m str, prefix: &str) -> Option<(&'m str, Vec<&'m str>)> {
    let (name, rest) = msg.strip_prefix(prefix)?.split_once('`')?;
    Some((name, rest.split('`').skip(1).step_by(2).collect()))
}

/// The seeded stream of spread requests: the same workload and seed give the same requests
/// on every machine. Warm-up requests are the first ones of the stream.
pub struct RequestStream {
    rng: SeededRng,
    nodes: u64,
    per_request: usize,
    activation: f64,
}

impl RequestStream {
    pub fn new(seed: u64, nodes: usize, spec: &RequestSpec) -> Self {
        RequestStream {
            rng: SeededRng::derive(seed, "requests"),
            nodes: nodes.max(1) as u64,
            per_request: spec.seeds_per_request,
            activation: spec.seed_activation,
        }
    }

    /// Fills `seeds` with the next request's seeds (reusing its buffer).
    pub fn next_into(&mut self, seeds: &mut Vec<Seed>) {
        seeds.clear();
        for _ in 0..self.per_request {
            let node = self.rng.below(self.nodes) as u32;
            seeds.push(Seed::new(node, self.activation));
        }
    }
}

/// A stretch of the request stream drawn up front, so that several settings (or concurrent
/// clients) can run exactly the same requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestList {
    per_request: usize,
    seeds: Vec<Seed>,
}

impl RequestList {
    /// The next `count` requests of `stream`.
    pub fn draw(stream: &mut RequestStream, count: usize) -> Self {
        let mut seeds = Vec::with_capacity(count * stream.per_request);
        let mut one = Vec::with_capacity(stream.per_request);
        for _ in 0..count {
            stream.next_into(&mut one);
            seeds.extend_from_slice(&one);
        }
        RequestList {
            per_request: stream.per_request,
            seeds,
        }
    }

    pub fn len(&self) -> usize {
        self.seeds.len() / self.per_request.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// The seeds of request `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &[Seed] {
        &self.seeds[i * self.per_request..(i + 1) * self.per_request]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for (name, _) in BUILTINS {
            let w = Workload::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&w.name, name);
        }
    }

    #[test]
    fn warm_10k_matches_the_issue() {
        let w = Workload::load("warm-10k").unwrap();
        assert_eq!(w.graph.nodes, 10_000);
        assert_eq!(w.graph.topology, Topology::BarabasiAlbert { m: 4 });
        assert_eq!(w.graph.tier_shares, [0.0, 1.0, 0.0]);
        assert_eq!(w.spread.max_depth, 3);
        assert_eq!(w.spread.decay, Decay::Exponential { rate: 0.5 });
        assert_eq!(w.requests.seeds_per_request, 3);
        assert_eq!(w.run.spreads, 20_000);
        assert_eq!(w.run.warmup, 2_000);
    }

    fn err(text: &str) -> String {
        Workload::parse(text, "x.toml").unwrap_err().0
    }

    const MINIMAL: &str = "name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 5\n";

    #[test]
    fn minimal_spec_gets_defaults() {
        let w = Workload::parse(MINIMAL, "x.toml").unwrap();
        assert_eq!(w.spread, SpreadConfig::default());
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = err("name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 0\n");
        assert!(e.starts_with("x.toml: graph.nodes"), "{e}");
        let e = err(&format!("{MINIMAL}bogus = 1\n"));
        assert!(e.contains("x.toml") && e.contains("bogus"), "{e}");
        let e = err(&format!("{MINIMAL}[spread]\nmax_depth = 0\n"));
        assert!(e.contains("spread.max_depth"), "{e}");
        let e = err(&format!(
            "{MINIMAL}[spread]\nmax_depth = 9223372036854775807\n"
        ));
        assert!(e.contains("(got 9223372036854775807)"), "{e}");
        let e = err(&format!("{MINIMAL}[spread]\nmax_depth = 251\n"));
        assert!(e.contains("1..=250 (got 251)"), "{e}");
        let e = err(&format!("{MINIMAL}[tiers.shares]\nhot = 0.5\nwarm = 0.2\n"));
        assert!(e.contains("tiers.shares") && e.contains("sum to 1"), "{e}");
        let e = err(&format!(
            "{MINIMAL}[spread.decay]\nkind = \"exponential\"\nrate = -1.0\n"
        ));
        assert!(e.contains("spread.decay.rate"), "{e}");
        let e = err("name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 5\nweight_min = 0.0\n");
        assert!(e.contains("graph.weight_min"), "{e}");
        let e = err("name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 5\nweight_max = 1.5\n");
        assert!(e.contains("graph.weight_max"), "{e}");
        let e = err("name = \"t\"\n[graph\n");
        assert!(e.starts_with("x.toml:") && !e.contains('\n'), "{e}");
    }

    /// A spec whose `[graph]` uses `generator`, with `keys` from line 4 on.
    fn graph(generator: &str, keys: &str) -> String {
        format!("name = \"t\"\n[graph]\ngenerator = \"{generator}\"\n{keys}")
    }

    #[test]
    fn an_unknown_variant_names_its_key_the_choices_and_the_line() {
        assert_eq!(
            err(&graph("lattice", "nodes = 5\n")),
            "x.toml: graph.generator: 'lattice' is not one of barabasi-albert, watts-strogatz, \
             erdos-renyi, chain, fan (line 3)"
        );
        let decay =
            "x.toml: spread.decay.kind: 'foo' is not one of exponential, power-law, linear (line 6)";
        assert_eq!(
            err(&format!("{MINIMAL}[spread.decay]\nkind = \"foo\"\n")),
            decay
        );
        let inline = format!("{MINIMAL}[spread]\ndecay = {{ kind = \"foo\", rate = 1 }}\n");
        assert_eq!(err(&inline), decay);
        assert_eq!(
            err(&format!("{MINIMAL}[spread]\nfan_effect = \"in-degree\"\n")),
            "x.toml: spread.fan_effect: 'in-degree' is not one of none, out-degree, \
             sqrt-out-degree (line 6)"
        );
        assert_eq!(
            err(&format!("{MINIMAL}[tiers]\npolicy = \"depth\"\n")),
            "x.toml: tiers.policy: 'depth' is not one of storage, hop-depth (line 6)"
        );
    }

    #[test]
    fn a_key_of_another_generator_or_decay_kind_is_refused_at_its_line() {
        let cases = [
            (
                format!("{MINIMAL}m = 2\n"),
                "graph.m: does not apply to generator 'chain' (line 5)",
            ),
            (
                graph("fan", "nodes = 5\nmean_degree = 2\n"),
                "graph.mean_degree: does not apply to generator 'fan' (line 5)",
            ),
            (
                graph("barabasi-albert", "nodes = 5\nm = 2\nk = 2\n"),
                "graph.k: does not apply to generator 'barabasi-albert' (line 6)",
            ),
            (
                graph("watts-strogatz", "nodes = 10\nk = 2\np = 0.1\nm = 1\n"),
                "graph.m: does not apply to generator 'watts-strogatz' (line 7)",
            ),
            (
                graph("erdos-renyi", "nodes = 10\nmean_degree = 1\np = 0.5\n"),
                "graph.p: does not apply to generator 'erdos-renyi' (line 6)",
            ),
            (
                format!(
                    "{MINIMAL}[spread]\ndecay = {{ kind = \"linear\", slope = 0.1, rate = 0.5 }}\n"
                ),
                "spread.decay.rate: does not apply to decay kind 'linear'; expected slope (line 6)",
            ),
            (
                format!(
                    "{MINIMAL}[spread.decay]\nkind = \"exponential\"\nrate = 0.5\nslope = 0.1\n"
                ),
                "spread.decay.slope: does not apply to decay kind 'exponential'; expected rate \
                 (line 8)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn a_missing_key_is_named_with_its_table() {
        let cases = [
            (
                graph("barabasi-albert", "nodes = 5\n"),
                "graph.m: required for generator 'barabasi-albert' (line 2)",
            ),
            (
                graph("watts-strogatz", "nodes = 10\nk = 2\n"),
                "graph.p: required for generator 'watts-strogatz' (line 2)",
            ),
            (
                format!("{MINIMAL}[spread.decay]\nkind = \"exponential\"\n"),
                "spread.decay.rate: required for decay kind 'exponential' (line 5)",
            ),
            (
                format!("{MINIMAL}[spread.decay]\nrate = 0.3\n"),
                "spread.decay.kind: required (line 5)",
            ),
            (
                "name = \"t\"\n[graph]\nnodes = 5\n".into(),
                "graph.generator: required (line 2)",
            ),
            // The top level's span is empty when a table starts the file, and so is the start
            // of that table's: the error is still the top level's.
            (
                "[graph]\ngenerator = \"chain\"\nnodes = 5\n".into(),
                "name: required (line 1)",
            ),
            ("name = \"t\"\n".into(), "graph: required (line 1)"),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path_and_line() {
        let cases = [
            (
                format!("{MINIMAL}bogus = 1\n"),
                "graph.bogus: does not apply to generator 'chain' (line 5)",
            ),
            (
                format!("bogus = 1\n{MINIMAL}"),
                "bogus: unknown key; expected one of name, description, seed, graph, tiers, \
                 spread, requests, run, embeddings, recall, budget (line 1)",
            ),
            (
                format!("{MINIMAL}[recall]\ntheta = 0.1\n"),
                "recall.theta: unknown key; expected one of mode, similarity, max_candidates, \
                 similarity_threshold, temperature, min_confidence, max_results, rerank_factor, \
                 fan_effect (line 6)",
            ),
            (
                format!("{MINIMAL}[embeddings]\ndims = 8\n"),
                "embeddings.dims: unknown key; expected one of dim, clusters, noise, cue_noise \
                 (line 6)",
            ),
            (
                format!("{MINIMAL}[tiers.hot]\nthresh = 0.1\n"),
                "tiers.hot.thresh: unknown key; expected one of threshold, confidence, \
                 latency_budget_us, visit_budget (line 6)",
            ),
            (
                format!("{MINIMAL}[tiers.tepid]\nthreshold = 0.1\n"),
                "tiers.tepid: unknown key; expected one of policy, shares, hot, warm, cold (line 5)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_key() {
        let cases = [
            // In the tagged tables, which serde reads whole.
            (
                graph("chain", "nodes = \"5\"\n"),
                "graph.nodes: invalid type: string \"5\", expected i64 (line 4)",
            ),
            (
                format!("{MINIMAL}[spread.decay]\nkind = \"linear\"\nslope = \"steep\"\n"),
                "spread.decay.slope: invalid type: string \"steep\", expected f64 (line 7)",
            ),
            // Elsewhere.
            (
                format!("{MINIMAL}[requests]\nseeds_per_request = 2.5\n"),
                "requests.seeds_per_request: invalid type: floating point `2.5`, expected i64 \
                 (line 6)",
            ),
            (
                format!("seed = -1\n{MINIMAL}"),
                "seed: invalid value: integer `-1`, expected u64 (line 1)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn a_very_small_or_large_number_is_shown_in_scientific_notation() {
        let e = err(&format!("{MINIMAL}[requests]\nseed_activation = 1e-300\n"));
        assert_eq!(
            e,
            "x.toml: requests.seed_activation: must be in (0, 1] and at least 2^-32 (got 1e-300)"
        );
        let e = err(&format!("{MINIMAL}weight_max = 1e300\n"));
        assert_eq!(e, "x.toml: graph.weight_max: must be in (0, 1] (got 1e300)");
        let e = err(&format!("{MINIMAL}weight_min = 0.5\nweight_max = 1e-20\n"));
        assert_eq!(
            e,
            "x.toml: graph.weight_min: 0.5 is above graph.weight_max 1e-20"
        );
        // Ordinary numbers as written.
        let e = err(&format!("{MINIMAL}weight_max = 1.5\n"));
        assert_eq!(e, "x.toml: graph.weight_max: must be in (0, 1] (got 1.5)");
    }

    #[test]
    fn rules_across_keys_name_the_keys() {
        let cases = [
            (
                graph("barabasi-albert", "nodes = 5\nm = 5\n"),
                "graph.m: must be in 1..nodes (got 5)",
            ),
            (
                graph("watts-strogatz", "nodes = 10\nk = 3\np = 0.1\n"),
                "graph.k: must be an even number in 2..nodes (got 3)",
            ),
            (
                graph("watts-strogatz", "nodes = 10\nk = 10\np = 0.1\n"),
                "graph.k: must be an even number in 2..nodes (got 10)",
            ),
            (
                graph("erdos-renyi", "nodes = 10\nmean_degree = 10\n"),
                "graph.mean_degree: must be in (0, nodes - 1] (got 10)",
            ),
            (
                format!("{MINIMAL}weight_min = 0.8\nweight_max = 0.5\n"),
                "graph.weight_min: 0.8 is above graph.weight_max 0.5",
            ),
            (
                format!("{MINIMAL}inhibitory_share = 0.6\nmodulatory_share = 0.6\n"),
                "graph.inhibitory_share + graph.modulatory_share: must not exceed 1",
            ),
            (
                format!("{MINIMAL}[tiers.shares]\nhot = 0.5\nwarm = 0.2\n"),
                "tiers.shares: hot + warm + cold must sum to 1 (got 0.7)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn each_key_out_of_range_is_named() {
        let cases = [
            (
                graph("watts-strogatz", "nodes = 10\nk = 2\np = 2\n"),
                "graph.p: must be in [0, 1] (got 2)",
            ),
            (
                format!("{MINIMAL}inhibitory_share = 1.5\n"),
                "graph.inhibitory_share: must be in [0, 1] (got 1.5)",
            ),
            (
                format!("{MINIMAL}[tiers.shares]\nhot = -0.5\nwarm = 1.5\n"),
                "tiers.shares.hot: must be in [0, 1] (got -0.5)",
            ),
            (
                format!("{MINIMAL}[tiers.hot]\nlatency_budget_us = 0\n"),
                "tiers.hot.latency_budget_us: must be > 0 (got 0)",
            ),
            (
                format!("{MINIMAL}[tiers.cold]\nvisit_budget = 70000\n"),
                "tiers.cold.visit_budget: must be in 0..=65535 (got 70000)",
            ),
            (
                format!("{MINIMAL}[spread]\ntop_k = -3\n"),
                "spread.top_k: must be at least 1 (got -3)",
            ),
            (
                format!("{MINIMAL}[requests]\nseeds_per_request = 0\n"),
                "requests.seeds_per_request: must be in 1..=1000000 (got 0)",
            ),
            (
                format!("{MINIMAL}[run]\nspreads = 0\n"),
                "run.spreads: must be at least 1 (got 0)",
            ),
            (
                format!("{MINIMAL}[run]\nwarmup = -1\n"),
                "run.warmup: must be >= 0 (got -1)",
            ),
            // SpreadConfig::validate's rules, with the section in front as the file spells it.
            (
                format!("{MINIMAL}[tiers.warm]\nthreshold = 0\n"),
                "tiers.warm.threshold: must be in (0, 1] (got 0)",
            ),
            (
                format!("{MINIMAL}[spread]\ncycle_penalty = 1.5\n"),
                "spread.cycle_penalty: must be in [0, 1] (got 1.5)",
            ),
            (
                format!("{MINIMAL}[spread]\ntop_k = 0\n"),
                "spread.top_k: must be at least 1 (omit it to keep every node)",
            ),
            (
                format!("{MINIMAL}[spread.decay]\nkind = \"power-law\"\nexponent = inf\n"),
                "spread.decay.exponent: must be a finite number >= 0 (got inf)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(&text), format!("x.toml: {want}"), "{text}");
        }
    }

    #[test]
    fn every_key_of_a_full_spec_reaches_the_workload() {
        let text = "name = \"full\"\ndescription = \"d\"\nseed = 9\n\
            [graph]\ngenerator = \"watts-strogatz\"\nnodes = 100\nk = 4\np = 0.25\n\
            directed = true\nweight_min = 0.2\nweight_max = 0.9\n\
            inhibitory_share = 0.1\nmodulatory_share = 0.2\n\
            [tiers]\npolicy = \"hop-depth\"\nshares = { hot = 0.25, warm = 0.5, cold = 0.25 }\n\
            [tiers.hot]\nthreshold = 0.02\nconfidence = 0.99\nlatency_budget_us = 50.5\n\
            visit_budget = 5\n[tiers.cold]\nvisit_budget = 0\n\
            [spread]\nmax_depth = 6\ndecay = { kind = \"linear\", slope = 0.2 }\n\
            fan_effect = \"sqrt-out-degree\"\ncycle_penalty = 0.5\ntop_k = 10\n\
            [requests]\nseeds_per_request = 4\nseed_activation = 0.5\n\
            [run]\nspreads = 7\nwarmup = 0\n\
            [embeddings]\ndim = 16\nclusters = 5\nnoise = 0.5\ncue_noise = 0.25\n\
            [recall]\nmode = \"spreading\"\nsimilarity = \"quantized\"\nmax_candidates = 20\n\
            similarity_threshold = 0.3\ntemperature = 0.25\nmin_confidence = 0.2\n\
            max_results = 15\nrerank_factor = 8\nfan_effect = \"out-degree\"\n";
        let w = Workload::parse(text, "full.toml").unwrap();
        let mut tiers = Tier::ALL.map(TierParams::default_for);
        tiers[0] = TierParams {
            threshold: 0.02,
            confidence: 0.99,
            latency_budget_ns: 50_500,
            visit_budget: 5,
        };
        tiers[2].visit_budget = 0;
        let want = Workload {
            name: "full".into(),
            description: "d".into(),
            source: "full.toml".into(),
            seed: 9,
            graph: GraphParams {
                topology: Topology::WattsStrogatz { k: 4, p: 0.25 },
                nodes: 100,
                directed: true,
                weight_min: 0.2,
                weight_max: 0.9,
                inhibitory_share: 0.1,
                modulatory_share: 0.2,
                tier_shares: [0.25, 0.5, 0.25],
                seed: 9,
            },
            spread: SpreadConfig {
                max_depth: 6,
                decay: Decay::Linear { slope: 0.2 },
                fan_effect: FanEffect::SqrtOutDegree,
                cycle_penalty: 0.5,
                tier_policy: TierPolicy::HopDepth,
                tiers,
                top_k: Some(10),
            },
            requests: RequestSpec {
                seeds_per_request: 4,
                seed_activation: 0.5,
            },
            run: RunSpec {
                spreads: 7,
                warmup: 0,
            },
            embeddings: Some(EmbeddingSpec {
                dim: 16,
                clusters: 5,
                noise: 0.5,
                cue_noise: 0.25,
                seed: 9,
            }),
            recall: RecallConfig {
                mode: RecallMode::Spreading,
                similarity: SimilarityMode::Quantized,
                max_candidates: 20,
                similarity_threshold: 0.3,
                temperature: 0.25,
                min_confidence: 0.2,
                max_results: 15,
                rerank_factor: 8,
                fan_effect: Some(FanEffect::OutDegree),
            },
            budget_ns: None,
        };
        assert_eq!(w, want);
        let er = graph("erdos-renyi", "nodes = 100\nmean_degree = 3\n");
        let w = Workload::parse(&er, "x.toml").unwrap();
        assert_eq!(w.graph.topology, Topology::ErdosRenyi { mean_degree: 3.0 });
        let fan = graph("fan", "nodes = 5\n");
        assert_eq!(
            Workload::parse(&fan, "x.toml").unwrap().graph.topology,
            Topology::Fan
        );
    }

    #[test]
    fn builtin_identities_are_the_recorded_ones() {
        // warm-10k's is `workload.hash` in the committed CI baseline
        // (results/baseline/warm-10k.json); the others were recorded with the string-matching
        // resolver this module had before its TOML form became tagged enums.
        for (name, hash) in [
            ("warm-10k", "6f30552f6d99d14b"),
            ("hot-1k", "d25436d024daa3ce"),
            ("chain-64", "ebbe3997619bab5a"),
            ("fan-32", "36f33cfbbc606de0"),
        ] {
            let w = Workload::load(name).unwrap();
            let g = crate::graph::generate::generate(&w.graph).unwrap();
            assert_eq!(w.identity(&g), hash, "{name}");
        }
    }

    #[test]
    fn request_list_replays_the_stream() {
        let w = Workload::load("hot-1k").unwrap();
        let list = RequestList::draw(&mut w.requests(1000), 50);
        let mut stream = w.requests(1000);
        let mut one = Vec::new();
        assert_eq!(list.len(), 50);
        for i in 0..50 {
            stream.next_into(&mut one);
            assert_eq!(list.get(i), &one[..]);
        }
    }

    #[test]
    fn request_stream_is_deterministic() {
        let w = Workload::load("warm-10k").unwrap();
        let (mut a, mut b) = (w.requests(10_000), w.requests(10_000));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            a.next_into(&mut x);
            b.next_into(&mut y);
            assert_eq!(x, y);
            assert_eq!(x.len(), 3);
            assert!(x.iter().all(|s| s.node < 10_000 && s.activation == 1.0));
        }
    }
}
