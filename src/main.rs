//! golive's binary: parse the command line, run the command, exit with its
//! code. Everything else is in `cli/` (flags, commands, signals, progress)
//! and the library.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            for problem in e.problems() {
                eprintln!("error: {problem}");
            }
            e.exit_code()
        }
    }
}
