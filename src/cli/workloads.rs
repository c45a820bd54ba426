//! `spreadbench workloads`: list the built-in workloads, or print one's TOML.

use super::exit::Outcome;
use super::WorkloadsArgs;
use crate::workload::{Workload, BUILTINS};
use crate::InputError;
use anyhow::Result;
use std::io::Write;

pub fn execute(args: &WorkloadsArgs) -> Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if let Some(name) = &args.show {
        let (_, text) = BUILTINS.iter().find(|(n, _)| n == name).ok_or_else(|| {
            let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
            InputError::new(format!(
                "--show: no built-in workload '{name}' (built-ins: {})",
                names.join(", ")
            ))
        })?;
        out.write_all(text.as_bytes())?;
        return Ok(Outcome::success());
    }
    for (name, _) in BUILTINS {
        let w = Workload::load(name)?;
        writeln!(out, "{name:<14} {}", w.description)?;
    }
    Ok(Outcome::success())
}
