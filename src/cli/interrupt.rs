//! SIGINT and SIGTERM during a measurement or a long write: the first asks it to stop at
//! the next request boundary (so what was measured can still be written, flagged partial,
//! and the command exits 130) or at the next chunk of a file (`gen`, whose temporary file
//! is then removed); a second one ends the process at once with 130.

use super::exit::Exit;
use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Interrupt {
    stop: Arc<AtomicBool>,
    sigint: Arc<AtomicBool>,
    sigterm: Arc<AtomicBool>,
}

impl Interrupt {
    /// Installs the handlers (for the rest of the process's life).
    pub fn install() -> Result<Interrupt> {
        let i = Interrupt {
            stop: Arc::new(AtomicBool::new(false)),
            sigint: Arc::new(AtomicBool::new(false)),
            sigterm: Arc::new(AtomicBool::new(false)),
        };
        for (sig, which) in [(SIGINT, &i.sigint), (SIGTERM, &i.sigterm)] {
            // Registered first, so it sees `stop` as it was before this signal: a second
            // signal finds it set and exits at once.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                i32::from(Exit::Interrupted.code()),
                Arc::clone(&i.stop),
            )
            .context("cannot install signal handler")?;
            signal_hook::flag::register(sig, Arc::clone(which))
                .context("cannot install signal handler")?;
            signal_hook::flag::register(sig, Arc::clone(&i.stop))
                .context("cannot install signal handler")?;
        }
        Ok(i)
    }

    /// Set once a signal arrived; measurements poll it between requests.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// The signal that stopped the run, if any.
    pub fn reason(&self) -> Option<&'static str> {
        if self.sigint.load(Ordering::Relaxed) {
            Some("SIGINT")
        } else if self.sigterm.load(Ordering::Relaxed) {
            Some("SIGTERM")
        } else if self.stop.load(Ordering::Relaxed) {
            Some("a signal")
        } else {
            None
        }
    }
}
