//! The main promise of linegate, checked end to end with real parts.
//!
//! A line opens a batch, commissions 1,000 codes over MQTT and closes the
//! batch; exactly one schema-valid EPCIS 1.2 document holding exactly those
//! codes (plus lot and expiry) must reach the upstream, with the idempotency
//! key matching the document's SBDH identifier, and the outbox must say it was
//! delivered. Both message shapes a line uses (one code per message, 100 codes
//! per message) are covered, as is MQTT redelivery of the same message id.

use std::time::Duration;

use anyhow::{Result, ensure};

use crate::support::{
    DOC_DEADLINE, Gateway, LINE, batch_close, batch_open, code, commission, events_topic, run_tag,
    serials,
};

async fn thousand_codes(per_msg: usize) -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let mut daemon = gw.daemon().await?;
    let client = gw.line_client(&format!("e2e-{per_msg}")).await?;
    let tag = run_tag();
    let batch = format!("B{tag}");
    let serials = serials(&tag, 1000);

    let started = std::time::Instant::now();
    gw.publish_batch(&client, &batch, &serials, per_msg).await?;
    let published = started.elapsed();
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    let elapsed = req.at.duration_since(started);
    eprintln!(
        "end_to_end[{per_msg} code(s)/msg]: 1000 codes, all PUBACKed after {published:?}, \
         document after {elapsed:?} => {:.0} codes/s",
        1000.0 / elapsed.as_secs_f64()
    );

    let doc = gw.check_document(&req, &serials).await?;
    ensure!(req.status == 200);

    let rows = gw
        .wait_outbox("the document to be delivered", |rows| {
            rows.iter().any(|r| r.state == "delivered")
        })
        .await?;
    ensure!(rows.len() == 1, "expected one outbox row, got {rows:#?}");
    let row = &rows[0];
    ensure!(
        row.batch.as_ref() == Some(&batch) && row.upstream == "mah",
        "{row:?}"
    );
    ensure!(
        row.attempts == 1,
        "one 200 answer, yet attempts = {}",
        row.attempts
    );
    ensure!(
        row.document_id == doc.instance_id()?,
        "outbox document_id {} is not the SBDH InstanceIdentifier {}",
        row.document_id,
        doc.instance_id()?
    );
    let count = gw.upstream().requests().len();
    ensure!(
        count == 1,
        "upstream received {count} requests for one batch"
    );

    let quarantine = gw.quarantine().await?;
    ensure!(
        quarantine.is_empty(),
        "valid input quarantined: {quarantine:#?}"
    );
    ensure!(
        client.try_next_message().is_none(),
        "unexpected reject notice"
    );

    let stopping = std::time::Instant::now();
    let status = daemon.terminate().await?;
    eprintln!("end_to_end: SIGTERM to exit took {:?}", stopping.elapsed());
    if status.code() != Some(0) {
        let log = daemon.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        anyhow::bail!(
            "SIGTERM exit status {status}; log tail (newest first):\n{}",
            tail.join("\n")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_single_code_messages_become_one_document() -> Result<()> {
    thousand_codes(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_messages_of_hundred_codes_become_one_document() -> Result<()> {
    thousand_codes(100).await
}

/// The broker may deliver a message again (QoS1); a repeated `id` must be
/// acked, applied once, and not reported as a reject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_message_ids_are_applied_once() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("e2e-redelivery").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    let batch = format!("R{tag}");
    let all = serials(&tag, 3);

    let open = batch_open("r-open", &batch);
    let twice = commission("r-c1", &batch, &[code(&all[0]), code(&all[1])]);
    let once = commission("r-c2", &batch, &[code(&all[2])]);
    client.publish(&topic, open.clone(), "open").await?;
    client.publish(&topic, open, "open again").await?;
    client.publish(&topic, twice.clone(), "c1").await?;
    client.publish(&topic, twice, "c1 again").await?;
    client.publish(&topic, once, "c2").await?;
    client
        .publish(&topic, batch_close("r-close", &batch), "close")
        .await?;
    client.wait_acked(6, Duration::from_secs(30)).await?;

    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &all).await?;

    let quarantine = gw.quarantine().await?;
    ensure!(
        quarantine.is_empty(),
        "redelivery was quarantined: {quarantine:#?}"
    );
    if let Some((topic, payload)) = client.try_next_message() {
        anyhow::bail!(
            "reject notice on {topic}: {}",
            String::from_utf8_lossy(&payload)
        );
    }
    let rows = gw
        .wait_outbox("delivery", |rows| {
            !rows.is_empty() && rows.iter().all(|r| r.state == "delivered")
        })
        .await?;
    ensure!(rows.len() == 1, "one batch, outbox {rows:#?}");
    Ok(())
}
