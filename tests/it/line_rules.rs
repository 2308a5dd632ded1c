//! Line rules through the real broker: a serial is commissioned once, a line runs one batch of a
//! GTIN at a time, and the supervisor's batch decisions from the command line are the same rules.
//!
//! A repeated read of a unit in its own batch (same data) and the same serial turning up in
//! another batch (a label printed twice: different data) are both refused before the ack, with
//! different codes, so the line can tell a harmless double scan from a conflict. Neither is
//! applied: the first batch's document holds the serial once, the second batch's not at all.
//!
//! A second `batch_open` of the same GTIN on a line that still runs one is refused
//! (`batch_limit`). `linegate batch close | release | cancel`, run beside the daemon, go through
//! the same rules: a close from the command line makes the daemon send the document (its
//! assembler polls for batches closed by another process), QA releases only a closed batch
//! (`invalid_transition`), and a cancel decommissions and unpacks the batch's units.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::ledger::{
    CASE_GTIN, LineSession, aggregate, batch_open_with, case_code, expect_refusal, expect_success,
};
use crate::support::{
    DOC_DEADLINE, GTIN, Gateway, LINE, batch_close, batch_open, code, commission, events_topic,
    run_tag, serials,
};

async fn notice(client: &crate::support::mqtt::MqttClient) -> Result<Value> {
    let (topic, payload) = client.next_message(Duration::from_secs(30)).await?;
    ensure!(topic.ends_with("/rejects"), "unexpected message on {topic}");
    serde_json::from_slice(&payload).context("notice is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_commission_is_a_duplicate_scan_or_a_conflict() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("line-rules").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    let (first, second) = (format!("A{tag}"), format!("Z{tag}"));
    let s = serials(&tag, 3);

    client
        .publish(&topic, batch_open("lr-open-1", &first), "open 1")
        .await?;
    client
        .publish(
            &topic,
            commission("lr-c1", &first, &[code(&s[0]), code(&s[1])]),
            "c1",
        )
        .await?;
    // The same unit read again, as a new message: same batch, same data.
    client
        .publish(&topic, commission("lr-c2", &first, &[code(&s[1])]), "c2")
        .await?;
    let n = notice(&client).await?;
    ensure!(n["code"] == "duplicate_scan" && n["id"] == "lr-c2", "{n}");

    client
        .publish(&topic, batch_close("lr-close-1", &first), "close 1")
        .await?;
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &s[..2]).await?;

    // The same serial in another batch: a conflict; the new serial in that message is not applied.
    client
        .publish(&topic, batch_open("lr-open-2", &second), "open 2")
        .await?;
    client
        .publish(
            &topic,
            commission("lr-c3", &second, &[code(&s[2]), code(&s[0])]),
            "c3",
        )
        .await?;
    let n = notice(&client).await?;
    ensure!(
        n["code"] == "commission_conflict" && n["id"] == "lr-c3",
        "{n}"
    );
    ensure!(
        n["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("codes[1]"),
        "{n}"
    );
    client
        .publish(&topic, commission("lr-c4", &second, &[code(&s[2])]), "c4")
        .await?;
    client
        .publish(&topic, batch_close("lr-close-2", &second), "close 2")
        .await?;
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &s[2..]).await?;

    let codes: Vec<String> = gw.quarantine().await?.into_iter().map(|q| q.code).collect();
    ensure!(
        codes == ["duplicate_scan", "commission_conflict"],
        "quarantine codes {codes:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_open_batch_of_a_gtin_on_a_line_is_a_batch_limit() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "lr-limit").await?;
    let tag = run_tag();
    let (running, next, other) = (format!("A{tag}"), format!("B{tag}"), format!("C{tag}"));
    let s = serials(&tag, 1);

    line.send(batch_open("open-a", &running)).await?;
    line.send(commission("c-a", &running, &[code(&s[0])]))
        .await?;
    line.send(batch_open("open-b", &next)).await?;
    let n = line.expect_reject("open-b", "batch_limit").await?;
    ensure!(n.reason.contains(GTIN), "{n:?}");
    let shown = gw.supervisor(&["batch", "show", &next]).await?;
    ensure!(
        !shown.status.success(),
        "the refused batch {next} exists:\n{}",
        shown.all_text()
    );

    // The limit is per GTIN: a batch of another product may run beside it.
    line.send(batch_open_with("open-c", &other, CASE_GTIN, &[], None))
        .await?;
    // Once the running batch is closed, the line may open the next one.
    line.send(batch_close("close-a", &running)).await?;
    line.send(batch_open("open-b-again", &next)).await?;
    line.sync().await?;
    let b = gw.batch(&next).await?;
    ensure!(b.row.state == "open" && b.row.gtin == GTIN, "{b:#?}");
    let a = gw.batch(&running).await?;
    ensure!(a.row.state == "closed", "{a:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_closes_releases_and_cancels_batches_beside_the_daemon() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "lr-supervisor").await?;
    let tag = run_tag();
    let (first, second) = (format!("A{tag}"), format!("Z{tag}"));
    let s = serials(&tag, 6);
    let codes: Vec<String> = s.iter().map(|x| code(x)).collect();

    line.send(batch_open("sv-open-1", &first)).await?;
    line.send(commission("sv-c1", &first, &codes[..3])).await?;
    line.sync().await?;
    ensure!(gw.batch(&first).await?.row.state == "running");

    // QA cannot release a batch that is still running.
    let out = gw
        .supervisor(&["batch", "release", &first, "--reason", "test"])
        .await?;
    expect_refusal(&out, "invalid_transition", "release of a running batch")?;
    ensure!(gw.batch(&first).await?.row.state == "running");

    // The shift supervisor closes it; the daemon did not see that happen and must still send.
    let out = gw
        .supervisor(&["batch", "close", &first, "--reason", "test"])
        .await?;
    expect_success(&out, "close of a running batch")?;
    let b = gw.batch(&first).await?;
    ensure!(
        b.row.state == "closed"
            && b.row.closed_at.is_some()
            && b.report_final
            && b.report.level("each").commissioned == 3,
        "{b:#?}"
    );
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &s[..3]).await?;
    line.send(commission("sv-c2", &first, &codes[3..4])).await?;
    line.expect_reject("sv-c2", "batch_not_open").await?;

    let out = gw
        .supervisor(&["batch", "release", &first, "--reason", "test"])
        .await?;
    expect_success(&out, "release of a closed batch")?;
    let b = gw.batch(&first).await?;
    ensure!(
        b.row.state == "released"
            && b.released_at.is_some()
            && b.row.document.as_deref() == Some("assembled"),
        "{b:#?}"
    );

    // A second batch of the same GTIN, now that the first is closed; one unit packed in a case.
    let case = case_code(&format!("K{tag}"));
    line.send(batch_open_with(
        "sv-open-2",
        &second,
        GTIN,
        &[CASE_GTIN],
        None,
    ))
    .await?;
    let made = [codes[3].clone(), codes[4].clone(), case.clone()];
    line.send(commission("sv-c3", &second, &made)).await?;
    line.send(aggregate("sv-pack", &case, &codes[3..4])).await?;
    line.sync().await?;
    let out = gw
        .supervisor(&["batch", "cancel", &second, "--reason", "x"])
        .await?;
    expect_success(&out, "cancel of a running batch")?;
    let b = gw.batch(&second).await?;
    ensure!(
        b.row.state == "cancelled" && b.cancelled_at.is_some() && b.row.document.is_none(),
        "a cancelled batch has no document: {b:#?}"
    );
    for unit in &made {
        let u = gw.serial(unit).await?;
        let last = u.history.last();
        ensure!(
            u.state == "decommissioned"
                && u.parents.is_empty()
                && u.children.is_empty()
                && last.is_some_and(|h| h.event == "batch_cancel"
                    && h.state == "decommissioned"
                    && h.reason.as_deref() == Some("x")),
            "every unit of a cancelled batch is decommissioned and unpacked: {u:#?}"
        );
    }
    line.send(commission("sv-c4", &second, &codes[5..6]))
        .await?;
    line.expect_reject("sv-c4", "batch_not_open").await?;
    let out = gw
        .supervisor(&["batch", "release", &second, "--reason", "test"])
        .await?;
    expect_refusal(&out, "invalid_transition", "release of a cancelled batch")?;

    let list = gw.batches().await?;
    let states: Vec<(&str, &str)> = list
        .iter()
        .map(|r| (r.batch.as_str(), r.state.as_str()))
        .collect();
    ensure!(
        list.len() == 2
            && states.contains(&(first.as_str(), "released"))
            && states.contains(&(second.as_str(), "cancelled")),
        "batch list {list:#?}"
    );
    let rows = gw
        .wait_outbox("the closed batch's document delivered", |rows| {
            rows.iter().any(|r| r.state == "delivered")
        })
        .await?;
    ensure!(
        rows.len() == 1 && rows[0].batch.as_ref() == Some(&first),
        "only the closed batch has a document: {rows:#?}"
    );
    Ok(())
}

/// The supervisor's commands write to the same database as the running daemon; SQLite must
/// serialise the two writers (busy timeout), not fail either of them.
///
/// This failed while both writers began DEFERRED transactions that read before they write:
/// when the other process committed in between, SQLite answered the upgrade with SQLITE_BUSY
/// at once (a stale WAL snapshot bypasses the busy handler). The store now begins IMMEDIATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_commands_and_the_line_writers_wait_for_each_other() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "lr-writers").await?;
    let tag = run_tag();
    let batch = format!("W{tag}");
    let s = serials(&tag, 3000);

    line.send(batch_open("w-open", &batch)).await?;
    // The batch must exist before the supervisor's first command.
    line.sync().await?;
    let stream = async {
        for (i, serial) in s.iter().enumerate() {
            let id = format!("w-c{i}");
            line.send(commission(&id, &batch, &[code(serial)])).await?;
        }
        anyhow::Ok(())
    };
    // Each refused release is still a write: it is logged and quarantined.
    let decide = async {
        let mut outs = Vec::new();
        for _ in 0..40 {
            outs.push(
                gw.supervisor(&["batch", "release", &batch, "--reason", "test"])
                    .await?,
            );
        }
        anyhow::Ok(outs)
    };
    let (streamed, decided) = tokio::join!(stream, decide);
    streamed?;
    for out in decided? {
        expect_refusal(&out, "invalid_transition", "release of a running batch")?;
    }
    line.sync().await?;
    let failures = daemon.log().matches("ingest group failed").count();
    ensure!(
        failures == 0,
        "the daemon failed {failures} group commit(s) while the CLI wrote"
    );
    let b = gw.batch(&batch).await?;
    ensure!(b.row.serials == 3000, "{} of 3000 serials", b.row.serials);
    Ok(())
}
