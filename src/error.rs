//! The one error type that means "the user gave us bad input" (exit code 2).
//!
//! Everything else that can fail is a runtime failure (exit code 1) and travels as a plain
//! `anyhow::Error`. Keeping bad input as its own type lets `main` choose the exit code by
//! looking for it in the error chain, without every layer knowing about exit codes (those
//! are defined once, in `cli::exit`).

use std::fmt;

/// Bad input: a file, field, line or flag value that the user must fix. The message is one
/// line and names what is wrong (file, key or line, and the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl InputError {
    pub fn new(msg: impl Into<String>) -> Self {
        InputError(msg.into())
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for returning an [`InputError`] wrapped in `anyhow`.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        ::anyhow::Error::new($crate::error::InputError(format!($($arg)*)))
    };
}
