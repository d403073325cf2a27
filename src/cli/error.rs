//! The binary's one error: what went wrong, in words, and the exit code it
//! means. Every command returns `Result<ExitCode, CliError>`; `main` prints
//! `error: …` and exits with the code.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug)]
pub enum CliError {
    /// A bad invocation, pack, file or target (exit 2).
    Usage(String),
    /// The machine could not do it: no runtime, a server that failed (exit 1).
    Failed(String),
}

impl CliError {
    pub fn usage(msg: impl fmt::Display) -> CliError {
        CliError::Usage(msg.to_string())
    }

    pub fn failed(msg: impl fmt::Display) -> CliError {
        CliError::Failed(msg.to_string())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}
