//! `linegate audit export`: the rows of a time window as CSV or JSON, streamed as they are read.
//!
//! The rows are never gathered in memory: each is written as the store hands it over, to
//! standard output or to a file. A file is written beside its final name with mode 0600, fsynced
//! and renamed into place, so an inspector never receives half an export and a failed run leaves
//! nothing behind. `--from`/`--to` accept a UTC day or an RFC 3339 date-time and are turned into
//! the stored text form here, so a mistyped bound is refused with an example before anything
//! is opened.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

use super::{AuditCliError, ExportArgs, Format, open};
use crate::store::{AuditQuery, AuditRow, ReadOnlyStore, StoreError};

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

pub(super) fn run(args: &ExportArgs) -> Result<ExitCode, AuditCliError> {
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
