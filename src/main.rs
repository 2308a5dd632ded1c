//! The `linegate` binary: parse the command line, set up logging, dispatch.
//!
//! Everything of substance lives in the library (`app::run` for the daemon); this file only
//! turns results into exit codes and messages an operator can act on.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use linegate::cli::{
    self, BatchArg, BatchCommand, Cli, Command, QuarantineCommand, SerialCommand, ViewArgs,
};
use linegate::config::{self, ConfigError};
use linegate::store::{IngestOutcome, ReadOnlyStore};
use linegate::supervise::{self, Decision};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo tells its own story on stdout; the gateway's info logs would drown it.
    let default_filter = match cli.command {
        Command::Demo(_) => "error,rumqttd=off",
        _ => "info",
    };
    // Under systemd, stderr goes to the journal (JOURNAL_STREAM is set): the journal stamps
    // each line itself and shows no colours, so the lines are plain sentences with fields.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = !journald && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if journald {
        logs.without_time().with_target(false).init();
    } else {
        logs.init();
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            let config = config::load(&args.config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(linegate::app::run(config, linegate::shutdown::signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(args) => match config::load(&args.config) {
            Ok(c) => {
                println!(
                    "{} is valid: {} line(s), {} upstream(s), data in {}",
                    args.config.display(),
                    c.lines.len(),
                    c.upstreams.len(),
                    c.gateway.data_dir.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(
                e @ (ConfigError::Invalid { .. }
                | ConfigError::Syntax { .. }
                | ConfigError::Read { .. }),
            ) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Code(args) => {
            let prefixes = match config::load(&args.config.config) {
                Ok(c) => c.prefixes,
                // A bench without a gateway install: GS1's table alone decides prefix lengths.
                Err(ConfigError::Read { path, .. })
                    if path == std::path::Path::new(config::DEFAULT_PATH) =>
                {
                    eprintln!(
                        "note: {} not found; company-prefix lengths come from GS1's table only",
                        path.display()
                    );
                    linegate::gs1::CompanyPrefixes::new(Vec::new(), None)?
                }
                Err(e) => return Err(e.into()),
            };
            let all_ok = linegate::inspect::run(
                &args.codes,
                args.json,
                &prefixes,
                &mut std::io::stdout().lock(),
            )?;
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Outbox(cmd) => Ok(linegate::outbox_cli::command(cmd)?),
        Command::Quarantine(QuarantineCommand::List(v)) => {
            view(v, |s| Ok(s.quarantine()?), cli::quarantine_table)
        }
        Command::Batch(BatchCommand::List(v)) => view(v, |s| Ok(s.batches()?), cli::batch_table),
        Command::Batch(BatchCommand::Show(b)) => {
            let config = config::load(&b.config.config)?;
            let store = ReadOnlyStore::open(&config.gateway.data_dir)?;
            let detail = store.batch(&b.batch)?.with_context(|| {
                format!(
                    "batch {} is unknown here; `linegate batch list` shows the batches",
                    b.batch
                )
            })?;
            print(b.json, &detail, cli::batch_text)
        }
        Command::Batch(BatchCommand::Close(d)) => decide(d.batch, Decision::Close, &d.reason),
        Command::Batch(BatchCommand::Release(d)) => decide(d.batch, Decision::Release, &d.reason),
        Command::Batch(BatchCommand::Cancel(d)) => decide(d.batch, Decision::Cancel, &d.reason),
        Command::Audit(cmd) => Ok(linegate::audit_cli::command(cmd)?),
        Command::Simulate(args) => linegate::simulate::command(args),
        Command::Demo(args) => linegate::demo::command(args),
        Command::Export(args) => linegate::export::command(args),
        Command::Ship(args) => Ok(linegate::ship_cli::command(args)?),
        Command::Bench(cmd) => linegate::bench_cli::command(cmd),
        Command::Serial(SerialCommand::Show(s)) => {
            let config = config::load(&s.config.config)?;
            let today = chrono::Utc::now().date_naive();
            let code = linegate::gs1::parse_code(&s.code, today)
                .with_context(|| format!("'{}' is not a GS1 code naming one unit", s.code))?;
            let key = code.id.key();
            let store = ReadOnlyStore::open(&config.gateway.data_dir)?;
            let detail = store
                .serial(&key)?
                .with_context(|| format!("{key} was never commissioned here"))?;
            print(s.json, &detail, cli::serial_text)
        }
    }
}

fn print<T: serde::Serialize>(
    json: bool,
    value: &T,
    render: impl Fn(&T) -> String,
) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", render(value));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a supervisor decision; a refusal prints the reason and exits 1.
fn decide(b: BatchArg, decision: Decision, reason: &str) -> anyhow::Result<ExitCode> {
    let config = config::load(&b.config.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let verb = match &decision {
        Decision::Close => "closed",
        Decision::Release => "released",
        Decision::Cancel => "cancelled",
    };
    let outcome = runtime.block_on(supervise::decide(&config, &b.batch, decision, reason))?;
    let (ok, text, code) = match &outcome {
        IngestOutcome::Applied => (true, format!("batch {} {verb}", b.batch), None),
        IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => {
            (false, r.reason.clone(), Some(r.code.as_str()))
        }
        IngestOutcome::Duplicate { earlier: None } => {
            (true, format!("batch {} {verb}", b.batch), None)
        }
    };
    if b.json {
        println!(
            "{}",
            serde_json::json!({"batch": b.batch, "ok": ok, "code": code, "message": text})
        );
    } else if ok {
        println!("{text}");
    } else {
        eprintln!("refused ({}): {text}", code.unwrap_or("?"));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn view<T: serde::Serialize>(
    args: ViewArgs,
    rows: impl Fn(&ReadOnlyStore) -> anyhow::Result<Vec<T>>,
    render: impl Fn(&[T]) -> String,
) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.config.config)?;
    let store = ReadOnlyStore::open(&config.gateway.data_dir)?;
    let rows = rows(&store)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", render(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
