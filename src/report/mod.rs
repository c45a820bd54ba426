//! Reports: the snapshot schema, the results directory with its files, and the run history
//! in `results/runs.csv`. Knows the shape of outputs, not how they were measured.

pub mod diff;
pub mod html;
pub mod openmetrics;
pub mod plot;
pub mod results;
pub mod snapshot;
pub mod stats;
pub mod time;
pub mod verdict;

pub use results::ResultsWriter;
pub use snapshot::{Snapshot, SCHEMA_VERSION};
