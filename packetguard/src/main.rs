//! The `packetguard` binary: parses the command line and dispatches to
//! [`packetguard::commands`]. Errors print as one line and exit non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use packetguard::commands;

#[derive(Parser)]
#[command(
    name = "packetguard",
    version,
    about = "eBPF (XDP and TC) network anomaly detector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect: attach, score flows and host windows, serve metrics, write events.
    Run(commands::run::RunArgs),
    /// Attach to interfaces and write one CSV row per flow (the collection mode).
    Collect(commands::collect::CollectArgs),
    /// Show which BPF programs are attached to an interface (XDP, TCX, tc filters).
    Status(commands::status::StatusArgs),
    /// Print data path benchmark figures (XDP cost per packet, ring buffer drain rate).
    Bench(commands::bench::BenchArgs),
    /// Train an Isolation Forest model from a flow (or host) CSV.
    Train(packetguard_forest::cli::TrainArgs),
    /// Append `score` and `verdict` columns to every row of a CSV (offline detection).
    Score(packetguard_forest::cli::ScoreArgs),
    /// Work with model files.
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Print a model's metadata, feature schema and size.
    Inspect(packetguard_forest::cli::InspectArgs),
    /// Write generated normal traffic features (the default models' training data).
    Generate(packetguard::baseline::GenerateArgs),
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
        Command::Run(args) => commands::run::run(args),
        Command::Collect(args) => commands::collect::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Train(args) => packetguard_forest::cli::run_train(&args),
        Command::Score(args) => packetguard_forest::cli::run_score(&args),
        Command::Model(ModelCommand::Inspect(args)) => packetguard_forest::cli::run_inspect(&args),
        Command::Model(ModelCommand::Generate(args)) => packetguard::baseline::run_generate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
