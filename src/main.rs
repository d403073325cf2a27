//! golive's binary: parse, set up tracing, call the library, map the outcome
//! to an exit code. The only place that prints or exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use golive::fake::{FakeConfig, FakeOptions, Fault};

#[derive(Parser)]
#[command(
    name = "golive",
    version,
    about = "Tells a team whether an API integration is ready to go live"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the built-in fake of both APIs until Ctrl-C.
    Fake(FakeArgs),
}

#[derive(Args)]
#[command(after_help = Fault::catalogue())]
struct FakeArgs {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Fake(args) => run_fake(args),
    }
}

fn run_fake(args: FakeArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => match FakeConfig::from_file(path) {
            Ok(c) => c,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        },
        None => FakeConfig::default(),
    };
    let keys: Vec<(String, String)> = ["valid", "other", "empty", "disabled"]
        .iter()
        .filter_map(|role| config.key(role).map(|k| (role.to_string(), k.to_string())))
        .collect();
    let faults = args.faults.clone();
    let options = FakeOptions { config, faults };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let ready = move |bound: SocketAddr| {
            println!("golive fake listening on http://{bound}");
            for (role, key) in &keys {
                println!("  key {role:<8} {key}");
            }
            for fault in &args.faults {
                println!("  fault {fault}: {}", fault.describe());
            }
            println!("Ctrl-C to stop");
        };
        tokio::select! {
            res = golive::fake::server::serve(options, addr, ready) => res,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
