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

// Parsed once at start-up; the size of `run`'s settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Detect: attach, score flows and host windows, serve metrics, write events.
    Run(commands::run::RunArgs),
    /// Attach to interfaces and write one CSV row per flow (the collection mode).
    Collect(commands::collect::CollectArgs),
    /// Score files offline with the detectors of `run`: captures, flow CSVs, packet lists.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Show which BPF programs are attached to an interface (XDP, TCX, tc filters).
    Status(commands::status::StatusArgs),
    /// Print data path benchmark figures (XDP cost per packet, ring buffer drain rate).
    Bench(commands::bench::BenchArgs),
    /// Train an Isolation Forest model from a flow (or host) CSV.
    Train(packetguard_forest::cli::TrainArgs),
    /// Append `score` and `verdict` columns to every row of a CSV (offline detection).
    Score(packetguard_forest::cli::ScoreArgs),
    /// Inject synthetic attacks into a capture or flow CSV, and write their labels.
    Simulate(commands::simulate::SimulateArgs),
    /// Analyse a labelled capture and measure detection: precision, recall, F1, ROC AUC,
    /// detection delay per attack, false positives per hour.
    Evaluate(commands::evaluate::EvaluateArgs),
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line_usage_error(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Collect(args) => commands::collect::run(args),
        Command::Analyze(args) => commands::analyze::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Evaluate(args) => commands::evaluate::run(args, commands::analyze::analysis),
        Command::Train(args) => packetguard_forest::cli::run_train(&args),
        Command::Score(args) => packetguard_forest::cli::run_score(&args),
        Command::Model(ModelCommand::Inspect(args)) => packetguard_forest::cli::run_inspect(&args),
        Command::Model(ModelCommand::Generate(args)) => packetguard::baseline::run_generate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// A command-line error on one line: clap's message with its hints (`[possible values:
/// ...]`, a suggested flag) joined by `; `, without the usage block.
fn one_line_usage_error(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    format!("{}; see --help", parts.join("; "))
}

/// The error and its causes on one line, like `{err:#}`, but a cause whose text the line
/// already holds is left out: most errors here quote their source in their own message
/// (`cannot read config file F: {source}`), and printing it again would repeat it.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::{one_line, one_line_usage_error};

    #[test]
    fn usage_errors_fold_into_one_line_with_their_hints() {
        let text = "error: invalid value 'x' for '--direction <DIRECTION>'\n  [possible values: both, ingress, egress]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage_error(text),
            "error: invalid value 'x' for '--direction <DIRECTION>'; [possible values: both, ingress, egress]; see --help"
        );
    }

    #[test]
    fn causes_are_printed_once() {
        // A source quoted by its error's message is not repeated.
        let quoted =
            packetguard::config::load(std::path::Path::new("/nonexistent/pg.toml")).unwrap_err();
        let text = quoted.to_string();
        assert_eq!(one_line(&anyhow::Error::from(quoted)), text);
        // A context that does not quote its cause still shows it.
        let err = anyhow::Error::from(std::io::Error::other("disk full")).context("writing x.csv");
        assert_eq!(one_line(&err), "writing x.csv: disk full");
    }
}
