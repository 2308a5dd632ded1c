//! The MQTT upstream: documents published QoS 1 to a partner's broker, restarted mid-stream.
//!
//! The daemon sends each document to a second mosquitto (the partner's broker), where a
//! partner client with a persistent session (clean_session = false, QoS 1) takes them. That
//! broker is restarted twice while several batches' documents flow, and documents of new
//! batches pile up while it is down. The daemon may mark a document delivered only after the
//! broker's PUBACK for it; everything else must be sent again. So in the end every document of
//! the outbox has reached the partner at least once, duplicates are byte-identical, and the
//! documents of one batch first arrived in their order.
//!
//! The restarts are graceful (SIGTERM): mosquitto then saves what it acknowledged, so
//! anything missing at the partner is the daemon's fault. A SIGKILLed mosquitto may lose what
//! it acknowledged in its last autosave interval (1 s); that loss would be the broker's, and
//! a test that can fail for it proves nothing about the daemon. To the daemon both look the
//! same: the connection drops with publishes in flight.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use crate::support::xml::parse_complete;
use crate::support::{
    Broker, DOC_DEADLINE, Gateway, Mosquitto, MqttClient, check_epcs, cli_json, poll_until,
    run_tag, serials, sgtin,
};

const PER_BATCH: usize = 300;
const TOPIC: &str = "partner/{kind}/{batch}/{document_id}";

/// The part of an `outbox list --json` row this scenario reads.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    document_id: String,
    batch: Option<String>,
    /// The sending order within its ordering group (the batch).
    seq: i64,
    state: String,
    attempts: u32,
    last_error: Option<String>,
}

/// What the partner received, in arrival order.
struct Inbox {
    client: MqttClient,
    got: Vec<(String, Vec<u8>)>,
}

impl Inbox {
    /// Waits until at least `n` messages arrived.
    async fn wait_for(&mut self, n: usize) -> Result<()> {
        while self.got.len() < n {
            let m = self
                .client
                .next_message(DOC_DEADLINE)
                .await
                .with_context(|| format!("{} of {n} messages arrived", self.got.len()))?;
            self.got.push(m);
        }
        Ok(())
    }

    /// Waits until every document in `ids` arrived at least once.
    async fn wait_for_all(&mut self, ids: &HashSet<String>) -> Result<()> {
        loop {
            let seen: HashSet<&str> = self.got.iter().map(|(t, _)| doc_id(t)).collect();
            let missing = ids.iter().filter(|i| !seen.contains(i.as_str())).count();
            if missing == 0 {
                return Ok(());
            }
            let m = self
                .client
                .next_message(DOC_DEADLINE)
                .await
                .with_context(|| {
                    format!(
                        "{missing} of {} documents never reached the partner",
                        ids.len()
                    )
                })?;
            self.got.push(m);
        }
    }
}

fn doc_id(topic: &str) -> &str {
    topic.rsplit('/').next().unwrap_or_default()
}

async fn rows(gw: &Gateway) -> Result<Vec<Row>> {
    cli_json(&["outbox", "list"], &gw.config).await
}

/// Waits until a document of one of `batches` was tried and failed: the daemon noticed the
/// partner's broker is down.
async fn failed_attempt(gw: &Gateway, batches: &[String]) -> Result<Row> {
    poll_until(
        "a failed attempt while the broker is down",
        DOC_DEADLINE,
        async || {
            let rows = rows(gw).await?;
            Ok(rows.into_iter().find(|r| {
                r.batch.as_ref().is_some_and(|b| batches.contains(b))
                    && r.state != "delivered"
                    && r.attempts >= 1
                    && r.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("broker"))
            }))
        },
    )
    .await
}

/// Publishes `n` batches of the line; returns their codes by batch.
async fn publish(
    gw: &Gateway,
    line: &MqttClient,
    prefix: &str,
    n: usize,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut codes = BTreeMap::new();
    for b in 0..n {
        let batch = format!("{prefix}{b}");
        let s = serials(&batch, PER_BATCH);
        gw.publish_batch(line, &batch, &s, 100).await?;
        codes.insert(batch, s);
    }
    Ok(codes)
}

/// Stops the partner's broker, publishes `n` batches while it is down, waits until the daemon
/// failed to deliver one of them, and starts the broker again.
async fn outage(
    gw: &Gateway,
    partner: &mut Broker,
    line: &MqttClient,
    prefix: &str,
    n: usize,
) -> Result<BTreeMap<String, Vec<String>>> {
    partner.stop().await?;
    let codes = publish(gw, line, prefix, n).await?;
    let batches: Vec<String> = codes.keys().cloned().collect();
    let failed = failed_attempt(gw, &batches).await?;
    eprintln!("mqtt_sink: while the broker is down: {failed:?}");
    partner.start_again().await?;
    Ok(codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_document_reaches_the_partner_across_broker_restarts() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let partner_dir = gw.dir.path().join("partner");
    std::fs::create_dir_all(&partner_dir)?;
    let mut partner = Mosquitto::start(&partner_dir).await?;
    let extra =
        format!("topic = \"{TOPIC}\"\nmax_epcs_per_event = 50\nmax_events_per_document = 2\n");
    gw.set_upstream(&partner.url(), &extra)?;
    let client = MqttClient::connect(partner.port(), "partner-inbox", false).await?;
    client.subscribe("partner/#").await?;
    let mut inbox = Inbox {
        client,
        got: Vec::new(),
    };

    let _daemon = gw.daemon().await?;
    let line = gw.line_client("mqtt-sink-line").await?;
    let tag = run_tag();
    let mut codes = publish(&gw, &line, &format!("M{tag}A"), 4).await?;
    // The first documents are through: restart the broker while the rest flow.
    inbox.wait_for(3).await?;
    codes.extend(outage(&gw, &mut partner, &line, &format!("M{tag}B"), 3).await?);
    let before = inbox.got.len();
    inbox.wait_for(before + 3).await?;
    codes.extend(outage(&gw, &mut partner, &line, &format!("M{tag}C"), 2).await?);

    let batches: Vec<String> = codes.keys().cloned().collect();
    let rows = poll_until("every document delivered", DOC_DEADLINE, async || {
        let rows = rows(&gw).await?;
        let have: HashSet<&str> = rows.iter().filter_map(|r| r.batch.as_deref()).collect();
        let done = batches.iter().all(|b| have.contains(b.as_str()))
            && rows.iter().all(|r| r.state == "delivered");
        Ok(done.then_some(rows))
    })
    .await?;
    let ids: HashSet<String> = rows.iter().map(|r| r.document_id.clone()).collect();
    inbox.wait_for_all(&ids).await?;

    // Each document: complete, its own id, on its topic, every copy the same bytes.
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.document_id.as_str(), r)).collect();
    let mut first: HashMap<&str, &[u8]> = HashMap::new();
    let mut arrival: Vec<&str> = Vec::new();
    let mut duplicates = 0;
    for (topic, payload) in &inbox.got {
        let id = doc_id(topic);
        let row = by_id
            .get(id)
            .with_context(|| format!("{topic}: not in the outbox"))?;
        let batch = row.batch.as_deref().context("a document of no batch")?;
        ensure!(
            *topic == format!("partner/end_of_batch/{batch}/{id}"),
            "topic {topic}"
        );
        match first.get(id) {
            Some(bytes) => {
                ensure!(
                    *bytes == payload.as_slice(),
                    "{id} arrived again with other bytes"
                );
                duplicates += 1;
            }
            None => {
                first.insert(id, payload);
                arrival.push(id);
            }
        }
    }
    let mut commissioned: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (id, bytes) in &first {
        let text = std::str::from_utf8(bytes).with_context(|| format!("{id}: not UTF-8"))?;
        let doc = parse_complete(text).with_context(|| format!("document {id}"))?;
        ensure!(
            doc.instance_id()? == *id,
            "{id} holds {}",
            doc.instance_id()?
        );
        let batch = by_id[id].batch.as_deref().unwrap_or_default();
        commissioned
            .entry(batch)
            .or_default()
            .extend(doc.commissioned());
    }
    for (batch, serials) in &codes {
        let expected: Vec<String> = serials.iter().map(|s| sgtin(s)).collect();
        let got = commissioned
            .get(batch.as_str())
            .cloned()
            .unwrap_or_default();
        check_epcs(&got, &expected, &[]).with_context(|| format!("batch {batch}"))?;
        // The partner got a batch's documents first in their sending order.
        let mut of_batch: Vec<&Row> = rows
            .iter()
            .filter(|r| r.batch.as_deref() == Some(batch.as_str()))
            .collect();
        of_batch.sort_by_key(|r| r.seq);
        let order: Vec<&str> = of_batch.iter().map(|r| r.document_id.as_str()).collect();
        let arrived: Vec<&str> = arrival
            .iter()
            .copied()
            .filter(|id| by_id[id].batch.as_deref() == Some(batch.as_str()))
            .collect();
        ensure!(
            order.len() > 1,
            "batch {batch} is in {} part(s)",
            order.len()
        );
        if arrived != order {
            bail!("batch {batch} arrived in the order {arrived:?}, sent as {order:?}");
        }
    }
    let retried = rows.iter().filter(|r| r.attempts > 1).count();
    ensure!(
        retried > 0,
        "no document needed a second attempt: {rows:#?}"
    );
    eprintln!(
        "mqtt_sink: {} documents of {} batches delivered, {retried} after retries, {duplicates} duplicate(s) at the partner",
        rows.len(),
        codes.len()
    );
    Ok(())
}
