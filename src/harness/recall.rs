//! What a recall request records besides its total latency: one histogram per phase (seed,
//! spread, rank, timed inside the request) and the quality tallies (seeds and results per
//! request, how many of the top 10 lie in the cue's own cell, how many results similarity alone
//! would not have returned). Tallies are taken after the request's time is, outside it.

use crate::measure::LatencyHistogram;
use crate::recall::{PhaseTimes, RecallScratch, Recaller, SeedIndex};
use std::sync::Arc;

/// Results whose cell is checked against the cue's (DESIGN §7's cluster precision).
pub const PRECISION_AT: usize = 10;

/// How a setting recalls: the recaller (which holds its spreader), the index it seeds from, and
/// the generated cells when the embeddings were generated (imported ones have none).
pub struct RecallSetting {
    pub recaller: Recaller,
    pub index: Arc<SeedIndex>,
    pub cells: Option<Arc<Vec<u32>>>,
}

/// One histogram per phase. `spread` stays empty when no spread ran.
#[derive(Debug, Clone, Default)]
pub struct PhaseHistograms {
    pub seed: LatencyHistogram,
    pub spread: LatencyHistogram,
    pub rank: LatencyHistogram,
}

/// Sums over the recalls of a setting.
#[derive(Debug, Clone, Default)]
pub struct RecallTally {
    pub phases: PhaseHistograms,
    pub requests: u64,
    pub seeds: u64,
    pub results: u64,
    /// Results among the top [`PRECISION_AT`] of each request, and those in the cue's cell.
    pub top_results: u64,
    pub top_in_cell: u64,
    /// Results that were not seeds: what the spread added to similarity alone.
    pub spread_added: u64,
}

impl RecallTally {
    /// Records one recall: its phases and what `out` holds.
    pub fn record(
        &mut self,
        times: PhaseTimes,
        out: &RecallScratch,
        cue_node: u32,
        cells: Option<&[u32]>,
    ) {
        self.phases.seed.record(times.seed);
        if let Some(ns) = times.spread {
            self.phases.spread.record(ns);
        }
        self.phases.rank.record(times.rank);
        self.requests += 1;
        self.seeds += out.seeds.len() as u64;
        self.results += out.results.len() as u64;
        self.spread_added += out
            .results
            .iter()
            .filter(|r| r.similarity.is_none())
            .count() as u64;
        if let Some(cells) = cells {
            let own = cells[cue_node as usize];
            let top = &out.results[..out.results.len().min(PRECISION_AT)];
            self.top_results += top.len() as u64;
            self.top_in_cell += top.iter().filter(|r| cells[r.id as usize] == own).count() as u64;
        }
    }

    pub fn merge(&mut self, o: &RecallTally) {
        self.phases.seed.add(&o.phases.seed);
        self.phases.spread.add(&o.phases.spread);
        self.phases.rank.add(&o.phases.rank);
        self.requests += o.requests;
        self.seeds += o.seeds;
        self.results += o.results;
        self.top_results += o.top_results;
        self.top_in_cell += o.top_in_cell;
        self.spread_added += o.spread_added;
    }

    fn per_request(&self, v: u64) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            v as f64 / self.requests as f64
        }
    }

    pub fn seeds_mean(&self) -> f64 {
        self.per_request(self.seeds)
    }

    pub fn results_mean(&self) -> f64 {
        self.per_request(self.results)
    }

    pub fn spread_added_mean(&self) -> f64 {
        self.per_request(self.spread_added)
    }

    /// Share of top results in the cue's own cell; `None` without cells or results.
    pub fn cluster_precision(&self) -> Option<f64> {
        (self.top_results > 0).then(|| self.top_in_cell as f64 / self.top_results as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Tier;
    use crate::recall::{Recalled, SeedHit};

    fn result(id: u32, seed: bool) -> Recalled {
        Recalled {
            id,
            score: 1.0,
            activation: 1.0,
            confidence: 1.0,
            similarity: seed.then_some(0.5),
            hop: 0,
            tier: Tier::Warm,
        }
    }

    /// Twelve results, the first ten checked: seven of them share the cue's cell (cell 1).
    #[test]
    fn precision_counts_the_top_ten_and_spread_added_the_non_seeds() {
        let mut out = RecallScratch::default();
        out.seeds.push(SeedHit {
            node: 0,
            similarity: 0.5,
            activation: 0.6,
        });
        out.results = (0..12).map(|id| result(id, id < 4)).collect();
        let cells: Vec<u32> = (0..12).map(|id| u32::from(!(3..6).contains(&id))).collect();
        let mut t = RecallTally::default();
        let times = PhaseTimes {
            seed: 10,
            spread: Some(20),
            rank: 5,
        };
        t.record(times, &out, 0, Some(&cells));
        assert_eq!((t.top_results, t.top_in_cell), (10, 7));
        assert_eq!(t.cluster_precision(), Some(0.7));
        assert_eq!(t.spread_added_mean(), 8.0);
        assert_eq!((t.seeds_mean(), t.results_mean()), (1.0, 12.0));
        t.record(
            PhaseTimes {
                spread: None,
                ..times
            },
            &out,
            0,
            None,
        );
        assert_eq!(
            t.phases.spread.len(),
            1,
            "no spread, no spread phase sample"
        );
        assert_eq!(t.cluster_precision(), Some(0.7), "no cells: not counted");
    }
}
