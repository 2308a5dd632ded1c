//! `linegate audit verify | export | list`: the audit trail for QA, IT security and inspectors.
//!
//! `verify` recomputes the whole hash chain (docs/audit.md) and either prints the head — the
//! value to record elsewhere, because cutting rows off the newest end leaves a valid shorter
//! chain that only a recorded head exposes — or names the first row that does not check out,
//! what is wrong with it and what to do, and exits 2. `export` writes a time window as CSV or
//! JSON, to standard output or atomically to a file; `list` shows the newest rows as a table.
//! All three read through a read-only connection, so they run beside the daemon.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ConfigArg;
use crate::config::{self, ConfigError};
use crate::store::{AuditQuery, AuditReport, AuditRow, ReadOnlyStore, StoreError};

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
        AuditCommand::Verify(a) => verify(&a),
        AuditCommand::Export(a) => export(&a),
        AuditCommand::List(a) => list(&a),
    }
}

fn open(config: &ConfigArg) -> Result<ReadOnlyStore, AuditCliError> {
    let config = config::load(&config.config)?;
    Ok(ReadOnlyStore::open(&config.gateway.data_dir)?)
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, AuditCliError> {
    let store = open(&args.config)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(store.audit_last_seq()?.max(0) as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = store.audit_verify(&mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    if args.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["intact"] = serde_json::json!(report.broken.is_none());
        if let Some(b) = &report.broken {
            v["broken"]["message"] = serde_json::json!(b.to_string());
        }
        println!("{v}");
    } else {
        print_report(&report);
    }
    Ok(if report.broken.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(r: &AuditReport) {
    if !r.guarded {
        eprintln!(
            "warning: the triggers that keep the audit table append-only have been removed \
             (someone changed the database by hand); report it to QA. The chain below is still \
             checked row by row."
        );
    }
    let Some(b) = &r.broken else {
        match &r.head {
            None => println!("0 rows: the audit trail is empty, nothing to check"),
            Some(h) => {
                println!(
                    "{} rows, chain intact (head {}…)\nhead: row {}, written {}, hash {}\n\
                     Record this head elsewhere (shift log, ticket): rows cut off the newest end \
                     can only be shown against an earlier copy of it.",
                    r.rows,
                    &h.hash[..h.hash.len().min(16)],
                    h.seq,
                    h.at,
                    h.hash
                );
            }
        }
        return;
    };
    eprintln!("audit trail BROKEN: {b}.");
    match &r.head {
        Some(h) => eprintln!(
            "Rows up to {} check out (their head: {}). Rows from {} on cannot be trusted.",
            h.seq, h.hash, b.seq
        ),
        None => eprintln!("No row before it checks out."),
    }
    eprintln!(
        "What to do: stop and keep the evidence — copy linegate.db with its -wal and -shm files \
         from the data directory before anything else writes — then report it to QA / IT \
         security with this output, and compare with the last head recorded elsewhere."
    );
}

/// `--from`/`--to` as the stored text form; a date as `--to` means up to the end of that day.
fn bound(flag: &str, value: &str, end_of_day: bool) -> Result<String, AuditCliError> {
    let at = if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        d.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
    } else if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        Some(t.with_timezone(&Utc))
    } else {
        ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
            .map(|t| t.and_utc())
    };
    at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or_else(|| {
            AuditCliError::Time(format!(
                "{flag} '{value}' is neither a date (2026-03-01) nor a date-time (2026-03-01T14:00:00Z)"
            ))
        })
}

fn export(args: &ExportArgs) -> Result<ExitCode, AuditCliError> {
    let query = AuditQuery {
        from: args
            .from
            .as_deref()
            .map(|v| bound("--from", v, false))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|v| bound("--to", v, true))
            .transpose()?,
        ..AuditQuery::default()
    };
    let store = open(&args.config)?;
    let n = match &args.output {
        Some(path) => write_file(path, |w| write_rows(&store, &query, args.format, w))?,
        None => {
            let mut out = BufWriter::new(std::io::stdout().lock());
            let n = write_rows(&store, &query, args.format, &mut out)
                .and_then(|n| out.flush().map(|()| n).map_err(WriteFail::Io))
                .map_err(|e| write_error(Path::new("standard output"), e))?;
            eprintln!("{n} audit rows exported");
            return Ok(ExitCode::SUCCESS);
        }
    };
    if let Some(path) = &args.output {
        println!("{n} audit rows exported to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Either failure of writing rows out: the store's, or the writer's.
enum WriteFail {
    Store(StoreError),
    Io(std::io::Error),
}

impl From<StoreError> for WriteFail {
    fn from(e: StoreError) -> Self {
        WriteFail::Store(e)
    }
}

fn write_error(path: &Path, e: WriteFail) -> AuditCliError {
    match e {
        WriteFail::Store(e) => AuditCliError::Store(e),
        WriteFail::Io(source) => AuditCliError::Write {
            path: path.to_path_buf(),
            source,
        },
    }
}

const CSV_HEADER: &str =
    "seq,at,actor,action,subject,old_value,new_value,reason,detail,prev_hash,hash\n";

fn write_rows(
    store: &ReadOnlyStore,
    query: &AuditQuery,
    format: Format,
    w: &mut dyn Write,
) -> Result<u64, WriteFail> {
    let io = WriteFail::Io;
    match format {
        Format::Csv => w.write_all(CSV_HEADER.as_bytes()).map_err(io)?,
        Format::Json => w.write_all(b"[").map_err(io)?,
    }
    let mut first = true;
    let n = store.audit_rows(query, |row: AuditRow| -> Result<(), WriteFail> {
        match format {
            Format::Csv => csv_row(w, &row).map_err(WriteFail::Io),
            Format::Json => {
                w.write_all(if first { b"\n" } else { b",\n" })
                    .map_err(WriteFail::Io)?;
                first = false;
                serde_json::to_writer(&mut *w, &row).map_err(|e| WriteFail::Io(e.into()))
            }
        }
    })?;
    if format == Format::Json {
        w.write_all(b"\n]\n").map_err(io)?;
    }
    Ok(n)
}

fn csv_row(w: &mut dyn Write, r: &AuditRow) -> std::io::Result<()> {
    let seq = r.seq.to_string();
    let cells = [
        Some(seq.as_str()),
        Some(r.at.as_str()),
        Some(r.actor.as_str()),
        Some(r.action.as_str()),
        Some(r.subject.as_str()),
        r.old_value.as_deref(),
        r.new_value.as_deref(),
        r.reason.as_deref(),
        r.detail.as_deref(),
        Some(r.prev_hash.as_str()),
        Some(r.hash.as_str()),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        w.write_all(csv_field(cell.unwrap_or("")).as_bytes())?;
    }
    w.write_all(b"\n")
}

/// RFC 4180: quoted when it holds a comma, quote or line break (or spaces at its ends), with
/// quotes doubled.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    let needs = s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Writes `path` atomically: a 0600 temp file beside it, fsynced, renamed, directory fsynced.
fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<u64, WriteFail>,
) -> Result<u64, AuditCliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.unwrap_or_else(|| "audit".into()),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(WriteFail::Io)?;
        let mut w = BufWriter::new(file);
        let n = fill(&mut w)?;
        let file = w.into_inner().map_err(|e| WriteFail::Io(e.into_error()))?;
        file.sync_all().map_err(WriteFail::Io)?;
        std::fs::rename(&temp, path).map_err(WriteFail::Io)?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(WriteFail::Io)?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|e| write_error(path, e))
}

fn list(args: &ListArgs) -> Result<ExitCode, AuditCliError> {
    let store = open(&args.config)?;
    let query = AuditQuery {
        actor: args.actor.clone(),
        limit: Some(args.limit),
        newest_first: true,
        ..AuditQuery::default()
    };
    let mut rows = Vec::new();
    store.audit_rows(&query, |r| -> Result<(), StoreError> {
        rows.push(r);
        Ok(())
    })?;
    // Newest first from the store; shown oldest first, so the table reads like a log.
    rows.reverse();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// The audit rows as a table (values shortened to keep one row per line).
pub fn table(rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "The audit trail has no such rows.".into();
    }
    let short = |s: &str, n: usize| -> String {
        if s.chars().count() > n {
            let mut t: String = s.chars().take(n - 1).collect();
            t.push('…');
            t
        } else {
            s.to_string()
        }
    };
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.at.clone(),
                r.actor.clone(),
                r.action.clone(),
                short(&r.subject, 48),
                format!(
                    "{} → {}",
                    r.old_value.as_deref().unwrap_or("-"),
                    r.new_value.as_deref().unwrap_or("-")
                ),
                short(r.reason.as_deref().unwrap_or("-"), 60),
            ]
        })
        .collect();
    crate::cli::table(
        &[
            "SEQ",
            "AT",
            "ACTOR",
            "ACTION",
            "SUBJECT",
            "OLD → NEW",
            "REASON",
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
    }

    #[test]
    fn dates_and_date_times_become_stored_bounds() {
        assert_eq!(
            bound("--from", "2026-03-01", false).expect("date"),
            "2026-03-01T00:00:00.000Z"
        );
        assert_eq!(
            bound("--to", "2026-03-01", true).expect("date"),
            "2026-03-02T00:00:00.000Z",
            "a date as --to includes that whole day"
        );
        assert_eq!(
            bound("--from", "2026-03-01T14:00:00+02:00", false).expect("rfc 3339"),
            "2026-03-01T12:00:00.000Z"
        );
        let err = bound("--from", "yesterday", false).expect_err("not a date");
        assert!(err.to_string().contains("--from 'yesterday'"), "{err}");
    }
}
