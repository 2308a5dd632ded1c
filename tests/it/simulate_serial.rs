//! `linegate simulate --transport serial`: the simulator is the line's scanners, on real ptys.
//!
//! The real daemon runs with five scanner stations — a labeler (commission, CR, ACK/NAK
//! replies), a case packer (aggregate, parent first, closed by count or close code, STX/ETX), a
//! palletiser (aggregate, children first, SSCC parents, CRLF with a prefix the station strips),
//! a reject bin that destroys (custom terminator) and a QA station (LF) — whose device paths do
//! not exist yet. The real binary plays a seeded batch over serial: it must open the ptys
//! itself, point the stations' device paths at them, write every code as a scanner would, and
//! return only once everything is committed and the batch is closed. The store must then hold
//! what the same seeded plan (regenerated here) says, as the stations make it: units
//! commissioned by the labeler, packed by the packer into cases the palletiser put on
//! pallets, rejects destroyed by the bin (the plan's decommissions too — the bin destroys),
//! samples sampled by QA, the three faulty reads refused at the labeler, the batch closed
//! and its document delivered. The device links are gone afterwards, and a configuration
//! whose device is a real file is refused without touching it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use chrono::NaiveDate;
use linegate::rules::reconcile::Level;
use linegate::simulate::{LineSpec, generate};
use serde::Deserialize;

use crate::support::ledger::LevelCounts;
use crate::support::{DOC_DEADLINE, Gateway, cli, run_tag};

/// The part of `linegate simulate --json` this test reads.
#[derive(Debug, Deserialize)]
struct Summary {
    transport: String,
    batch: String,
    units: u64,
    cases: u32,
    pallets: u32,
    faults: usize,
    levels: BTreeMap<String, LevelCounts>,
    good_units: u64,
    scanner_reads: u64,
    via_store: usize,
    elapsed_secs: f64,
}

const UNITS: u32 = 600;
const CASE: u32 = 24;
const PALLET: u32 = 5;
const SEED: u64 = 9;
const LOT: &str = "LOTSER9";
const EXPIRY: &str = "2028-06-30";

/// The five stations, their devices in `devices` (which does not exist yet).
fn scanners(devices: &Path) -> String {
    let dev = |id: &str| devices.join(format!("usb-{id}-if00")).display().to_string();
    format!(
        r#"
[[scanner]]
id = "labeler"
line = "L1"
station = "commission"
device = "{}"
framing = "cr"
reply_ok = "\u0006"
reply_reject = "\u0015"

[[scanner]]
id = "packer"
line = "L1"
station = "aggregate"
device = "{}"
framing = "stx_etx"
order = "parent_first"
parents = "pack_gtins"
children_per_parent = {CASE}
close_code = "CLOSE"
reply_ok = "\u0006"

[[scanner]]
id = "palletiser"
line = "L1"
station = "aggregate"
device = "{}"
framing = "crlf"
strip_prefix = "SCN:"
order = "children_first"
parents = "sscc"

[[scanner]]
id = "bin"
line = "L1"
station = "reject"
device = "{}"
framing = "custom"
terminator = "\u0004"
reject_action = "destroy"

[[scanner]]
id = "qa"
line = "L1"
station = "sample"
device = "{}"
framing = "lf"
"#,
        dev("labeler"),
        dev("packer"),
        dev("palletiser"),
        dev("bin"),
        dev("qa")
    )
}

/// The plan the CLI derives from the options below (same seed, same master data).
fn spec(batch: &str) -> LineSpec {
    LineSpec {
        line: "L1".into(),
        batch: batch.into(),
        gtin: "00361414567894".into(),
        case_gtin: "50361414567899".into(),
        company_prefix: "0361414".into(),
        lot: LOT.into(),
        expiry: NaiveDate::parse_from_str(EXPIRY, "%Y-%m-%d").unwrap(),
        units: UNITS,
        case_size: CASE,
        pallet_size: PALLET,
        reject_rate: 0.02,
        samples: 3,
        faults: 3,
        codes_per_message: CASE,
        seed: SEED,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_over_serial_plays_the_batch_through_the_scanner_stations() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let devices = gw.dir.path().join("sim-dev");
    let mut text = std::fs::read_to_string(&gw.config)?;
    text.push_str(&scanners(&devices));
    std::fs::write(&gw.config, &text)?;
    let _daemon = gw.daemon().await?;
    let config = gw.config.to_str().context("config path")?;
    let batch = format!("SIMSER-{}", run_tag());
    let (units, case, pallet, seed) = (
        UNITS.to_string(),
        CASE.to_string(),
        PALLET.to_string(),
        SEED.to_string(),
    );
    let args = [
        "simulate",
        "--transport",
        "serial",
        "--config",
        config,
        "--units",
        &units,
        "--case-size",
        &case,
        "--pallet-size",
        &pallet,
        "--reject-rate",
        "0.02",
        "--samples",
        "3",
        "--faults",
        "3",
        "--seed",
        &seed,
        "--batch",
        &batch,
        "--lot",
        LOT,
        "--expiry",
        EXPIRY,
        "--json",
        "--quiet",
    ];
    let out = cli(&args).await?;
    ensure!(out.status.success(), "simulate failed:\n{}", out.all_text());
    let s: Summary = serde_json::from_str(&out.stdout)
        .with_context(|| format!("summary is not the expected JSON:\n{}", out.stdout))?;
    let plan = generate(&spec(&batch))?;
    let e = &plan.expected;
    ensure!(
        s.transport == "serial" && s.batch == batch && s.units == u64::from(UNITS),
        "{s:?}"
    );
    ensure!(
        (s.cases, s.pallets, s.faults) == (e.cases, e.pallets, 3),
        "the CLI played another plan than {e:?}: {s:?}"
    );
    // Only the batch's open and close went through the store; every code was read.
    ensure!(s.via_store == 2, "{s:?}");
    ensure!(s.scanner_reads > u64::from(2 * UNITS), "{s:?}");

    // Returned only after the close was committed: the gateway reconciled it already.
    let b = gw.batch(&batch).await?;
    ensure!(b.row.state == "closed" && b.report_final, "{b:#?}");
    let each = e.levels[&Level::Each];
    let got = b.report.level("each");
    ensure!(
        got.commissioned == u64::from(UNITS)
            && got.destroyed == each.destroyed + each.decommissioned
            && got.decommissioned == 0
            && got.sampled == 3
            && got.aggregated == each.aggregated
            && got.unaggregated == 0,
        "the bin destroys every reject, QA samples three, the rest is packed: {:#?} (plan {each:?})",
        b.report
    );
    let (packs, pallets) = (b.report.level("pack"), b.report.level("logistic"));
    ensure!(
        packs.commissioned == u64::from(e.cases)
            && packs.aggregated == u64::from(e.cases)
            && pallets.commissioned == u64::from(e.pallets),
        "{:#?}",
        b.report
    );
    ensure!(
        b.report.levels == s.levels && b.report.good_units == s.good_units,
        "the summary's expectation {:?} is not what the gateway reconciled {:?}",
        s.levels,
        b.report.levels
    );
    ensure!(b.report.loose == 0, "loose units: {b:#?}");

    // Each identifier was handled by the station that should have handled it.
    let packed = e.packed_unit.as_deref().context("a packed unit")?;
    let unit = gw.serial(packed).await?;
    let by = |prefix: &str| {
        unit.history
            .iter()
            .any(|h| h.message_id.starts_with(prefix))
    };
    ensure!(
        unit.state == "commissioned" && unit.parents.len() == 2 && by("labeler-") && by("packer-"),
        "{unit:#?}"
    );
    let case_label = gw.serial(&unit.parents[0]).await?;
    ensure!(
        case_label
            .history
            .iter()
            .any(|h| h.message_id.starts_with("palletiser-")),
        "{case_label:#?}"
    );
    for (key, event, _) in &e.rejects {
        let r = gw.serial(key).await?;
        let (state, station) = match *event {
            "sample" => ("sampled", "qa-"),
            _ => ("destroyed", "bin-"),
        };
        let ended_there = r.history.iter().any(|h| h.message_id.starts_with(station));
        ensure!(
            r.state == state && r.parents.is_empty() && ended_there,
            "{key} ({event}): {r:#?}"
        );
    }
    let mut refused: Vec<(String, String)> = gw
        .quarantine()
        .await?
        .into_iter()
        .map(|q| (q.topic, q.code))
        .collect();
    refused.sort();
    let expected: Vec<(String, String)> = ["duplicate_scan", "invalid_code", "label_mismatch"]
        .iter()
        .map(|c| ("scanner/labeler".to_string(), c.to_string()))
        .collect();
    ensure!(refused == expected, "quarantine {refused:?}");
    gw.upstream().next_request(DOC_DEADLINE).await?;

    // The virtual scanners are unplugged: their links are gone.
    let left: Vec<_> = std::fs::read_dir(&devices)?.collect();
    ensure!(left.is_empty(), "links left behind: {left:?}");

    // A second batch, paced: 48 units at 16 units/s take at least 47/16 s — longer than the
    // stations take to open the new ptys (at most 2 s), so an unpaced run cannot pass for one.
    // The stations still count their messages of the first run: they must not let the
    // simulator run ahead.
    let paced_batch = format!("{batch}-R");
    let paced = [
        "simulate",
        "--transport",
        "serial",
        "--config",
        config,
        "--units",
        "48",
        "--case-size",
        &case,
        "--samples",
        "0",
        "--reject-rate",
        "0",
        "--seed",
        "10",
        "--batch",
        &paced_batch,
        "--rate",
        "16",
        "--json",
        "--quiet",
    ];
    let out = cli(&paced).await?;
    ensure!(
        out.status.success(),
        "paced simulate failed:\n{}",
        out.all_text()
    );
    let s: Summary = serde_json::from_str(&out.stdout)?;
    ensure!(
        s.elapsed_secs >= 2.9,
        "--rate 16 played 48 units in {} s",
        s.elapsed_secs
    );
    let b = gw.batch(&paced_batch).await?;
    ensure!(
        b.row.state == "closed" && b.report.level("each").aggregated == 48,
        "{b:#?}"
    );

    // A device that is a real file (a port, for all the simulator knows) is not touched.
    let port = devices.join("usb-labeler-if00");
    std::fs::write(&port, "a real port")?;
    let out = cli(&args).await?;
    ensure!(
        !out.status.success() && out.stderr.contains("exists and is not a link"),
        "{}",
        out.all_text()
    );
    ensure!(std::fs::read_to_string(&port)? == "a real port");
    Ok(())
}
