//! Exit codes, defined once. Commands end with an [`Outcome`] (a code and an optional last
//! line for stderr) or an error; `main` turns either into the process's exit code through
//! [`Exit::for_error`] and [`Outcome`], and the help's "Exit codes:" texts are rendered from
//! the same enum, so a code, its meaning and its documentation cannot drift apart.

use crate::InputError;

/// Every exit code spreadbench uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// I/O error, counters required but unavailable, a failed spread, an internal error.
    Failure,
    /// Bad usage or bad input; clap's own usage errors exit 2 as well.
    BadInput,
    /// diff, compare: a regression or a behaviour change.
    Regression,
    /// soak: a verdict failed; predict: below `--require` (results are written).
    VerdictFailed,
    /// compare: the round cap was reached undecided.
    Inconclusive,
    /// A signal cut the command short (what was measured is written, flagged partial).
    Interrupted,
}

impl Exit {
    /// In the order the help lists them.
    pub const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Failure,
        Exit::BadInput,
        Exit::Regression,
        Exit::VerdictFailed,
        Exit::Inconclusive,
        Exit::Interrupted,
    ];

    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::BadInput => 2,
            Exit::Regression => 3,
            Exit::VerdictFailed => 4,
            Exit::Inconclusive => 5,
            Exit::Interrupted => 130,
        }
    }

    /// The meaning in the general help (every command but diff and compare).
    fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => {
                "runtime failure (I/O error, counters required but unavailable, an internal error)"
            }
            Exit::BadInput => {
                "bad usage or bad input (flags, workload file, graph file, seeds, snapshots)"
            }
            Exit::Regression => {
                "diff, compare: a regression or a behaviour change (0 with --advisory)"
            }
            Exit::VerdictFailed => {
                "soak: a verdict (leak, drift, stall) failed; results are written\n\
                 predict: fewer requests within 20% than --require asks; results are written"
            }
            Exit::Inconclusive => "compare: inconclusive at the round cap (0 with --advisory)",
            Exit::Interrupted => {
                "interrupted by SIGINT or SIGTERM; what was measured is written, flagged partial"
            }
        }
    }

    /// The meaning in diff's and compare's help, or `None` for a code they never exit with.
    fn diff_meaning(self) -> Option<&'static str> {
        Some(match self {
            Exit::Success => {
                "no regression (or --advisory). diff also exits 0 when a metric is inconclusive (its\n\
                 interval reaches across the noise band) or has insufficient data; the table says so"
            }
            Exit::Failure => "runtime failure",
            Exit::BadInput => {
                "bad usage, unreadable or self-contradicting snapshot, snapshots not comparable (without\n\
                 --force), --calibrate with a snapshot that has no calibration figure"
            }
            Exit::Regression => "a regression or a behaviour change",
            Exit::Inconclusive => {
                "compare: inconclusive — the round cap was reached before every metric was decided\n\
                 (0 with --advisory)"
            }
            Exit::VerdictFailed | Exit::Interrupted => return None,
        })
    }

    /// The exit code of a command that failed with `e`: bad input 2, a reader that closed
    /// the pipe (`| head`) 0 — output cut short by the reader is not a failure — else 1.
    pub fn for_error(e: &anyhow::Error) -> Exit {
        if is_broken_pipe(e) {
            Exit::Success
        } else if e.chain().any(|c| c.is::<InputError>()) {
            Exit::BadInput
        } else {
            Exit::Failure
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// Whether `e` is, anywhere in its chain, a write to a pipe whose reader has gone.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// How a command that did its work ends: the exit code and, for codes other than success,
/// the last line on stderr (printed as `spreadbench: {message}`), e.g. where the partial
/// results are.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Outcome {
    pub exit: Exit,
    pub message: Option<String>,
}

impl Outcome {
    pub fn success() -> Outcome {
        Outcome {
            exit: Exit::Success,
            message: None,
        }
    }

    /// Ends with `exit` and `message` as the last line.
    pub fn with(exit: Exit, message: impl Into<String>) -> Outcome {
        Outcome {
            exit,
            message: Some(message.into()),
        }
    }
}

/// The "Exit codes:" text of the general help.
pub fn help_text() -> String {
    render(Exit::ALL.iter().map(|&e| (e, Some(e.meaning()))), 3)
}

/// The "Exit codes:" text of diff's and compare's help.
pub fn diff_help_text() -> String {
    render(Exit::ALL.iter().map(|&e| (e, e.diff_meaning())), 1)
}

/// Lines of `  CODE  meaning`; a meaning's own line breaks continue under its first word.
fn render<'a>(rows: impl Iterator<Item = (Exit, Option<&'a str>)>, width: usize) -> String {
    let mut out = String::from("Exit codes:");
    for (e, meaning) in rows {
        let Some(meaning) = meaning else { continue };
        let indent = " ".repeat(width + 4);
        for (i, line) in meaning.lines().enumerate() {
            if i == 0 {
                out.push_str(&format!("\n  {:<width$}  {line}", e.code()));
            } else {
                out.push_str(&format!("\n{indent}{line}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_as_documented() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 130]);
    }

    /// The rendered texts, written out by hand: the general one lists every code, the diff
    /// one only those diff and compare exit with, and long meanings wrap under their start.
    #[test]
    fn help_texts_render_every_code_once() {
        let general = help_text();
        assert!(general.starts_with("Exit codes:\n  0    success\n  1    runtime failure ("));
        assert!(general.contains("\n  130  interrupted by SIGINT or SIGTERM; what was measured is written, flagged partial"));
        assert!(general.contains(
            "\n  4    soak: a verdict (leak, drift, stall) failed; results are written\n"
        ));
        assert!(general.contains(
            "\n       predict: fewer requests within 20% than --require asks; results are written\n"
        ));
        let diff = diff_help_text();
        assert!(diff.starts_with(
            "Exit codes:\n  0  no regression (or --advisory). diff also exits 0 when a metric is inconclusive (its\n     interval"
        ));
        assert!(diff.contains("\n  3  a regression or a behaviour change\n"));
        assert!(!diff.contains("\n  4 ") && !diff.contains("\n  130 "));
        for text in [&general, &diff] {
            assert!(text.lines().all(|l| l.chars().count() <= 95), "{text}");
        }
    }

    #[test]
    fn errors_map_to_codes() {
        assert_eq!(
            Exit::for_error(&anyhow::anyhow!("disk full")),
            Exit::Failure
        );
        let bad = anyhow::Error::new(InputError::new("--seeds: x")).context("spread");
        assert_eq!(Exit::for_error(&bad), Exit::BadInput);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the table");
        assert_eq!(Exit::for_error(&pipe), Exit::Success);
    }
}
