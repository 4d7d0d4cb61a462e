//! The `packetguard` binary: parses the command line and dispatches to
//! [`packetguard::commands`]. Errors print as one line and exit non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use packetguard::commands;

#[derive(Parser)]
#[command(name = "packetguard", version, about = "XDP network anomaly detector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attach to interfaces and write one CSV row per flow (the collection mode).
    Collect(commands::collect::CollectArgs),
    /// Print data path benchmark figures (XDP cost per packet, ring buffer drain rate).
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PACKETGUARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Collect(args) => commands::collect::run(args),
        Command::Bench(args) => commands::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
