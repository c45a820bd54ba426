//! The snapshot's `batcher{…}` (issue 11): what the adaptive batcher chose for a setting whose
//! batch size was `auto`, how it got there and where it remembers it. Present at the top level
//! for the first setting and in each `settings[]` entry that ran the batcher; absent for a fixed
//! batch size (then `config.batch_size` and `config.parallel_min_edges` say what ran).

use crate::engine::batcher::BatcherStats;
use serde::{Deserialize, Serialize};

/// `batcher{fingerprint, batch_size, parallel_min_edges, converged, updates_to_converge,
/// from_memory, history[{spread, batch_size, parallel_min_edges, edges_per_us}],
/// memory_file}`. The engine's [`BatcherStats`] is the shape; the report adds the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatcherSection {
    #[serde(flatten)]
    pub stats: BatcherStats,
    /// The memory file it resumed from or saves to (`<out>/batcher-<fingerprint>.json`).
    pub memory_file: String,
}
