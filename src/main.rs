//! `spreadbench`: parse the command line, run the command, map the outcome to an exit code.
//! The codes and their meanings are in `spreadbench::cli::exit`; this is the one place that
//! turns a command's outcome or error into the process's exit code.

use clap::Parser;
use spreadbench::cli::exit::Exit;
use spreadbench::cli::{dispatch, Cli};
use spreadbench::note;
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
        Ok(outcome) => {
            if let Some(msg) = &outcome.message {
                note!("spreadbench: {}", one_line(msg));
            }
            outcome.exit.into()
        }
        Err(e) => {
            let exit = Exit::for_error(&e);
            // A reader that closed the pipe wants no more output, not even an error line.
            if !spreadbench::cli::exit::is_broken_pipe(&e) {
                note!("spreadbench: error: {}", one_line(&format!("{e:#}")));
            }
            exit.into()
        }
    }
}

/// Messages may quote user input, which may hold line breaks: the last line stays one line.
fn one_line(msg: &str) -> String {
    msg.replace('\r', "\\r").replace('\n', "\\n")
}

/// Help, version and usage errors from clap: printed where clap prints them (help on stdout,
/// errors on stderr). Help that cannot be written is a failure, not a success; a usage error
/// stays 2 even when stderr is gone.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let code = e.exit_code();
    match e.print() {
        Err(_) if code == 0 => Exit::Failure.into(),
        _ => u8::try_from(code).map_or(Exit::BadInput.into(), ExitCode::from),
    }
}
