//! Parameters of the spreading model v1 (DESIGN §2): per-tier thresholds, confidence factors
//! and budgets, decay families, the fan effect, the cycle penalty and the tier policy.
//!
//! [`SpreadConfig`] is the user-facing, serialisable form; the [`Spreader`](super::Spreader)
//! derives its lookup tables (fixed-point thresholds, per-hop decay) from it once.

use crate::graph::Tier;
use serde::{Deserialize, Serialize};

/// Parameters of one storage tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierParams {
    /// First-contact activation threshold θ: a node still at 0 accepts a hop's summed
    /// contribution only if it reaches θ.
    pub threshold: f64,
    /// Confidence factor κ: confidence = activation × κ.
    pub confidence: f64,
    /// Latency budget of a request in this tier, in nanoseconds. Nothing reads it yet: there
    /// is no latency budget manager (DESIGN §3) so far, so a spread never stops early. A
    /// workload may set it (`tiers.<tier>.latency_budget_us`), and snapshots record it with
    /// the rest of the spread configuration.
    pub latency_budget_ns: u64,
    /// How many accepted sums a node may take and still expand; past it the cycle penalty
    /// applies instead.
    pub visit_budget: u32,
}

impl TierParams {
    /// DESIGN §2 defaults.
    pub const fn default_for(tier: Tier) -> TierParams {
        match tier {
            Tier::Hot => TierParams {
                threshold: 0.01,
                confidence: 1.0,
                latency_budget_ns: 100_000,
                visit_budget: 2,
            },
            Tier::Warm => TierParams {
                threshold: 0.05,
                confidence: 0.95,
                latency_budget_ns: 1_000_000,
                visit_budget: 3,
            },
            Tier::Cold => TierParams {
                threshold: 0.10,
                confidence: 0.90,
                latency_budget_ns: 10_000_000,
                visit_budget: 4,
            },
        }
    }
}

/// Decay `D(d)` applied to contributions pushed at hop `d ≥ 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Decay {
    /// `exp(−rate·d)`
    Exponential { rate: f64 },
    /// `(d+1)^(−exponent)`
    PowerLaw { exponent: f64 },
    /// `max(0, 1 − slope·d)`
    Linear { slope: f64 },
}

impl Decay {
    pub fn at(&self, d: u32) -> f64 {
        let d = d as f64;
        match *self {
            Decay::Exponential { rate } => (-rate * d).exp(),
            Decay::PowerLaw { exponent } => (d + 1.0).powf(-exponent),
            Decay::Linear { slope } => (1.0 - slope * d).max(0.0),
        }
    }
}

/// Optional division of a node's push by its out-degree (ACT-R's fan effect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FanEffect {
    None,
    OutDegree,
    SqrtOutDegree,
}

/// Which tier's parameters apply to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierPolicy {
    /// The node's own storage tier (default).
    Storage,
    /// Engram-compatible: by the hop of first activation — 0 hot, 1–2 warm, ≥3 cold.
    HopDepth,
}

/// The deepest spread the model allows (DESIGN §2: `H` is at most 250).
pub const MAX_DEPTH: u32 = 250;

/// Everything that decides the outcome of a spread besides the graph and the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpreadConfig {
    /// Maximum depth H (hops), at least 1.
    pub max_depth: u32,
    pub decay: Decay,
    pub fan_effect: FanEffect,
    /// Factor applied to a node's activation when it exceeds its visit budget.
    pub cycle_penalty: f64,
    pub tier_policy: TierPolicy,
    /// Parameters per tier, indexed by `Tier as usize` (serialised as `{hot, warm, cold}`).
    #[serde(serialize_with = "tiers_by_name")]
    pub tiers: [TierParams; 3],
    /// Keep only the `top_k` highest-ranked nodes; `None` keeps all.
    pub top_k: Option<usize>,
}

fn tiers_by_name<S: serde::Serializer>(tiers: &[TierParams; 3], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(3))?;
    for t in Tier::ALL {
        m.serialize_entry(t.name(), &tiers[t as usize])?;
    }
    m.end()
}

impl Default for SpreadConfig {
    fn default() -> Self {
        SpreadConfig {
            max_depth: 3,
            decay: Decay::Exponential { rate: 0.5 },
            fan_effect: FanEffect::None,
            cycle_penalty: 0.93,
            tier_policy: TierPolicy::Storage,
            tiers: Tier::ALL.map(TierParams::default_for),
            top_k: None,
        }
    }
}

impl SpreadConfig {
    pub fn tier(&self, t: Tier) -> &TierParams {
        &self.tiers[t as usize]
    }

    /// The tier that applies to a node first reached at hop `hop` under the hop-depth policy.
    pub fn hop_depth_tier(hop: u32) -> Tier {
        match hop {
            0 => Tier::Hot,
            1 | 2 => Tier::Warm,
            _ => Tier::Cold,
        }
    }

    /// Checks the values the model needs to be meaningful; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_depth == 0 {
            return Err("max_depth: must be at least 1".into());
        }
        if self.max_depth > MAX_DEPTH {
            return Err(format!(
                "max_depth: {} is above the limit of {MAX_DEPTH}",
                self.max_depth
            ));
        }
        let (name, v) = match self.decay {
            Decay::Exponential { rate } => ("decay.rate", rate),
            Decay::PowerLaw { exponent } => ("decay.exponent", exponent),
            Decay::Linear { slope } => ("decay.slope", slope),
        };
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{name}: must be a finite number >= 0 (got {v})"));
        }
        if !(self.cycle_penalty.is_finite() && (0.0..=1.0).contains(&self.cycle_penalty)) {
            return Err(format!(
                "cycle_penalty: must be in [0, 1] (got {})",
                self.cycle_penalty
            ));
        }
        for t in Tier::ALL {
            let p = self.tier(t);
            if !(p.threshold.is_finite() && p.threshold > 0.0 && p.threshold <= 1.0) {
                return Err(format!(
                    "tiers.{t}.threshold: must be in (0, 1] (got {})",
                    p.threshold
                ));
            }
            if !(p.confidence.is_finite() && (0.0..=1.0).contains(&p.confidence)) {
                return Err(format!(
                    "tiers.{t}.confidence: must be in [0, 1] (got {})",
                    p.confidence
                ));
            }
        }
        if self.top_k == Some(0) {
            return Err("top_k: must be at least 1 (omit it to keep every node)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_families() {
        assert!((Decay::Exponential { rate: 0.5 }.at(2) - (-1.0f64).exp()).abs() < 1e-15);
        assert_eq!(Decay::PowerLaw { exponent: 1.0 }.at(1), 0.5);
        assert_eq!(Decay::Linear { slope: 0.4 }.at(1), 0.6);
        assert_eq!(Decay::Linear { slope: 0.4 }.at(3), 0.0);
    }

    #[test]
    fn validation_names_the_field() {
        let c = SpreadConfig {
            max_depth: 0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("max_depth"));
        let c = SpreadConfig {
            decay: Decay::Exponential { rate: -1.0 },
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("decay.rate"));
        assert!(SpreadConfig::default().validate().is_ok());
    }
}
