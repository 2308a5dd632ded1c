//! End-of-batch reconciliation of a realistic batch, through the real broker and daemon.
//!
//! A 10,000-unit batch is commissioned in messages of 100–500 codes, packed 100 units per case
//! into 100 case SGTINs; three camera rejects are unpacked and destroyed, two QA samples unpacked
//! and sampled; then the line closes the batch. The report stored at close (`linegate batch
//! show`) must count every level exactly, give the yield against the plan and name the samples
//! that still need a decision; the End-of-Batch document must reach the upstream with every
//! identifier the batch commissioned.

use std::time::Instant;

use anyhow::{Result, ensure};
use serde_json::{Value, json};

use crate::support::ledger::{
    CASE_GTIN, LineSession, aggregate, batch_open_with, case_code, disaggregate, sgtin_of,
    unit_event,
};
use crate::support::{
    DOC_DEADLINE, EXPIRY, GTIN, Gateway, LINE, LOT, batch_close, check_epcs, code, commission,
    run_tag, serials,
};

const UNITS: usize = 10_000;
const PER_CASE: usize = 100;
/// Camera rejects (destroyed) and QA samples, by unit index: spread over several cases.
const REJECTS: [usize; 3] = [17, 4_242, 9_999];
const SAMPLES: [usize; 2] = [123, 5_000];

/// Chunk sizes between 100 and 500 (random, the last one included) that add up to `n`.
fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n > 0 {
        let take = if n <= 500 {
            n
        } else {
            fastrand::usize(100..=500.min(n - 100))
        };
        sizes.push(take);
        n -= take;
    }
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_units_with_three_rejects_and_two_samples_reconcile() -> Result<()> {
    let started = Instant::now();
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "reconcile-10k").await?;
    let tag = run_tag();
    let batch = format!("R{tag}");
    let unit_serials = serials(&tag, UNITS);
    let units: Vec<String> = unit_serials.iter().map(|s| code(s)).collect();
    let case_serials: Vec<String> = (0..UNITS / PER_CASE)
        .map(|n| format!("K{tag}{n:03}"))
        .collect();
    let cases: Vec<String> = case_serials.iter().map(|s| case_code(s)).collect();

    let mut open: Value = serde_json::from_str(&batch_open_with(
        "open",
        &batch,
        GTIN,
        &[CASE_GTIN],
        Some(UNITS as u64),
    ))?;
    open["work_order"] = json!(format!("WO-{tag}"));
    line.send(open.to_string()).await?;
    let sizes = chunk_sizes(UNITS);
    ensure!(
        sizes.iter().all(|s| (100..=500).contains(s)) && sizes.iter().sum::<usize>() == UNITS,
        "chunking {sizes:?}"
    );
    let mut at = 0;
    for (i, size) in sizes.iter().enumerate() {
        let id = format!("commission-{i}");
        line.send(commission(&id, &batch, &units[at..at + size]))
            .await?;
        at += size;
    }
    line.send(commission("commission-cases", &batch, &cases))
        .await?;
    line.sync().await?;
    let commissioned = started.elapsed();

    for (c, case) in cases.iter().enumerate() {
        let children = &units[c * PER_CASE..(c + 1) * PER_CASE];
        line.send(aggregate(&format!("pack-{c}"), case, children))
            .await?;
    }
    line.sync().await?;
    let packed = started.elapsed();

    for (kind, picks, reason) in [
        ("destroy", &REJECTS[..], "camera reject"),
        ("sample", &SAMPLES[..], "QA retain sample"),
    ] {
        for &i in picks {
            let case = &cases[i / PER_CASE];
            let unit = std::slice::from_ref(&units[i]);
            line.send(disaggregate(&format!("unpack-{i}"), case, Some(unit)))
                .await?;
            line.send(unit_event(&format!("{kind}-{i}"), kind, unit, Some(reason)))
                .await?;
        }
    }
    line.send(batch_close("close", &batch)).await?;
    line.sync().await?;
    let closed = started.elapsed();

    let b = gw.batch(&batch).await?;
    let r = &b.report;
    let each = r.level("each");
    let pack = r.level("pack");
    ensure!(
        b.row.state == "closed" && b.report_final,
        "the report must be the one stored at close: {b:#?}"
    );
    ensure!(
        b.pack_gtins == [CASE_GTIN]
            && b.row.planned_quantity == Some(UNITS as u64)
            && b.work_order.as_deref() == Some(format!("WO-{tag}").as_str())
            && (b.row.line.as_str(), b.row.gtin.as_str()) == (LINE, GTIN)
            && (b.row.lot.as_str(), b.row.expiry.as_str()) == (LOT, EXPIRY)
            && !b.row.opened_at.is_empty()
            && b.row.closed_at.is_some()
            && b.failure.is_none(),
        "batch master data {b:#?}"
    );
    ensure!(
        b.row.serials == (UNITS + cases.len()) as u64,
        "serials {} (units and cases)",
        b.row.serials
    );
    ensure!(
        (
            each.commissioned,
            each.aggregated,
            each.unaggregated,
            each.destroyed,
            each.sampled,
            each.decommissioned,
            each.shipped
        ) == (10_000, 9_995, 0, 3, 2, 0, 0),
        "each level {each:?}"
    );
    ensure!(
        pack.commissioned == 100 && pack.destroyed == 0 && pack.sampled == 0,
        "pack level {pack:?}"
    );
    ensure!(
        !r.levels.contains_key("logistic"),
        "no SSCC in this batch: {r:?}"
    );
    ensure!(
        r.good_units == 9_995 && r.planned == Some(UNITS as u64),
        "{r:?}"
    );
    ensure!(
        r.yield_percent.is_some_and(|y| (y - 99.95).abs() < 1e-9),
        "yield {:?}",
        r.yield_percent
    );
    ensure!(
        r.loose == 0,
        "cases are the top level, nothing is loose: {r:?}"
    );
    let sampled_sentence = "2 sampled unit(s) await destroy, decommission or a status correction";
    ensure!(
        r.inconsistencies == [sampled_sentence],
        "inconsistencies {:?}",
        r.inconsistencies
    );

    // A reject's own record, and its case's.
    let reject = gw.serial(&units[REJECTS[1]]).await?;
    ensure!(
        reject.state == "destroyed"
            && reject.parents.is_empty()
            && reject.history.last().is_some_and(
                |h| h.event == "destroy" && h.reason.as_deref() == Some("camera reject")
            ),
        "reject {reject:#?}"
    );
    let case = gw.serial(&cases[REJECTS[1] / PER_CASE]).await?;
    ensure!(
        case.children.len() == PER_CASE - 1 && !case.children.contains(&units[REJECTS[1]]),
        "case of the reject holds {} units",
        case.children.len()
    );
    let sample = gw.serial(&units[SAMPLES[0]]).await?;
    ensure!(
        sample.state == "sampled" && sample.parents.is_empty(),
        "sample {sample:#?}"
    );

    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    let delivered = started.elapsed();
    // The default End of Batch leaves the units taken out (rejects, samples) out of it.
    let taken_out = |i: &usize| REJECTS.contains(i) || SAMPLES.contains(i);
    let mut epcs: Vec<String> = (unit_serials.iter().enumerate())
        .filter(|(i, _)| !taken_out(i))
        .map(|(_, s)| sgtin_of(GTIN, s))
        .collect();
    let case_epcs: Vec<String> = case_serials
        .iter()
        .map(|s| sgtin_of(CASE_GTIN, s))
        .collect();
    epcs.extend(case_epcs.iter().cloned());
    let doc = gw.check_end_of_batch(&req, &epcs).await?;
    // Each case's present contents in one aggregation, and the cases are the top level.
    let aggregations: Vec<_> = (doc.events.iter())
        .filter(|e| e.kind == "AggregationEvent")
        .collect();
    ensure!(
        aggregations.len() == case_epcs.len(),
        "{} aggregations",
        aggregations.len()
    );
    let in_cases: usize = aggregations.iter().map(|e| e.epcs.len()).sum();
    ensure!(
        in_cases == 9_995,
        "{in_cases} units packed in the aggregations"
    );
    check_epcs(&doc.released(), &case_epcs, &[])?;
    let rows = gw
        .wait_outbox("the End-of-Batch document delivered", |rows| {
            rows.iter().any(|r| r.state == "delivered")
        })
        .await?;
    ensure!(
        rows.len() == 1 && rows[0].batch.as_ref() == Some(&batch),
        "one document for the batch: {rows:#?}"
    );
    let quarantined = gw.quarantine().await?;
    let unexpected: Vec<_> = quarantined
        .iter()
        .filter(|q| !q.message_id.as_deref().unwrap_or("").starts_with("sync-"))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "valid messages quarantined: {unexpected:#?}"
    );
    eprintln!(
        "reconciliation: {} commission messages; committed after {commissioned:?}, \
         packed after {packed:?}, closed after {closed:?}, document upstream after {delivered:?}, \
         checked after {:?}",
        sizes.len() + 1,
        started.elapsed()
    );
    Ok(())
}
