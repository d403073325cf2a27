//! The binary's one error: what went wrong, in words, and the exit code it
//! means. Every command returns `Result<ExitCode, CliError>`; `main` prints
//! each problem as `error: …` and exits with the code.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug)]
pub enum CliError {
    /// A bad invocation, pack, file or target (exit 2); one or more problems.
    Usage(Vec<String>),
    /// The machine could not do it: no runtime, a server that failed (exit 1).
    Failed(String),
}

impl CliError {
    pub fn usage(msg: impl fmt::Display) -> CliError {
        CliError::Usage(vec![msg.to_string()])
    }

    /// Several problems found at once (every pack refused, every broken file).
    pub fn usages<T: fmt::Display>(msgs: impl IntoIterator<Item = T>) -> CliError {
        CliError::Usage(msgs.into_iter().map(|m| m.to_string()).collect())
    }

    pub fn failed(msg: impl fmt::Display) -> CliError {
        CliError::Failed(msg.to_string())
    }

    /// Each problem, for one `error: …` line apiece.
    pub fn problems(&self) -> &[String] {
        match self {
            CliError::Usage(v) => v,
            CliError::Failed(m) => std::slice::from_ref(m),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::FAILURE,
        }
    }
}
