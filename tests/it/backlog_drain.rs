//! The 24-hour outage: a day of a line's reads piles up while the partner is unreachable, then
//! drains when it comes back — nothing lost, nothing out of order, nothing changed.
//!
//! The daemon runs with its upstream down (nothing listens on the configured port) while
//! `linegate bench backlog` fills its outbox with 500,000 units' commission events — real
//! EPCIS 2.0 JSON-LD documents from our own builders and `OutboxFiles`, 1,000 events each,
//! spread over the last 24 hours and four batches (ordering groups), recorded through the
//! store's writer beside the running daemon. The daemon keeps trying (attempts counted, every
//! row still pending, none rejected). Then a real HTTPS receiver starts on that port
//! (certificates made now; the daemon verifies them through `ca_file`) and the backlog drains:
//! every document arrives at least once with its Idempotency-Key and exactly its file's bytes,
//! each batch's documents arrive in order, and every row ends `delivered`. The receiver keeps no
//! bodies (it compares each to its file on arrival), so the 260 MB pass in flat memory. The test
//! reads the outbox tables read-only (they are what "at least once" is about).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use linegate::assemble::partner::Format;
use rusqlite::{Connection, OpenFlags};
use tokio::process::Command;

use crate::support::daemon::BIN;
use crate::support::{Gateway, config_toml, poll_until};

#[path = "../../benches/common/https_receiver.rs"]
mod https_receiver;
use https_receiver::{FileCheck, Pki, Receiver};

const EVENTS: usize = 500_000;
const EVENTS_PER_DOCUMENT: usize = 1_000;
const GROUPS: usize = 4;
const DOCUMENTS: usize = EVENTS / EVENTS_PER_DOCUMENT;
const FORMAT: Format = Format::Epcis20Json;

/// One delivery as the outbox tables hold it.
#[derive(Debug)]
struct Row {
    document_id: String,
    order_key: String,
    seq: i64,
    state: String,
    attempts: i64,
    bytes: i64,
}

fn rows(data_dir: &Path) -> Result<Vec<Row>> {
    let conn = Connection::open_with_flags(
        data_dir.join("linegate.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut stmt = conn.prepare(
        "SELECT d.document_id, d.order_key, d.seq, d.state, d.attempts, doc.bytes
         FROM deliveries d JOIN documents doc ON doc.document_id = d.document_id
         ORDER BY d.seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Row {
            document_id: r.get(0)?,
            order_key: r.get(1)?,
            seq: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            bytes: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn states(rows: &[Row]) -> HashMap<&str, usize> {
    let mut n = HashMap::new();
    for r in rows {
        *n.entry(r.state.as_str()).or_default() += 1;
    }
    n
}

/// `linegate bench backlog` into the daemon's outbox; its JSON summary.
async fn fill(config: &Path) -> Result<serde_json::Value> {
    let (events, per_doc, groups) = (
        EVENTS.to_string(),
        EVENTS_PER_DOCUMENT.to_string(),
        GROUPS.to_string(),
    );
    let run = Command::new(BIN)
        .args(["bench", "backlog", "--events", &events])
        .args(["--events-per-document", &per_doc, "--groups", &groups])
        .arg("--json")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A debug build on a loaded 2-core machine: generous.
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .context("linegate bench backlog did not finish within 600 s")??;
    if !out.status.success() {
        bail!(
            "linegate bench backlog failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_backlog_piles_up_while_the_upstream_is_down_then_drains_in_order() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let data_dir = gw.dir.path().join("data");
    let pki = Pki::generate(gw.dir.path())?;
    let url = format!("https://127.0.0.1:{}/epcis", gw.upstream_port);
    let config = config_toml(&data_dir, &gw.broker.url(), &url);
    std::fs::write(
        &gw.config,
        format!(
            "{config}format = \"{}\"\nca_file = \"{}\"\n",
            FORMAT.as_str(),
            pki.ca_file.display()
        ),
    )?;
    let _daemon = gw.daemon().await?;

    // The outage: the day's documents pile up while every attempt fails.
    let started = Instant::now();
    let summary = fill(&gw.config).await?;
    let filled = started.elapsed();
    ensure!(summary["events"] == EVENTS, "{summary}");
    ensure!(summary["documents"] == DOCUMENTS, "{summary}");
    let heads: HashSet<String> = {
        let rows = rows(&data_dir)?;
        let mut first = HashMap::new();
        for r in &rows {
            first
                .entry(r.order_key.clone())
                .or_insert(r.document_id.clone());
        }
        first.into_values().collect()
    };
    ensure!(heads.len() == GROUPS, "{} ordering groups", heads.len());
    let during = poll_until(
        "every batch's first document to fail twice",
        Duration::from_secs(120),
        async || {
            let rows = rows(&data_dir)?;
            let tried = rows
                .iter()
                .filter(|r| heads.contains(&r.document_id) && r.attempts >= 2)
                .count();
            Ok((tried == GROUPS).then_some(rows))
        },
    )
    .await?;
    let n = states(&during);
    ensure!(during.len() == DOCUMENTS, "{} rows", during.len());
    ensure!(
        !n.contains_key("delivered") && !n.contains_key("rejected"),
        "nothing may be delivered or given up while the upstream is down: {n:?}"
    );
    let failed: i64 = during.iter().map(|r| r.attempts).sum();
    let backlog_bytes: i64 = during.iter().map(|r| r.bytes).sum();

    // The upstream comes back.
    let check = FileCheck {
        outbox: data_dir.join("outbox"),
        extension: FORMAT.extension().into(),
    };
    let receiver = Receiver::start(&pki, gw.upstream_port, Some(check)).await?;
    let back = Instant::now();
    let done = poll_until(
        "every document delivered",
        Duration::from_secs(300),
        async || {
            let rows = rows(&data_dir)?;
            Ok(rows.iter().all(|r| r.state == "delivered").then_some(rows))
        },
    )
    .await?;
    let drained = back.elapsed();

    let arrivals = receiver.arrivals();
    let wrong: Vec<_> = arrivals
        .iter()
        .filter(|a| a.same_as_file != Some(true))
        .collect();
    ensure!(
        wrong.is_empty(),
        "{} arrival(s) differ from their outbox file (or carry no/an unknown Idempotency-Key): {:?}",
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
    let keys: HashSet<&str> = arrivals.iter().map(|a| a.key.as_str()).collect();
    let ids: HashSet<&str> = done.iter().map(|r| r.document_id.as_str()).collect();
    ensure!(
        keys == ids,
        "{} document(s) never arrived, {} unknown key(s)",
        ids.difference(&keys).count(),
        keys.difference(&ids).count()
    );
    // Each batch's documents, by first arrival, in the order they were recorded.
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for (i, a) in arrivals.iter().enumerate() {
        first_seen.entry(a.key.as_str()).or_insert(i);
    }
    let mut groups: HashMap<&str, Vec<(i64, usize)>> = HashMap::new();
    for r in &done {
        groups
            .entry(r.order_key.as_str())
            .or_default()
            .push((r.seq, first_seen[r.document_id.as_str()]));
    }
    for (group, mut docs) in groups {
        docs.sort();
        ensure!(
            docs.windows(2).all(|w| w[0].1 < w[1].1),
            "documents of {group} arrived out of order"
        );
    }
    let received: u64 = arrivals.iter().map(|a| a.bytes).sum();
    eprintln!(
        "backlog_drain: {EVENTS} events in {DOCUMENTS} documents ({:.1} MB, {} events/document, {GROUPS} groups, {}) filled in {:.1} s while down ({failed} failed attempts); drained in {:.1} s after the upstream came back ({} arrivals, {:.1} MB received)",
        backlog_bytes as f64 / 1e6,
        EVENTS_PER_DOCUMENT,
        FORMAT.as_str(),
        filled.as_secs_f64(),
        drained.as_secs_f64(),
        arrivals.len(),
        received as f64 / 1e6,
    );
    Ok(())
}
