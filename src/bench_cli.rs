//! `linegate bench backlog`: fills a gateway's outbox with a backlog of real documents, so an
//! integrator can see how a site drains after a long upstream outage (`linegate run` sends
//! them), size `max_in_flight` and disk, and so the drain benchmark and the 24-hour outage test
//! measure the real path rather than a mock of it.
//!
//! The documents are what a per-event partner hears from a serial-scanner line, one unit per
//! read (`assemble::backlog`: commission ObjectEvents through the `Splitter`, with eventIDs, in
//! the upstream's format), `--events-per-document` events each, spread over the last 24 hours
//! and over `--groups` batches, each batch an ordering group. Files are written by
//! `OutboxFiles` (fsynced, renamed) and recorded through the store's writer
//! (`Store::enqueue_documents`), a chunk of documents per transaction, so it may run while the
//! daemon does. The units are synthetic: a partner would take them as real commissions, so the
//! upstream must be on this host unless `--allow-remote-upstream` says otherwise.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::assemble::eob::Place;
use crate::cli::ConfigArg;
use crate::config::upstream_target::Target;
use crate::config::{self, Upstream};
use crate::gs1::parse_code;
use crate::store::Store;

mod fill;
use fill::Fill;

pub const BACKLOG_EXAMPLES: &str = "Examples:
  linegate bench backlog --config ./linegate.toml
  linegate bench backlog --events 500000 --events-per-document 1 --groups 8 --config ./linegate.toml
  linegate bench backlog --events 100000 --upstream mah --json --config ./linegate.toml

Then `linegate run --config ./linegate.toml` drains it; `linegate outbox list` shows it.
The units are synthetic (serials BL<tag>…, lots BACKLOG-<tag>-<n>): the upstream must be on
this host (a local receiver) unless --allow-remote-upstream is given.";

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fill the outbox with a backlog of real documents of synthetic units, for `linegate run` to drain
    #[command(after_help = BACKLOG_EXAMPLES)]
    Backlog(BacklogArgs),
}

#[derive(Debug, Args)]
pub struct BacklogArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Units commissioned, one event each
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub events: usize,
    /// Events per document (1: one document per read, what a per-event partner gets)
    #[arg(long, value_name = "K", default_value_t = 1_000)]
    pub events_per_document: usize,
    /// Batches the units are spread over, each an ordering group of its own
    #[arg(long, value_name = "G", default_value_t = 8)]
    pub groups: usize,
    /// The [[upstream]] the documents are for (default: the first)
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// The [[line]] that read the units (default: the first)
    #[arg(long, value_name = "ID")]
    pub line: Option<String>,
    /// The units' GTIN-14
    #[arg(long, value_name = "GTIN", default_value = "00361414567894")]
    pub gtin: String,
    /// Also fill the outbox of an upstream that is not on this host (a partner would take
    /// these synthetic units as real commissions)
    #[arg(long)]
    pub allow_remote_upstream: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn command(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Backlog(args) => backlog(args),
    }
}

fn backlog(args: BacklogArgs) -> anyhow::Result<ExitCode> {
    if args.events == 0 || args.events_per_document == 0 || args.groups == 0 {
        bail!("--events, --events-per-document and --groups must be at least 1");
    }
    let config = config::load(&args.config.config)?;
    let up = pick(
        &config.upstreams,
        args.upstream.as_deref(),
        |u| &u.name,
        "upstream",
    )?;
    if !args.allow_remote_upstream
        && let Some(remote) = remote(up)
    {
        bail!(
            "upstream {} delivers to {remote}, not to this host: these synthetic units would reach a partner as real commissions. Point it at a local receiver, or give --allow-remote-upstream",
            up.name
        );
    }
    let line = pick(&config.lines, args.line.as_deref(), |l| &l.id, "line")?;
    let place = Place {
        read_point: line.sgln.clone(),
        biz_location: config.gateway.site_sgln.clone(),
    };
    let tag: String = (0..4).map(|_| fastrand::uppercase()).collect();
    // The serials are letters and digits (nothing to escape): the GTIN's URI is worked out
    // once, each unit's is that plus its serial.
    let code = parse_code(&format!("(01){}(21)X", args.gtin), today())
        .with_context(|| format!("--gtin {} is not a valid GTIN-14", args.gtin))?;
    let sample = config.prefixes.epc_uri(&code)?;
    let base = sample
        .as_str()
        .strip_suffix('X')
        .unwrap_or_default()
        .to_string();
    let (store, writer) = Store::open(&config.gateway.data_dir, config.rules_policy())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let groups = args.groups.min(args.events);
    let fill = Fill {
        config: &config,
        up,
        place,
        tag,
        base,
        events: args.events,
        events_per_document: args.events_per_document,
        groups,
        day_start: Utc::now() - chrono::Duration::hours(24),
        bar: progress_bar(args.events as u64),
        store,
        runtime: runtime.handle().clone(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        documents: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
    };
    let started = Instant::now();
    // Batches are independent: one per core at a time (each also hashes on a thread of its
    // own), so building and the files' fsyncs overlap.
    let jobs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(groups);
    let result = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs).map(|_| s.spawn(|| fill.work())).collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a filler thread panicked")))
            })
            .collect::<anyhow::Result<Vec<()>>>()
    });
    let (documents, bytes) = (
        fill.documents.load(Ordering::Relaxed),
        fill.bytes.load(Ordering::Relaxed),
    );
    let Fill { bar, store, .. } = fill;
    bar.finish_and_clear();
    drop(store);
    writer.join();
    result?;
    let secs = started.elapsed().as_secs_f64();
    drop(runtime);
    let summary = serde_json::json!({
        "upstream": up.name,
        "data_dir": config.gateway.data_dir.display().to_string(),
        "format": up.partner.format.as_str(),
        "events": args.events,
        "documents": documents,
        "groups": groups,
        "bytes": bytes,
        "seconds": secs,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "outbox of {} filled for upstream {}: {} event(s) in {documents} document(s) ({}, {:.1} MB) over {groups} batch(es) in {secs:.1} s; `linegate run --config {}` delivers them",
            config.gateway.data_dir.display(),
            up.name,
            args.events,
            up.partner.format.as_str(),
            bytes as f64 / 1e6,
            args.config.config.display(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

/// The named item, or the first; an unknown name lists the configured ones.
fn pick<'a, T>(
    items: &'a [T],
    name: Option<&str>,
    key: impl Fn(&T) -> &String,
    what: &str,
) -> anyhow::Result<&'a T> {
    match name {
        None => items
            .first()
            .with_context(|| format!("the configuration has no [[{what}]]")),
        Some(n) => items.iter().find(|i| key(i) == n).with_context(|| {
            let names: Vec<&str> = items.iter().map(|i| key(i).as_str()).collect();
            format!(
                "no [[{what}]] is named '{n}'; configured: {}",
                names.join(", ")
            )
        }),
    }
}

/// Where `up` delivers when that is not this host; None for a loopback receiver.
fn remote(up: &Upstream) -> Option<String> {
    let host = match &up.target {
        Target::Http(t) => reqwest::Url::parse(&t.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default(),
        Target::Mqtt(t) => t.host.clone(),
        Target::Directory(d) => {
            return Some(format!("the pickup directory {}", d.path.display()));
        }
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!local).then_some(host)
}

/// A bar on standard error (drawn only on a terminal).
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}
