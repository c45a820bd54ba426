//! `spreadbench`: parse the command line, run the command, map the outcome to an exit code.
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input (clap's own usage
//! errors exit 2 as well), 4 a soak verdict failed, 130 interrupted by SIGINT or SIGTERM
//! (results written, flagged partial).

use clap::Parser;
use spreadbench::cli::{dispatch, Cli};
use spreadbench::error::ExitWith;
use spreadbench::note;
use spreadbench::InputError;
use std::process::ExitCode;

/// Counts allocations per thread so `run` can report allocations per spread.
#[global_allocator]
static ALLOCATOR: spreadbench::measure::alloc::CountingAllocator =
    spreadbench::measure::alloc::CountingAllocator;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Output cut short by the reader (`| head`) is not a failure.
            if e.chain()
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // One line, always: messages may quote user input, which may hold line breaks.
            let msg = format!("{e:#}").replace('\r', "\\r").replace('\n', "\\n");
            if let Some(exit) = e.downcast_ref::<ExitWith>() {
                note!("spreadbench: {msg}");
                return ExitCode::from(exit.code);
            }
            note!("spreadbench: error: {msg}");
            if e.chain().any(|c| c.is::<InputError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Help, version and usage errors from clap: printed where clap prints them (help on stdout,
/// errors on stderr). Help that cannot be written is a failure (1), not a success; a usage
/// error stays 2 even when stderr is gone.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let code = e.exit_code();
    match e.print() {
        Err(_) if code == 0 => ExitCode::from(1),
        _ => ExitCode::from(u8::try_from(code).unwrap_or(2)),
    }
}
