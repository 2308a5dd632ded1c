//! `linegate simulate` against a running gateway: the simulator's own counts are the gateway's.
//!
//! The real binary plays a seeded batch (2,000 units, 50 per case, 8 cases per pallet, 1 %
//! rejects, 4 samples, three faulty messages) through the harness mosquitto to the real daemon.
//! Once the End-of-Batch document reached the upstream, the reconciliation stored at close
//! (`linegate batch show --json`) must equal what the simulator says it sent, level by level,
//! and the quarantine must hold exactly its faulty messages. One code per message is covered too.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde::Deserialize;

use crate::support::ledger::LevelCounts;
use crate::support::{DOC_DEADLINE, Gateway, cli};

/// The part of `linegate simulate --json` this test reads.
#[derive(Debug, Deserialize)]
struct Summary {
    batch: String,
    messages: usize,
    units: u64,
    cases: u32,
    pallets: u32,
    faults: usize,
    levels: BTreeMap<String, LevelCounts>,
    good_units: u64,
    events_per_sec: f64,
}

async fn simulate_and_reconcile(extra: &[&str], seed: &str) -> Result<()> {
    let started = Instant::now();
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let config = gw.config.to_str().context("config path")?;
    let batch = format!("SIM-IT-{seed}-{}", crate::support::run_tag());
    let mut args = vec![
        "simulate",
        "--config",
        config,
        "--units",
        "2000",
        "--case-size",
        "50",
        "--pallet-size",
        "8",
        "--reject-rate",
        "0.01",
        "--samples",
        "4",
        "--faults",
        "3",
        "--seed",
        seed,
        "--batch",
        &batch,
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let out = cli(&args).await?;
    ensure!(
        out.status.success(),
        "linegate simulate failed:\n{}",
        out.all_text()
    );
    let s: Summary = serde_json::from_str(&out.stdout)
        .with_context(|| format!("summary is not the expected JSON:\n{}", out.stdout))?;
    ensure!(
        s.batch == batch && s.units == 2000 && s.faults == 3,
        "{s:?}"
    );
    ensure!(s.cases >= 40 && s.pallets == s.cases.div_ceil(8), "{s:?}");

    // batch_close is the last message: its document upstream means everything before is in.
    gw.upstream().next_request(DOC_DEADLINE).await?;
    let b = gw.batch(&batch).await?;
    ensure!(b.row.state == "closed" && b.report_final, "{b:#?}");
    ensure!(
        b.report.levels == s.levels && b.report.good_units == s.good_units,
        "the gateway reconciled {:?} / {} good units; the simulator sent {:?} / {}",
        b.report.levels,
        b.report.good_units,
        s.levels,
        s.good_units
    );
    ensure!(b.report.loose == 0, "loose units: {b:#?}");
    let q = gw.quarantine().await?;
    let mut codes: Vec<&str> = q.iter().map(|r| r.code.as_str()).collect();
    codes.sort();
    ensure!(
        codes == ["duplicate_scan", "invalid_code", "label_mismatch"],
        "quarantine {q:#?}"
    );
    eprintln!(
        "simulate{extra:?}: {} messages at {:.0} events/s; reconciled in {:?}",
        s.messages,
        s.events_per_sec,
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_batch_reconciles_to_the_simulators_counts() -> Result<()> {
    simulate_and_reconcile(&[], "7").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_per_message_reconciles_too() -> Result<()> {
    simulate_and_reconcile(&["--codes-per-message", "1"], "8").await
}
