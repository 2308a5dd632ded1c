//! Broker restarts: the line's publisher and linegate both reconnect, and every message the
//! broker acknowledged is stored exactly once.
//!
//! Promise: while `linegate simulate` (the library's MQTT transport, as the binary uses it)
//! publishes a batch of 50,512 QoS1 messages — 25,000 units one code per message, each packed
//! into its case by a message of its own, cases onto pallets, the batch opened and closed — and
//! the broker is stopped and started ten times, every message the broker acknowledged to the
//! publisher is stored exactly once: the simulator keeps its session, connects again and
//! publishes again what had no PUBACK (QoS1), the broker redelivers what linegate had not
//! acknowledged, and linegate de-duplicates by message id. The simulator's record of PUBACKed
//! message ids must hold every message once, and the gateway's reconciliation of the closed
//! batch must be exactly the plan's (a message lost would be missing from the counts, and one
//! applied twice would be quarantined as a repeated scan or pack), with nothing refused; a
//! sample of units shows its commissioning and packing message ids once each in its history.
//! Every restart must find the simulator mid-stream (it is paced with `rate` so that it is):
//! it must report a reconnect for each. The broker is stopped with SIGTERM (it saves its
//! queue): with SIGKILL mosquitto itself loses up to one autosave interval of messages it had
//! acknowledged, which is the broker's durability, not ours (`durability.rs` covers SIGKILL
//! with an autosave barrier). A second scenario restarts a broker without persistence, which
//! forgets our session and every retained message: linegate must subscribe again and
//! republish the line state.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use chrono::NaiveDate;
use indicatif::ProgressBar;
use linegate::rules::reconcile::Level;
use linegate::simulate::mqtt::{self, Target};
use linegate::simulate::{LineSpec, Plan, generate};

use crate::mqtt_backpressure::next_json;
use crate::mqtt_world::{MqttWorld, plain};
use crate::support::ledger::{BatchDetail, CASE_GTIN, SerialDetail};
use crate::support::mosquitto::Setup;
use crate::support::{
    GTIN, LINE, QuarantineRow, TOPIC_PREFIX, batch_open, cli_json, code, commission, events_topic,
    pace, poll_until, run_tag,
};

const RESTARTS: usize = 10;
/// Units per second the simulator plays (two messages per unit): slow enough that all ten
/// restarts (each waits until linegate subscribed again) fall inside the run.
const RATE: f64 = 1000.0;

/// About this many messages (`LINEGATE_IT_MQTT_MESSAGES` for a quick run): two per unit.
fn units() -> u32 {
    let messages = std::env::var("LINEGATE_IT_MQTT_MESSAGES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(50_000);
    (messages / 2).max(200)
}

fn spec(batch: &str, units: u32) -> LineSpec {
    LineSpec {
        line: LINE.into(),
        batch: batch.into(),
        gtin: GTIN.into(),
        case_gtin: CASE_GTIN.into(),
        company_prefix: "0361414".into(),
        lot: "LOT-RST".into(),
        expiry: NaiveDate::from_ymd_opt(2030, 6, 30).unwrap_or_default(),
        units,
        case_size: 100,
        pallet_size: 25,
        reject_rate: 0.0,
        samples: 0,
        faults: 0,
        codes_per_message: 1,
        seed: fastrand::u64(..),
    }
}

/// For a few units across the batch: (registry key, commissioning message id, packing id).
fn sample_units(plan: &Plan, n: usize) -> Result<Vec<(String, String, String)>> {
    let mut commissioned: HashMap<&str, &str> = HashMap::new();
    let mut packed: Vec<(&str, &str)> = Vec::new();
    for m in &plan.messages {
        let b = &m.body;
        match b["type"].as_str() {
            Some("commission") => {
                for c in b["codes"].as_array().into_iter().flatten() {
                    commissioned.insert(c.as_str().unwrap_or_default(), &m.id);
                }
            }
            Some("aggregate") if !b["parent"].as_str().unwrap_or_default().starts_with("]C1") => {
                for c in b["children"].as_array().into_iter().flatten() {
                    packed.push((c.as_str().unwrap_or_default(), &m.id));
                }
            }
            _ => {}
        }
    }
    let today = chrono::Utc::now().date_naive();
    let step = (packed.len() / n).max(1);
    packed
        .iter()
        .step_by(step)
        .map(|&(raw, packing)| {
            let key = linegate::gs1::parse_code(raw, today)?.id.key();
            let c = commissioned
                .get(raw)
                .context("a packed unit never commissioned")?;
            Ok((key, c.to_string(), packing.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_broker_restarted_ten_times_under_load_stores_each_message_once() -> Result<()> {
    let started = Instant::now();
    let dir = MqttWorld::dir()?;
    let mut world = MqttWorld::start(dir, &Setup::default(), |b| b.url(), "", "").await?;
    let daemon = world.daemon().await?;
    let tag = run_tag();
    let batch = format!("B-RST-{tag}");
    let plan = generate(&spec(&batch, units()))?;
    let total = plan.messages.len();
    let target = Target {
        host: "127.0.0.1".into(),
        port: world.broker.port(),
        client_id: format!("sim-{tag}"),
        topic: events_topic(LINE),
        settings: None,
    };
    // The progress bar is the simulator's count of PUBACKs: restarts are timed by it.
    let progress = ProgressBar::hidden();
    let simulator = {
        let (messages, progress) = (plan.messages.clone(), progress.clone());
        tokio::spawn(async move { mqtt::play(&target, &messages, Some(RATE), &progress).await })
    };
    let mut restarts = 0;
    let mut tick = pace(Duration::from_millis(50));
    while restarts < RESTARTS {
        tick.tick().await;
        let acked = progress.position() as usize;
        // Restart k once the broker acknowledged k/12 of the messages: mid-stream for the
        // simulator, and only once linegate is back (subscribed again) after the last restart.
        let due = (restarts + 1) * total / (RESTARTS + 2);
        let back = plain(&daemon.log()).matches("subscribed filter=").count() > restarts;
        if back && acked >= due {
            ensure!(
                !simulator.is_finished(),
                "the simulator finished before restart {}: {:?}",
                restarts + 1,
                simulator.await?
            );
            world.broker.restart_graceful().await?;
            restarts += 1;
            let stored = world.stored_serials().await.unwrap_or(0);
            eprintln!(
                "restart {restarts}: {acked} of {total} acked by the broker, {stored} identifiers stored, {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "no progress: {acked} acked"
        );
    }
    let delivered = tokio::time::timeout(Duration::from_secs(120), simulator)
        .await
        .with_context(|| {
            format!(
                "the simulator did not finish: {} of {total} acked",
                progress.position()
            )
        })???;
    ensure!(
        delivered.reconnects as usize >= RESTARTS,
        "the simulator reconnected {} times for {RESTARTS} restarts",
        delivered.reconnects
    );
    // The simulator's record: every message acknowledged, none twice.
    let acked: BTreeSet<&str> = delivered.acked.iter().map(String::as_str).collect();
    ensure!(
        delivered.acked.len() == total && acked.len() == total,
        "{} PUBACKs recorded, {} distinct, for {total} messages",
        delivered.acked.len(),
        acked.len()
    );
    ensure!(plan.messages.iter().all(|m| acked.contains(m.id.as_str())));

    // batch_close was acknowledged: once linegate has it, the batch is reconciled.
    let b = poll_until("the batch closed", Duration::from_secs(600), async || {
        let b: BatchDetail = cli_json(&["batch", "show", &batch], &world.config).await?;
        Ok((b.row.state == "closed").then_some(b))
    })
    .await?;
    let e = &plan.expected;
    let level = |name: &str, l| {
        let want = e.levels.get(&l).copied().unwrap_or_default();
        let got = b.report.level(name);
        (want.commissioned, want.aggregated, want.unaggregated)
            == (got.commissioned, got.aggregated, got.unaggregated)
    };
    ensure!(
        b.report_final
            && level("each", Level::Each)
            && level("pack", Level::Pack)
            && level("logistic", Level::Logistic)
            && b.report.good_units == e.good_units
            && b.report.loose == 0,
        "the gateway reconciled {:#?}; the plan says {:?}",
        b.report,
        e.levels
    );
    let q: Vec<QuarantineRow> = cli_json(&["quarantine", "list"], &world.config).await?;
    ensure!(
        q.is_empty(),
        "refused (duplicates?): {:#?}",
        &q[..q.len().min(5)]
    );
    for (key, commissioned, packed) in sample_units(&plan, 8)? {
        let s: SerialDetail = cli_json(&["serial", "show", &key], &world.config).await?;
        let ids: Vec<&str> = s.history.iter().map(|h| h.message_id.as_str()).collect();
        ensure!(
            ids == [commissioned.as_str(), packed.as_str()],
            "{key}: history {ids:?}, sent as {commissioned} and {packed}"
        );
    }
    // Subscribed again after every restart (the last one may still be reconnecting).
    poll_until(
        "a subscription after every restart",
        Duration::from_secs(60),
        async || {
            let subscribed = plain(&daemon.log()).matches("subscribed filter=").count();
            Ok((subscribed > RESTARTS).then_some(()))
        },
    )
    .await?;
    eprintln!(
        "{total} messages, {RESTARTS} broker restarts, {} simulator reconnects: {:.1} s",
        delivered.reconnects,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test]
async fn mqtt_resubscribes_and_republishes_state_after_a_broker_forgot_everything() -> Result<()> {
    let dir = MqttWorld::dir()?;
    let setup = Setup {
        persistence: false,
        secured: None,
    };
    let mut world = MqttWorld::start(dir, &setup, |b| b.url(), "", "").await?;
    let daemon = world.daemon().await?;
    world.broker.restart().await?;
    // No session at the broker any more: only a new subscription brings messages.
    poll_until(
        "the daemon subscribing again",
        Duration::from_secs(60),
        async || {
            let log = plain(&daemon.log());
            Ok((log.matches("subscribed filter=").count() >= 2).then_some(()))
        },
    )
    .await?;
    ensure!(plain(&daemon.log()).contains("session_present=false"));

    let line = world.line_client("plc").await?;
    let topic = events_topic(LINE);
    let tag = run_tag();
    let codes: Vec<String> = (0..5).map(|i| code(&format!("S{tag}{i}"))).collect();
    line.publish(&topic, batch_open("o", "B-NP"), "o").await?;
    line.publish(&topic, commission("c", "B-NP", &codes), "c")
        .await?;
    line.wait_acked(2, Duration::from_secs(30)).await?;
    world.wait_serials(5, Duration::from_secs(60)).await?;

    // The HMI's view: retained, published again after the broker lost it, with the counts.
    let hmi = world.line_client("hmi").await?;
    hmi.subscribe(&format!("{TOPIC_PREFIX}/lines/{LINE}/state"))
        .await?;
    loop {
        let state = next_json(&hmi).await?;
        let batch = &state["batches"][0];
        if batch["batch"] == "B-NP" && batch["commissioned"] == 5 {
            ensure!(
                state["intake"] == "open" && state["line"] == LINE,
                "{state}"
            );
            ensure!(
                batch["state"] == "running" && batch["rejected"] == 0,
                "{state}"
            );
            break;
        }
    }
    Ok(())
}
