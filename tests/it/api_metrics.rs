//! `GET /metrics` through the real daemon, read by a strict Prometheus text reader.
//!
//! Promise: what a scrape returns is valid exposition text (every line, HELP and TYPE before
//! the samples, names, labels, escaping, floats, histograms cumulative up to `+Inf` = count),
//! it shows every figure the operator alerts on — messages in and refused per line and
//! source, commits and their latency, the outbox per upstream, the source connection, the
//! free disk space — and the counters move by exactly what flowed: messages published on the
//! line's topic, one of them unreadable.

use std::time::Duration;

use anyhow::{Result, ensure};

use crate::api_client::ApiClient;
use crate::support::prometheus::{self, Exposition};
use crate::support::{
    Gateway, LINE, batch_open, code, commission, events_topic, poll_until, run_tag, serials,
};

async fn scrape(api: &ApiClient) -> Result<Exposition> {
    let a = api.get("/metrics").await?;
    ensure!(a.status == 200, "GET /metrics: {a:?}");
    prometheus::parse(&a.text).map_err(|e| e.context(format!("/metrics:\n{}", a.text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_metrics_parse_as_prometheus_text_and_count_exactly_what_flowed() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let api = ApiClient::new(gw.dir.path(), "probe")?;
    api.enable(&gw.config)?;
    let _daemon = gw.daemon().await?;

    let before = scrape(&api).await?;
    for (family, kind) in [
        ("linegate_events_in_total", "counter"),
        ("linegate_events_rejected_total", "counter"),
        ("linegate_store_commits_total", "counter"),
        ("linegate_store_commit_duration_seconds", "histogram"),
        ("linegate_outbox_documents", "gauge"),
        ("linegate_outbox_oldest_pending_age_seconds", "gauge"),
        ("linegate_outbox_max_attempts", "gauge"),
        ("linegate_mqtt_connected", "gauge"),
        ("linegate_scanner_up", "gauge"),
        ("linegate_data_dir_free_bytes", "gauge"),
    ] {
        ensure!(
            before.types.get(family).map(String::as_str) == Some(kind),
            "{family} is not a {kind}: {:?}",
            before.types
        );
    }
    ensure!(before.get("linegate_mqtt_connected", &[]) == Some(1.0));
    ensure!(
        before
            .get("linegate_data_dir_free_bytes", &[])
            .is_some_and(|b| b > 0.0)
    );
    ensure!(
        before.get(
            "linegate_outbox_documents",
            &[("upstream", "mah"), ("state", "pending")]
        ) == Some(0.0)
    );

    let series = [("line", LINE), ("source", "mqtt")];
    let in_before = before.value_or_zero("linegate_events_in_total", &series);
    let rejected_before = before.value_or_zero("linegate_events_rejected_total", &series);
    let commits_before = before.value_or_zero("linegate_store_commits_total", &[]);

    // Four messages on the line's topic: open, two commissions, and one that is no JSON.
    let client = gw.line_client("metrics-line").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    let batch = format!("M{tag}");
    let units: Vec<String> = serials(&tag, 4).iter().map(|s| code(s)).collect();
    let acked = client.acked_count();
    client
        .publish(&topic, batch_open("m-open", &batch), "open")
        .await?;
    client
        .publish(&topic, commission("m-c1", &batch, &units[..2]), "c1")
        .await?;
    client
        .publish(&topic, commission("m-c2", &batch, &units[2..]), "c2")
        .await?;
    client
        .publish(&topic, "{\"id\": \"m-bad\", ", "bad")
        .await?;
    client
        .wait_acked(acked + 4, Duration::from_secs(60))
        .await?;

    // The broker acknowledged them to the line; the daemon takes them in its own time.
    let after = poll_until(
        "the four messages counted",
        Duration::from_secs(60),
        async || {
            let x = scrape(&api).await?;
            let done = x.value_or_zero("linegate_events_in_total", &series) >= in_before + 4.0
                && x.value_or_zero("linegate_events_rejected_total", &series)
                    >= rejected_before + 1.0;
            Ok(done.then_some(x))
        },
    )
    .await?;
    let in_after = after.value_or_zero("linegate_events_in_total", &series);
    let rejected_after = after.value_or_zero("linegate_events_rejected_total", &series);
    ensure!(
        in_after - in_before == 4.0 && rejected_after - rejected_before == 1.0,
        "in {in_before} → {in_after}, rejected {rejected_before} → {rejected_after}"
    );
    let commits = after.value_or_zero("linegate_store_commits_total", &[]);
    ensure!(commits > commits_before, "no commit counted");
    ensure!(
        after.get("linegate_store_commit_duration_seconds_count", &[]) == Some(commits),
        "the histogram's count is not the commits"
    );

    // Closing makes a document that goes out: the outbox figures move back to nothing owed.
    client
        .publish(
            &topic,
            crate::support::batch_close("m-close", &batch),
            "close",
        )
        .await?;
    client
        .wait_acked(acked + 5, Duration::from_secs(60))
        .await?;
    poll_until(
        "the document delivered",
        crate::support::DOC_DEADLINE,
        async || {
            let rows = gw.outbox().await?;
            Ok((rows
                .iter()
                .any(|r| r.batch.as_deref() == Some(&batch) && r.state == "delivered"))
            .then_some(()))
        },
    )
    .await?;
    // The close was committed before its document was built: counted, once.
    let last = scrape(&api).await?;
    ensure!(
        last.value_or_zero("linegate_events_in_total", &series) == in_after + 1.0,
        "the close was not counted once"
    );
    for state in ["pending", "in_flight", "rejected"] {
        ensure!(
            last.get(
                "linegate_outbox_documents",
                &[("upstream", "mah"), ("state", state)]
            ) == Some(0.0),
            "{state} after delivery"
        );
    }
    Ok(())
}
