//! `linegate export BATCH`: the End of Batch of one batch, written to a file or to standard
//! output, for an operator who must hand a partner the document by other means, check what the
//! gateway sends, or try another format or variant before changing a partner's settings.
//!
//! It builds exactly what the assembler builds for an upstream (the first `[[upstream]]` taking
//! End of Batch, or `--upstream NAME`), from the same read-only snapshot path, with the format
//! and variant overridable on the command line. Nothing is queued for delivery and the store is
//! only read, so it is safe while the daemon runs. Large batches show a progress bar on a
//! terminal. A file is written next to its final name and renamed into place when complete
//! (mode 0600); when the partner's limits split the document, the parts are `FILE`,
//! `FILE.part2`, … and the reconciliation report of the batch goes to `FILE.reconciliation.json`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::assemble::eob::{Context, Place, end_of_batch};
use crate::assemble::partner::{EobVariant, Format, MessageKind, Partner};
use crate::assemble::rows::BatchRows;
use crate::assemble::split::DocumentSink;
use crate::cli::ConfigArg;
use crate::config::{self, Config};
use crate::store::ReadOnlyStore;

pub const EXAMPLES: &str = "Examples:
  linegate export B2026-0042 --format epcis-1.2 --output B2026-0042.xml
  linegate export B2026-0042 --format epcis-2.0-json --variant commission-release > eob.jsonld
  linegate export B2026-0042 --upstream mah --output /tmp/eob.xml --json

Without --format and --variant the document is the one the upstream's settings give.";

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The batch whose End of Batch to write
    pub batch: String,
    /// epcis-1.2 | epcis-2.0-json | epcis-2.0-xml (default: the upstream's format)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// commission-aggregation-release | commission-release | commission-release-rejects |
    /// commission-aggregation-rejects-release (default: the upstream's)
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    /// The [[upstream]] whose settings and GLNs to use (default: the first taking End of Batch)
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// Write here instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the summary as JSON (on standard error when the document goes to standard output)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

fn partner_for(config: &Config, args: &ExportArgs) -> anyhow::Result<Partner> {
    let mut partner = match &args.upstream {
        Some(name) => config
            .upstreams
            .iter()
            .find(|u| &u.name == name)
            .map(|u| u.partner.clone())
            .with_context(|| {
                let names: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
                format!(
                    "no [[upstream]] is named '{name}'; configured: {}",
                    names.join(", ")
                )
            })?,
        None => config
            .upstreams
            .iter()
            .map(|u| &u.partner)
            .find(|p| p.takes(MessageKind::EndOfBatch))
            .or(config.upstreams.first().map(|u| &u.partner))
            .cloned()
            .context("the configuration has no [[upstream]]")?,
    };
    if let Some(f) = &args.format {
        partner.format = Format::parse(f).with_context(|| {
            let all: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            format!("--format {f} is unknown; use one of {}", all.join(", "))
        })?;
        if partner.format != Format::Epcis12 {
            partner.tracelink_extensions = false;
        }
    }
    if let Some(v) = &args.variant {
        partner.eob_variant = EobVariant::parse(v).with_context(|| {
            let all: Vec<&str> = EobVariant::ALL.iter().map(|v| v.as_str()).collect();
            format!("--variant {v} is unknown; use one of {}", all.join(", "))
        })?;
    }
    Ok(partner)
}

/// Where the parts go: standard output (one part only) or `FILE`, `FILE.part2`, …
struct ExportSink {
    output: Option<PathBuf>,
    written: Vec<PathBuf>,
}

impl ExportSink {
    fn path_of(&self, part: usize) -> Option<PathBuf> {
        let base = self.output.as_ref()?;
        Some(if part == 1 {
            base.clone()
        } else {
            let mut name = base.as_os_str().to_owned();
            name.push(format!(".part{part}"));
            PathBuf::from(name)
        })
    }
}

fn tmp_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

enum Out {
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<File>, PathBuf),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Stdout(w) => w.write(buf),
            Out::File(w, _) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stdout(w) => w.flush(),
            Out::File(w, _) => w.flush(),
        }
    }
}

impl DocumentSink for ExportSink {
    type W = Out;

    fn open(&mut self, _document_id: &str) -> std::io::Result<Out> {
        let part = self.written.len() + 1;
        match self.path_of(part) {
            None if part > 1 => Err(std::io::Error::other(
                "the upstream's limits split this batch into several documents; give --output FILE",
            )),
            None => Ok(Out::Stdout(BufWriter::new(std::io::stdout()))),
            Some(path) => {
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(tmp_of(&path))?;
                Ok(Out::File(BufWriter::with_capacity(1 << 20, file), path))
            }
        }
    }

    fn close(&mut self, _document_id: &str, w: Out) -> std::io::Result<()> {
        match w {
            Out::Stdout(mut w) => {
                w.flush()?;
                self.written.push(PathBuf::from("-"));
            }
            Out::File(w, path) => {
                let file = w.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                std::fs::rename(tmp_of(&path), &path)?;
                self.written.push(path);
            }
        }
        Ok(())
    }
}

pub fn command(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.config.config)?;
    let partner = partner_for(&config, &args)?;
    let mut store = ReadOnlyStore::open(&config.gateway.data_dir)?;
    let total = store
        .batch(&args.batch)?
        .map(|d| {
            d.report
                .levels
                .values()
                .map(|c| c.commissioned)
                .sum::<u64>()
        })
        .unwrap_or(0);
    let started = Instant::now();
    let mut rows = store.batch_rows(&args.batch)?.with_context(|| {
        format!(
            "batch {} is unknown here; `linegate batch list` shows the batches",
            args.batch
        )
    })?;
    let line = rows.info().line.clone();
    let read_point = config
        .lines
        .iter()
        .find(|l| l.id == line)
        .map(|l| l.sgln.clone())
        .with_context(|| format!("line {line} of batch {} is not configured", args.batch))?;
    let place = Place {
        read_point,
        biz_location: config.gateway.site_sgln.clone(),
    };
    let bar = progress_bar(total);
    let mut progress = |n: u64| bar.set_position(n);
    let fixed = config.gateway.timezone_offset.clone();
    let tz = move |t: DateTime<Utc>| crate::assemble::offset_text(&fixed, t);
    let mut ctx = Context {
        place: &place,
        partner: &partner,
        created: Utc::now(),
        tz: &tz,
        progress: &mut progress,
    };
    let mut sink = ExportSink {
        output: args.output.clone(),
        written: Vec::new(),
    };
    let mut new_id = || uuid::Uuid::new_v4().to_string();
    let parts = end_of_batch(&mut rows, &mut ctx, &mut sink, &mut new_id);
    bar.finish_and_clear();
    let parts = match parts {
        Ok(p) => p,
        Err(e) => {
            for p in sink.written.iter().chain(args.output.iter()) {
                let _ = std::fs::remove_file(tmp_of(p));
            }
            return Err(e).context(format!("exporting batch {}", args.batch));
        }
    };
    if parts.is_empty() {
        bail!(
            "batch {} commissioned nothing this partner would hear of; no document",
            args.batch
        );
    }
    let report = rows.info().report.clone();
    if let (Some(base), Some(report)) = (&args.output, report) {
        let mut name = base.as_os_str().to_owned();
        name.push(".reconciliation.json");
        std::fs::write(PathBuf::from(name), report).context("writing the reconciliation report")?;
    }
    let events: usize = parts.iter().map(|p| p.events).sum();
    let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
    let summary = serde_json::json!({
        "batch": args.batch,
        "upstream": partner.upstream,
        "format": partner.format.as_str(),
        "variant": partner.eob_variant.as_str(),
        "identifiers": total,
        "documents": sink.written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "events": events,
        "bytes": bytes,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let text = if args.json {
        summary.to_string()
    } else {
        format!(
            "batch {}: {} event(s), {:.1} MB in {} document(s) ({}, {}) in {:.2} s",
            args.batch,
            events,
            bytes as f64 / 1e6,
            parts.len(),
            partner.format.as_str(),
            partner.eob_variant.as_str(),
            started.elapsed().as_secs_f64()
        )
    };
    // The document may be on standard output: the summary goes to standard error then.
    if args.output.is_some() {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar on standard error (hidden when that is not a terminal, and for small batches).
fn progress_bar(total: u64) -> ProgressBar {
    if total < 100_000 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} identifiers ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}
