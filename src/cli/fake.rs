//! `golive fake`: the built-in fake on its own, over hyper, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use golive::fake::{FakeConfig, FakeOptions, Fault};

use super::{CliError, load_fake_config, runtime};

#[derive(Args)]
#[command(after_help = Fault::catalogue())]
pub struct FakeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A YAML or JSON config (keys, credits, rate limit, processing time…).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Break one promise on purpose (repeatable); see the list below.
    #[arg(long = "fault", value_name = "NAME")]
    faults: Vec<Fault>,
}

pub fn run(args: FakeArgs) -> Result<ExitCode, CliError> {
    let config = load_fake_config(args.config.as_deref(), FakeConfig::default())?;
    let keys: Vec<(String, String)> = ["valid", "other", "empty", "disabled"]
        .iter()
        .filter_map(|role| config.key(role).map(|k| (role.to_string(), k.to_string())))
        .collect();
    let options = FakeOptions {
        config,
        faults: args.faults.clone(),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let faults = args.faults;
    runtime()?
        .block_on(async move {
            let ready = move |bound: SocketAddr| {
                println!("golive fake listening on http://{bound}");
                for (role, key) in &keys {
                    println!("  key {role:<8} {key}");
                }
                for fault in &faults {
                    println!("  fault {fault}: {}", fault.describe());
                }
                println!("Ctrl-C to stop");
            };
            tokio::select! {
                res = golive::fake::server::serve(options, addr, ready) => res,
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        })
        .map_err(CliError::failed)?;
    Ok(ExitCode::SUCCESS)
}
