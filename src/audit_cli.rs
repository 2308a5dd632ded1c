//! `linegate audit verify | export | list`: the audit trail for QA, IT security and inspectors.
//!
//! `verify` recomputes the whole hash chain (docs/audit.md) and either prints the head — the
//! value to record elsewhere, because cutting rows off the newest end leaves a valid shorter
//! chain that only a recorded head exposes — or names the first row that does not check out,
//! what is wrong with it and what to do, and exits 2. `export` writes a time window as CSV or
//! JSON, to standard output or atomically to a file; `list` shows the newest rows as a table.
//! All three read through a read-only connection, so they run beside the daemon.
//! This file holds the arguments, the error type and the dispatch; each subcommand has its own
//! file under `audit_cli/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::ConfigArg;
use crate::config::{self, ConfigError};
use crate::store::{ReadOnlyStore, StoreError};

mod export;
mod list;
mod verify;

pub use export::csv_field;
pub use list::table;

pub const VERIFY_HELP: &str =
    "Recomputes every row's hash and its link to the row before. Exits 0 when the chain is
intact, 2 when it is not (naming the first row that fails and what to do), 1 on any other error.
Record the head it prints somewhere else (shift log, ticket): rows cut off the newest end leave
a valid, shorter chain, which only a comparison with an earlier head shows.

Examples:
  linegate audit verify --config /etc/linegate/linegate.toml
  linegate audit verify --config /etc/linegate/linegate.toml --json";

pub const EXPORT_HELP: &str = "Dates are UTC days (--to includes the whole day); date-times are RFC 3339. Without
--output the rows go to standard output. A file is written next to its name and renamed into
place when complete (mode 0600). In CSV, an empty field is a missing value.

Examples:
  linegate audit export --from 2026-03-01 --to 2026-03-31 --config /etc/linegate/linegate.toml > march.csv
  linegate audit export --from 2026-03-01T06:00:00Z --to 2026-03-01T14:00:00Z --format json \\
      --output /tmp/shift.json --config /etc/linegate/linegate.toml";

pub const LIST_HELP: &str = "Examples:
  linegate audit list --config /etc/linegate/linegate.toml
  linegate audit list --actor cli-anna --limit 20 --config /etc/linegate/linegate.toml
  linegate audit list --config /etc/linegate/linegate.toml --json";

/// `linegate audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and name the first tampered row, if any
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Write the rows of a time window as CSV or JSON
    #[command(after_help = EXPORT_HELP)]
    Export(ExportArgs),
    /// Show the newest rows (who, what, when, old → new, why)
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// First moment included: a UTC date (2026-03-01) or an RFC 3339 date-time
    #[arg(long, value_name = "DATE|DATETIME")]
    pub from: Option<String>,
    /// Last moment included: a UTC date (the whole day) or an RFC 3339 date-time (excluded)
    #[arg(long, value_name = "DATE|DATETIME")]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// How many of the newest rows
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u64,
    /// Only this actor's rows (cli-<user>, api:<token name>, mqtt:<topic>, scanner:<id>, linegate)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Time(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Runs one `audit` subcommand.
pub fn command(cmd: AuditCommand) -> Result<ExitCode, AuditCliError> {
    match cmd {
        AuditCommand::Verify(a) => verify::run(&a),
        AuditCommand::Export(a) => export::run(&a),
        AuditCommand::List(a) => list::run(&a),
    }
}

fn open(config: &ConfigArg) -> Result<ReadOnlyStore, AuditCliError> {
    let config = config::load(&config.config)?;
    Ok(ReadOnlyStore::open(&config.gateway.data_dir)?)
}
