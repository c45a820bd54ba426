//! stub
use super::exit::Outcome;
use super::ReportArgs;
pub fn execute(_a: &ReportArgs) -> anyhow::Result<Outcome> { Ok(Outcome::success()) }
