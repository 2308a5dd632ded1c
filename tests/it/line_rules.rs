//! Line rules through the real broker: a serial is commissioned once.
//!
//! A repeated read of a unit in its own batch (same data) and the same serial turning up in
//! another batch (a label printed twice: different data) are both refused before the ack, with
//! different codes, so the line can tell a harmless double scan from a conflict. Neither is
//! applied: the first batch's document holds the serial once, the second batch's not at all.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::{
    DOC_DEADLINE, Gateway, LINE, batch_close, batch_open, code, commission, events_topic, run_tag,
    serials,
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
