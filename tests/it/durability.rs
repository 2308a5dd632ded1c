//! Crash safety: a code the broker accepted is never lost, never doubled.
//!
//! The daemon acks an MQTT message only after committing it, and keeps a
//! persistent session, so SIGKILLing it at any moment must not lose anything
//! the broker acknowledged to the line: unacked messages stay queued at the
//! broker, committed-but-unacked ones are redelivered and deduplicated by id.
//! The oracle is the set of PUBLISHes the broker PUBACKed to the line client,
//! which is independent of anything the daemon says about itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use tokio::sync::watch;

use crate::support::{
    DOC_DEADLINE, EpcisDoc, Gateway, LINE, batch_close, batch_open, check_epcs, code, commission,
    events_topic, run_tag, serials, sgtin, validate_epcis12,
};

const TOTAL: usize = 3000;
/// The publisher pauses before these indices until the main task says so,
/// so that publishing provably continues after each kill.
const PHASE_STARTS: [usize; 2] = [1000, 2000];
/// Kill #k once this many codes were acked by the broker (i.e. while the
/// daemon is busy consuming them); restart once 200 codes of the next phase
/// were acked with the daemon down.
const KILL_AFTER_ACKED: [usize; 2] = [300, 1300];
const ACKED_WHILE_DOWN: usize = 200;
const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_acked_codes_survive_two_sigkills() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let mut daemon = gw.daemon().await?;
    let client = Arc::new(gw.line_client("durability-line").await?);
    let topic = events_topic(LINE);
    let tag = run_tag();
    let batch = format!("D{tag}");
    let all = serials(&tag, TOTAL);

    client
        .publish(&topic, batch_open("d-open", &batch), "open")
        .await?;
    client.wait_acked(1, WAIT).await?;

    // Background publisher: one code per message, tag = serial.
    let (phase_tx, phase_rx) = watch::channel(0usize);
    let publisher = tokio::spawn({
        let (client, topic, batch, all) =
            (client.clone(), topic.clone(), batch.clone(), all.clone());
        let mut phase_rx = phase_rx;
        async move {
            for (i, serial) in all.iter().enumerate() {
                if let Some(p) = PHASE_STARTS.iter().position(|s| *s == i) {
                    phase_rx.wait_for(|ph| *ph > p).await?;
                }
                let msg = commission(&format!("d-{serial}"), &batch, &[code(serial)]);
                client.publish(&topic, msg, serial).await?;
            }
            anyhow::Ok(())
        }
    });

    let started = Instant::now();
    for (kill_no, phase_start) in PHASE_STARTS.iter().enumerate() {
        // `1 +`: the batch_open is the first acked publish.
        client
            .wait_acked(1 + KILL_AFTER_ACKED[kill_no], WAIT)
            .await?;
        let status = daemon.kill9().await?;
        eprintln!(
            "durability: SIGKILL #{} after {:?} with {} codes acked by the broker ({status})",
            kill_no + 1,
            started.elapsed(),
            client.acked_count() - 1
        );
        // Keep publishing while the daemon is down, then bring it back.
        phase_tx.send(kill_no + 1)?;
        client
            .wait_acked(1 + phase_start + ACKED_WHILE_DOWN, WAIT)
            .await?;
        daemon = gw.daemon().await?;
        eprintln!(
            "durability: restart #{} ready after {:?}, {} codes acked",
            kill_no + 1,
            started.elapsed(),
            client.acked_count() - 1
        );
    }

    publisher.await.context("publisher task")??;
    client.wait_acked(1 + TOTAL, WAIT).await?;
    client
        .publish(&topic, batch_close("d-close", &batch), "close")
        .await?;
    client.wait_acked(2 + TOTAL, WAIT).await?;

    let req = gw
        .upstream()
        .next_request(DOC_DEADLINE)
        .await
        .with_context(|| {
            let running = daemon.is_running();
            format!("batch closed after the restarts, but no document (daemon running: {running})")
        })?;
    let body = req.body_text()?;
    let doc = EpcisDoc::parse(body)?;
    validate_epcis12(body, gw.dir.path(), "durability.xml").await?;

    // Oracle: every code whose PUBLISH the broker acked must be there once.
    let acked: Vec<String> = client
        .acked()
        .iter()
        .filter(|tag| *tag != "open" && *tag != "close")
        .map(|s| sgtin(s))
        .collect();
    let published: Vec<String> = all.iter().map(|s| sgtin(s)).collect();
    eprintln!(
        "durability: {} codes published, {} acked by the broker, {} in the document, total {:?}",
        published.len(),
        acked.len(),
        doc.commissioned().len(),
        started.elapsed()
    );
    check_epcs(&doc.commissioned(), &acked, &published)?;
    ensure!(
        acked.len() == TOTAL,
        "broker never died, yet only {} acked",
        acked.len()
    );

    // Redeliveries after the kills must be deduplicated, not rejected.
    let quarantine = gw.quarantine().await?;
    ensure!(
        quarantine.is_empty(),
        "quarantined after crash: {quarantine:#?}"
    );
    let rows = gw
        .wait_outbox("delivery", |rows| {
            rows.iter().any(|r| r.state == "delivered")
        })
        .await?;
    ensure!(rows.len() == 1, "one batch, outbox {rows:#?}");
    ensure!(daemon.is_running(), "daemon died after the last restart");
    Ok(())
}
