//! Delivery when the upstream misbehaves: at-least-once, idempotent, bounded.
//!
//! Upstreams go down, answer 503, or refuse a document outright. linegate must
//! keep retrying transient failures with the very same document and
//! `Idempotency-Key` (so the receiver can deduplicate), must park a document
//! the receiver rejects with a 4xx instead of hammering it, and must not let a
//! parked document block the batches that follow.

use anyhow::{Context, Result, ensure};

use crate::support::{DOC_DEADLINE, Gateway, OutboxRow, Recorded, run_tag, serials};

const CODES: usize = 50;

fn key(req: &Recorded) -> Result<&str> {
    req.header("idempotency-key")
        .context("request without Idempotency-Key")
}

fn row<'a>(rows: &'a [OutboxRow], batch: &str) -> Option<&'a OutboxRow> {
    rows.iter().find(|r| r.batch.as_deref() == Some(batch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_5xx_with_same_key_and_body_until_delivered() -> Result<()> {
    let gw = Gateway::start(&[503, 503, 503, 200]).await?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("outage-5xx").await?;
    let tag = run_tag();
    let batch = format!("O{tag}");
    let serials = serials(&tag, CODES);
    gw.publish_batch(&client, &batch, &serials, 10).await?;

    let mut attempts = Vec::new();
    for _ in 0..4 {
        attempts.push(gw.upstream().next_request(DOC_DEADLINE).await?);
    }
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status).collect();
    ensure!(statuses == [503, 503, 503, 200], "statuses {statuses:?}");
    let first = &attempts[0];
    for (i, again) in attempts.iter().enumerate().skip(1) {
        ensure!(
            key(again)? == key(first)?,
            "attempt {} changed the Idempotency-Key",
            i + 1
        );
        ensure!(
            again.body == first.body,
            "attempt {} changed the body",
            i + 1
        );
    }
    gw.check_document(&attempts[3], &serials).await?;
    let gaps: Vec<_> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    eprintln!("upstream_outage: gaps between attempts {gaps:?}");

    let rows = gw
        .wait_outbox("delivery after retries", |rows| {
            row(rows, &batch).is_some_and(|r| r.state == "delivered")
        })
        .await?;
    ensure!(rows.len() == 1, "outbox {rows:#?}");
    ensure!(
        rows[0].attempts == 4,
        "attempts = {}, expected 4",
        rows[0].attempts
    );
    let total = gw.upstream().requests().len();
    ensure!(total == 4, "{total} requests, expected 4");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_once_the_upstream_starts_listening() -> Result<()> {
    let mut gw = Gateway::start_with_dead_upstream().await?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("outage-down").await?;
    let tag = run_tag();
    let batch = format!("U{tag}");
    let serials = serials(&tag, CODES);
    gw.publish_batch(&client, &batch, &serials, 10).await?;

    // Failed attempts are visible in the outbox before anything listens.
    let rows = gw
        .wait_outbox("two failed connection attempts", |rows| {
            row(rows, &batch).is_some_and(|r| r.attempts >= 2)
        })
        .await?;
    let pending = row(&rows, &batch).context("row vanished")?;
    ensure!(pending.state == "pending", "{pending:?}");
    ensure!(
        pending.last_status.is_none(),
        "no HTTP answer yet: {pending:?}"
    );
    ensure!(
        pending.last_error.as_deref().is_some_and(|e| !e.is_empty()),
        "connection failures should leave last_error: {pending:?}"
    );

    let server = gw.revive_upstream(&[]).await?;
    let req = server.next_request(DOC_DEADLINE).await?;
    ensure!(req.status == 200);
    let doc = gw.check_document(&req, &serials).await?;
    let rows = gw
        .wait_outbox("delivery after the upstream came up", |rows| {
            row(rows, &batch).is_some_and(|r| r.state == "delivered")
        })
        .await?;
    let delivered = row(&rows, &batch).context("row vanished")?;
    ensure!(delivered.attempts >= 3, "{delivered:?}");
    let requests = gw.upstream().requests();
    ensure!(
        requests.len() == 1,
        "{} requests after recovery",
        requests.len()
    );
    ensure!(key(&requests[0])? == doc.instance_id()?);
    eprintln!(
        "upstream_outage: delivered after {} attempts, key {}",
        delivered.attempts,
        key(&req)?
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_error_parks_document_and_next_batch_flows() -> Result<()> {
    let gw = Gateway::start(&[400]).await?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("outage-4xx").await?;
    let tag = run_tag();
    let (b1, b2) = (format!("P{tag}"), format!("Q{tag}"));
    let s1 = serials(&format!("{tag}P"), CODES);
    let s2 = serials(&format!("{tag}Q"), CODES);

    gw.publish_batch(&client, &b1, &s1, 10).await?;
    let refused = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(refused.status == 400);
    gw.check_document(&refused, &s1).await?;
    let rows = gw
        .wait_outbox("the 400 to park the document", |rows| {
            row(rows, &b1).is_some_and(|r| r.state == "rejected")
        })
        .await?;
    let parked = row(&rows, &b1).context("row vanished")?;
    ensure!(parked.last_status == Some(400), "{parked:?}");
    ensure!(parked.attempts == 1, "{parked:?}");

    // The next batch goes to the same, now healthy, upstream.
    gw.publish_batch(&client, &b2, &s2, 10).await?;
    let accepted = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(
        key(&accepted)? != key(&refused)?,
        "the parked document was sent again"
    );
    ensure!(accepted.status == 200);
    gw.check_document(&accepted, &s2).await?;

    let rows = gw
        .wait_outbox("the second batch delivered", |rows| {
            row(rows, &b2).is_some_and(|r| r.state == "delivered")
        })
        .await?;
    ensure!(rows.len() == 2, "outbox {rows:#?}");
    let parked = row(&rows, &b1).context("parked row no longer listed")?;
    ensure!(
        parked.state == "rejected" && parked.attempts == 1,
        "{parked:?}"
    );
    ensure!(parked.last_status == Some(400), "{parked:?}");
    let total = gw.upstream().requests().len();
    ensure!(
        total == 2,
        "{total} requests: the rejected document was retried"
    );
    Ok(())
}
