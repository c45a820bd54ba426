//! Workload specs (TOML) and the built-in workloads.
//!
//! A workload says which graph to build, how tiers and spreading are configured, what the
//! request stream looks like, and how long to run. This module parses and validates a spec
//! (naming the file, key and reason on any error), resolves it into engine and generator
//! parameters, computes the workload's identity hash, and produces the seeded request stream.
//! The built-ins live in `workloads/*.toml` and are embedded in the binary.

use crate::engine::{Decay, FanEffect, Seed, SpreadConfig, TierParams, TierPolicy, MAX_DEPTH};
use crate::graph::generate::{GraphParams, Topology};
use crate::graph::{Fnv1a64, Graph, Tier};
use crate::rng::SeededRng;
use crate::InputError;
use serde::{Deserialize, Serialize};
use std::path::Path;

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphSection {
    generator: String,
    nodes: i64,
    m: Option<i64>,
    k: Option<i64>,
    p: Option<f64>,
    mean_degree: Option<f64>,
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
#[serde(deny_unknown_fields)]
struct TiersSection {
    #[serde(default = "default_policy")]
    policy: String,
    #[serde(default)]
    shares: SharesSection,
    hot: Option<TierOverride>,
    warm: Option<TierOverride>,
    cold: Option<TierOverride>,
}

fn default_policy() -> String {
    "storage".into()
}

impl Default for TiersSection {
    fn default() -> Self {
        TiersSection {
            policy: default_policy(),
            shares: SharesSection::default(),
            hot: None,
            warm: None,
            cold: None,
        }
    }
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpreadSection {
    #[serde(default = "default_depth")]
    max_depth: i64,
    #[serde(default)]
    decay: DecaySection,
    #[serde(default = "default_fan")]
    fan_effect: String,
    #[serde(default = "default_penalty")]
    cycle_penalty: f64,
    top_k: Option<i64>,
}

fn default_depth() -> i64 {
    3
}
fn default_fan() -> String {
    "none".into()
}
fn default_penalty() -> f64 {
    0.93
}

impl Default for SpreadSection {
    fn default() -> Self {
        SpreadSection {
            max_depth: default_depth(),
            decay: DecaySection::default(),
            fan_effect: default_fan(),
            cycle_penalty: default_penalty(),
            top_k: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecaySection {
    kind: String,
    rate: Option<f64>,
    exponent: Option<f64>,
    slope: Option<f64>,
}

impl Default for DecaySection {
    fn default() -> Self {
        DecaySection {
            kind: "exponential".into(),
            rate: Some(0.5),
            exponent: None,
            slope: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestsSection {
    #[serde(default = "default_seeds_per_request")]
    seeds_per_request: i64,
    #[serde(default = "default_seed_activation")]
    seed_activation: f64,
}

fn default_seeds_per_request() -> i64 {
    3
}
fn default_seed_activation() -> f64 {
    1.0
}

impl Default for RequestsSection {
    fn default() -> Self {
        RequestsSection {
            seeds_per_request: default_seeds_per_request(),
            seed_activation: default_seed_activation(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSection {
    #[serde(default = "default_spreads")]
    spreads: i64,
    #[serde(default = "default_warmup")]
    warmup: i64,
}

fn default_spreads() -> i64 {
    20_000
}
fn default_warmup() -> i64 {
    2_000
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            spreads: default_spreads(),
            warmup: default_warmup(),
        }
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
        let spec: SpecFile = toml::from_str(text).map_err(|e| {
            // toml's message spans several lines (with a source excerpt); keep the first and
            // the location so the error stays one line.
            let msg = e.message().replace('\n', " ");
            let loc = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            InputError::new(format!("{source}: {msg}{loc}"))
        })?;
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

    /// The seeded request stream for this workload and a graph of `nodes` nodes.
    pub fn requests(&self, nodes: usize) -> RequestStream {
        RequestStream::new(self.seed, nodes, &self.requests)
    }
}

fn resolve(s: SpecFile) -> Result<Workload, String> {
    let g = &s.graph;
    if s.name.trim().is_empty() {
        return Err("name: must not be empty".into());
    }
    if g.nodes < 1 {
        return Err(format!("graph.nodes: must be at least 1 (got {})", g.nodes));
    }
    if g.nodes > u32::MAX as i64 {
        return Err(format!(
            "graph.nodes: {} is above the limit of {}",
            g.nodes,
            u32::MAX
        ));
    }
    let nodes = g.nodes as usize;
    let only = |key: &str, v: bool, generator: &str| -> Result<(), String> {
        if v {
            Err(format!(
                "graph.{key}: does not apply to generator '{generator}'"
            ))
        } else {
            Ok(())
        }
    };
    let generator = g.generator.as_str();
    let topology = match generator {
        "barabasi-albert" => {
            only("k", g.k.is_some(), generator)?;
            only("p", g.p.is_some(), generator)?;
            only("mean_degree", g.mean_degree.is_some(), generator)?;
            let m = g.m.ok_or("graph.m: required for barabasi-albert")?;
            if m < 1 || m as usize >= nodes.max(2) {
                return Err(format!("graph.m: must be in 1..nodes (got {m})"));
            }
            Topology::BarabasiAlbert { m: m as usize }
        }
        "watts-strogatz" => {
            only("m", g.m.is_some(), generator)?;
            only("mean_degree", g.mean_degree.is_some(), generator)?;
            let k = g.k.ok_or("graph.k: required for watts-strogatz")?;
            if k < 2 || k % 2 != 0 || k as usize >= nodes {
                return Err(format!("graph.k: must be an even number in 2..nodes (got {k})"));
            }
            let p = g.p.ok_or("graph.p: required for watts-strogatz")?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("graph.p: must be in [0, 1] (got {p})"));
            }
            Topology::WattsStrogatz { k: k as usize, p }
        }
        "erdos-renyi" => {
            only("m", g.m.is_some(), generator)?;
            only("k", g.k.is_some(), generator)?;
            only("p", g.p.is_some(), generator)?;
            let d = g.mean_degree.ok_or("graph.mean_degree: required for erdos-renyi")?;
            if !(d.is_finite() && d > 0.0 && d <= (nodes as f64 - 1.0).max(0.0)) {
                return Err(format!("graph.mean_degree: must be in (0, nodes - 1] (got {d})"));
            }
            Topology::ErdosRenyi { mean_degree: d }
        }
        "chain" | "fan" => {
            only("m", g.m.is_some(), generator)?;
            only("k", g.k.is_some(), generator)?;
            only("p", g.p.is_some(), generator)?;
            only("mean_degree", g.mean_degree.is_some(), generator)?;
            if generator == "chain" {
                Topology::Chain
            } else {
                Topology::Fan
            }
        }
        other => {
            return Err(format!(
                "graph.generator: '{other}' is not one of barabasi-albert, watts-strogatz, erdos-renyi, chain, fan"
            ))
        }
    };
    let (wmin, wmax) = (g.weight_min, g.weight_max);
    if !(wmin > 0.0 && wmin <= 1.0) {
        return Err(format!("graph.weight_min: must be in (0, 1] (got {wmin})"));
    }
    if !(wmax > 0.0 && wmax <= 1.0) {
        return Err(format!("graph.weight_max: must be in (0, 1] (got {wmax})"));
    }
    if wmin > wmax {
        return Err(format!(
            "graph.weight_min: {wmin} is above graph.weight_max {wmax}"
        ));
    }
    for (key, v) in [
        ("inhibitory_share", g.inhibitory_share),
        ("modulatory_share", g.modulatory_share),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("graph.{key}: must be in [0, 1] (got {v})"));
        }
    }
    if g.inhibitory_share + g.modulatory_share > 1.0 + 1e-9 {
        return Err("graph.inhibitory_share + graph.modulatory_share: must not exceed 1".into());
    }

    let sh = &s.tiers.shares;
    let shares = [sh.hot, sh.warm, sh.cold];
    for (t, v) in Tier::ALL.iter().zip(shares) {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("tiers.shares.{t}: must be in [0, 1] (got {v})"));
        }
    }
    let total: f64 = shares.iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        return Err(format!(
            "tiers.shares: hot + warm + cold must sum to 1 (got {total})"
        ));
    }
    let tier_policy = match s.tiers.policy.as_str() {
        "storage" => TierPolicy::Storage,
        "hop-depth" => TierPolicy::HopDepth,
        other => {
            return Err(format!(
                "tiers.policy: '{other}' is not one of storage, hop-depth"
            ))
        }
    };
    let mut tiers = Tier::ALL.map(TierParams::default_for);
    for (t, o) in [
        (Tier::Hot, &s.tiers.hot),
        (Tier::Warm, &s.tiers.warm),
        (Tier::Cold, &s.tiers.cold),
    ] {
        let Some(o) = o else { continue };
        let p = &mut tiers[t as usize];
        if let Some(v) = o.threshold {
            p.threshold = v;
        }
        if let Some(v) = o.confidence {
            p.confidence = v;
        }
        if let Some(v) = o.latency_budget_us {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "tiers.{t}.latency_budget_us: must be > 0 (got {v})"
                ));
            }
            p.latency_budget_ns = (v * 1000.0).round() as u64;
        }
        if let Some(v) = o.visit_budget {
            if !(0..=u16::MAX as i64).contains(&v) {
                return Err(format!(
                    "tiers.{t}.visit_budget: must be in 0..=65535 (got {v})"
                ));
            }
            p.visit_budget = v as u32;
        }
    }

    let sp = &s.spread;
    // Checked here, on the value as written: a cast first would report a huge depth as the
    // clamped one.
    if !(1..=i64::from(MAX_DEPTH)).contains(&sp.max_depth) {
        return Err(format!(
            "spread.max_depth: must be in 1..={MAX_DEPTH} (got {})",
            sp.max_depth
        ));
    }
    let d = &sp.decay;
    let param = |key: &str, v: Option<f64>, kind: &str| -> Result<f64, String> {
        let v = v.ok_or_else(|| format!("spread.decay.{key}: required for decay kind '{kind}'"))?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!(
                "spread.decay.{key}: must be a finite number >= 0 (got {v})"
            ));
        }
        Ok(v)
    };
    let decay = match d.kind.as_str() {
        "exponential" => {
            only_decay(d, "rate")?;
            Decay::Exponential {
                rate: param("rate", d.rate, &d.kind)?,
            }
        }
        "power-law" => {
            only_decay(d, "exponent")?;
            Decay::PowerLaw {
                exponent: param("exponent", d.exponent, &d.kind)?,
            }
        }
        "linear" => {
            only_decay(d, "slope")?;
            Decay::Linear {
                slope: param("slope", d.slope, &d.kind)?,
            }
        }
        other => {
            return Err(format!(
                "spread.decay.kind: '{other}' is not one of exponential, power-law, linear"
            ))
        }
    };
    let fan_effect = match sp.fan_effect.as_str() {
        "none" => FanEffect::None,
        "out-degree" => FanEffect::OutDegree,
        "sqrt-out-degree" => FanEffect::SqrtOutDegree,
        other => {
            return Err(format!(
                "spread.fan_effect: '{other}' is not one of none, out-degree, sqrt-out-degree"
            ))
        }
    };
    let top_k = match sp.top_k {
        None => None,
        Some(k) if k >= 1 => Some(k as usize),
        Some(k) => return Err(format!("spread.top_k: must be at least 1 (got {k})")),
    };
    let spread = SpreadConfig {
        max_depth: sp.max_depth as u32,
        decay,
        fan_effect,
        cycle_penalty: sp.cycle_penalty,
        tier_policy,
        tiers,
        top_k,
    };
    spread.validate().map_err(|e| {
        if e.starts_with("tiers.") {
            e
        } else {
            format!("spread.{e}")
        }
    })?;

    let rq = &s.requests;
    if rq.seeds_per_request < 1 || rq.seeds_per_request > 1_000_000 {
        return Err(format!(
            "requests.seeds_per_request: must be in 1..=1000000 (got {})",
            rq.seeds_per_request
        ));
    }
    if !crate::engine::Seed::valid_activation(rq.seed_activation) {
        return Err(format!(
            "requests.seed_activation: must be in (0, 1] and at least 2^-32 (got {})",
            rq.seed_activation
        ));
    }
    if s.run.spreads < 1 {
        return Err(format!(
            "run.spreads: must be at least 1 (got {})",
            s.run.spreads
        ));
    }
    if s.run.warmup < 0 {
        return Err(format!("run.warmup: must be >= 0 (got {})", s.run.warmup));
    }

    Ok(Workload {
        name: s.name,
        description: s.description,
        source: String::new(),
        seed: s.seed,
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
        spread,
        requests: RequestSpec {
            seeds_per_request: rq.seeds_per_request as usize,
            seed_activation: rq.seed_activation,
        },
        run: RunSpec {
            spreads: s.run.spreads as u64,
            warmup: s.run.warmup as u64,
        },
    })
}

fn only_decay(d: &DecaySection, wanted: &str) -> Result<(), String> {
    for (key, v) in [
        ("rate", d.rate),
        ("exponent", d.exponent),
        ("slope", d.slope),
    ] {
        if key != wanted && v.is_some() {
            return Err(format!(
                "spread.decay.{key}: does not apply to decay kind '{}'",
                d.kind
            ));
        }
    }
    Ok(())
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
