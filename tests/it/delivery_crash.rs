//! Crash harness for upstream delivery: 200 documents to a slow upstream, the daemon SIGKILLed
//! at 30 random moments while they flow.
//!
//! A kill can land anywhere: while a document is on the wire, after the upstream answered but
//! before the outcome was committed, while outcomes wait for their group commit, while a
//! per-event document is being assembled. The oracle is the upstream's own record of what it
//! received, checked against the store at the end: every document was received at least once,
//! every copy of a document carries the same `Idempotency-Key` and the same bytes, the upstream
//! never saw a key the store does not know, and within the per-event stream documents first
//! arrived in the order the line sent their messages (causal order survives the kills).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::support::ledger::LineSession;
use crate::support::{Gateway, Recorded, batch_close, batch_open, code, commission, run_tag};

/// Per-event commission documents (one per line message); with the End of Batch, 200.
const COMMISSIONS: usize = 199;
const KILLS: usize = 30;
/// How long the upstream takes to answer each request.
const SLOW: Duration = Duration::from_millis(15);
const DRAIN: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_documents_survive_thirty_sigkills() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    gw.upstream().set_delay(SLOW);
    let config = std::fs::read_to_string(&gw.config)?.replacen(
        "retry_max_ms = 500\n",
        "retry_max_ms = 500\nmessages = [\"end_of_batch\", \"commission\"]\nmax_in_flight = 4\n",
        1,
    );
    std::fs::write(&gw.config, config)?;
    let mut daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "crash-line").await?;
    let tag = run_tag();
    let batch = format!("K{tag}");
    line.send(batch_open("open", &batch)).await?;
    // Per-event reporting starts at the end of the log: let it see the open first.
    line.sync().await?;
    let serials: Vec<String> = (0..COMMISSIONS).map(|n| format!("S{tag}{n:05}")).collect();
    for (n, s) in serials.iter().enumerate() {
        line.send(commission(&format!("c-{n}"), &batch, &[code(s)]))
            .await?;
    }
    line.send(batch_close("close", &batch)).await?;
    line.sync().await?;

    // Kill after a random number (1–4) of requests reached the upstream, plus a random few
    // milliseconds, so kills land before, during and after answers and commits.
    let upstream = gw.upstream();
    for k in 0..KILLS {
        let wait_for = fastrand::usize(1..=4);
        for _ in 0..wait_for {
            upstream
                .next_request(Duration::from_secs(60))
                .await
                .with_context(|| format!("documents stopped flowing before kill #{}", k + 1))?;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(
            0..=SLOW.as_millis() as u64,
        )))
        .await;
        daemon.kill9().await?;
        daemon = gw.daemon().await?;
    }

    let rows = wait_all_delivered(&gw, 1 + COMMISSIONS).await?;
    let received = upstream.requests();
    let report = check(&rows, &received, &tag)?;
    eprintln!(
        "delivery_crash: {} documents, {} requests after {KILLS} SIGKILLs ({} duplicates)",
        rows.len(),
        received.len(),
        report.duplicates
    );
    ensure!(
        daemon.is_running(),
        "the daemon died after the last restart"
    );
    Ok(())
}

/// One delivery row as the store has it.
struct Row {
    document_id: String,
    kind: String,
    state: String,
    file: String,
}

/// Waits (reading the store) until `expect` documents exist and every delivery is delivered.
async fn wait_all_delivered(gw: &Gateway, expect: usize) -> Result<Vec<Row>> {
    let db = gw.dir.path().join("data/linegate.db");
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut tick = crate::support::pace(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let rows = read_rows(&db)?;
        let delivered = rows.iter().filter(|r| r.state == "delivered").count();
        ensure!(
            rows.iter().all(|r| r.state != "rejected"),
            "a document was rejected"
        );
        if rows.len() == expect && delivered == expect {
            return Ok(rows);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "after {DRAIN:?}: {} documents, {delivered} delivered (want {expect})",
            rows.len()
        );
    }
}

fn read_rows(db: &std::path::Path) -> Result<Vec<Row>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut stmt = conn.prepare(
        "SELECT d.document_id, doc.kind, d.state, doc.file FROM deliveries d
         JOIN documents doc ON doc.document_id = d.document_id ORDER BY d.seq",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Row {
                document_id: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                file: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

struct Report {
    duplicates: usize,
}

fn check(rows: &[Row], received: &[Recorded], tag: &str) -> Result<Report> {
    let mut by_key: HashMap<&str, Vec<&Recorded>> = HashMap::new();
    for r in received {
        let key = r
            .header("idempotency-key")
            .context("a request without Idempotency-Key")?;
        by_key.entry(key).or_default().push(r);
    }
    let known: HashMap<&str, &Row> = rows.iter().map(|r| (r.document_id.as_str(), r)).collect();
    for key in by_key.keys() {
        ensure!(
            known.contains_key(key),
            "the upstream got {key}, which the store does not know"
        );
    }
    ensure!(!rows.is_empty(), "no documents");
    let mut duplicates = 0;
    for row in rows {
        let copies = by_key.get(row.document_id.as_str()).with_context(|| {
            format!(
                "{} ({}) never reached the upstream",
                row.document_id, row.kind
            )
        })?;
        duplicates += copies.len() - 1;
        let first = &copies[0].body;
        ensure!(
            copies.iter().all(|c| &c.body == first),
            "{} was sent with different bytes",
            row.document_id
        );
        ensure!(!row.file.is_empty(), "{} has no file", row.document_id);
    }
    // Causal order: the per-event documents first arrived in the order of their messages.
    let mut first_seen: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in received {
        let key = r.header("idempotency-key").unwrap_or_default();
        if !seen.insert(key.to_string()) {
            continue;
        }
        if known.get(key).is_some_and(|row| row.kind == "commission") {
            first_seen.push(
                serial_number(r.body_text()?, tag)
                    .context("a commission document without its serial")?,
            );
        }
    }
    ensure!(
        first_seen.windows(2).all(|w| w[0] < w[1]),
        "per-event documents first arrived out of order: {first_seen:?}"
    );
    Ok(Report { duplicates })
}

/// The `n` of the serial `S{tag}{n:05}` a commission document carries.
fn serial_number(body: &str, tag: &str) -> Option<usize> {
    let needle = format!("S{tag}");
    let at = body.find(&needle)? + needle.len();
    body.get(at..at + 5)?.parse().ok()
}
