//! What the demo shows at the end, read back from the gateway's store after it stopped.
//!
//! Each section compares the gateway's record with what the simulated line did: the quarantine
//! must hold exactly the faulty messages (with reasons an operator can act on), every reject and
//! sample must be in the state the line put it in, and the stored reconciliation must match the
//! line's own counts. Then the document: where it was filed, and whether it validates against
//! the official EPCIS 1.2 schema with `xmllint` (skipped, with a note, when either is missing).
//! Returns whether everything agreed; any disagreement makes the demo exit 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::upstream::Received;
use crate::cli;
use crate::config::Config;
use crate::simulate::{LineSpec, Plan};
use crate::store::ReadOnlyStore;

/// The EPCIS 1.2 schema, relative to the repository (`../shared/reference` beside it).
const XSD_REL: &str = "../shared/reference/epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd";

pub struct Inputs<'a> {
    /// The working directory as the user named it (for printing paths).
    pub shown_dir: &'a Path,
    pub config: &'a Config,
    pub spec: &'a LineSpec,
    pub plan: &'a Plan,
    pub document: &'a Received,
}

pub fn print(i: &Inputs<'_>) -> anyhow::Result<bool> {
    let store = ReadOnlyStore::open(&i.config.gateway.data_dir)?;
    let mut ok = true;

    let quarantine = store.quarantine()?;
    println!(
        "Refused by the gateway (quarantine: {} message(s)):",
        quarantine.len()
    );
    for q in &quarantine {
        let id = q.message_id.as_deref().unwrap_or("-");
        println!("  {id}  {:<16} {}", q.code, q.reason);
    }
    let mut got: Vec<(String, String)> = quarantine
        .iter()
        .map(|q| (q.message_id.clone().unwrap_or_default(), q.code.clone()))
        .collect();
    let mut want: Vec<(String, String)> = (i.plan.expected.refusals.iter())
        .map(|(id, code)| (id.clone(), code.to_string()))
        .collect();
    got.sort();
    want.sort();
    ok &= verdict(
        got == want,
        "exactly the faulty messages the line sent",
        &format!("expected {want:?}"),
    );

    let rejects = &i.plan.expected.rejects;
    println!(
        "\nRejects and samples on the line ({}), as the gateway recorded them:",
        rejects.len()
    );
    let mut by_reason: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (key, event, reason) in rejects {
        let recorded = store.serial(key)?;
        let state = recorded.as_ref().map_or("unknown", |s| s.state.as_str());
        let expected = match *event {
            "destroy" => "destroyed",
            "decommission" => "decommissioned",
            _ => "sampled",
        };
        if state != expected {
            wrong.push(format!("{key} is {state}, not {expected}"));
        }
        *by_reason.entry((state.to_string(), reason)).or_default() += 1;
    }
    for ((state, reason), n) in &by_reason {
        println!("  {n:>3} x {state:<15} {reason}");
    }
    ok &= verdict(
        wrong.is_empty(),
        "every unit in the state the line put it in",
        &wrong.join("; "),
    );

    let detail = store
        .batch(&i.spec.batch)?
        .with_context(|| format!("batch {} is not in the store", i.spec.batch))?;
    println!(
        "\nThe batch as `linegate batch show {}` reports it:",
        i.spec.batch
    );
    for line in cli::batch_text(&detail).lines() {
        println!("  {line}");
    }
    let e = &i.plan.expected;
    let same = detail.report.levels == e.levels && detail.report.good_units == e.good_units;
    let diff = format!(
        "line counted {:?} and {} good units; gateway {:?} and {}",
        e.levels, e.good_units, detail.report.levels, detail.report.good_units
    );
    ok &= verdict(
        same && detail.report_final,
        "the reconciliation matches the line's own counts",
        &diff,
    );

    let doc = i.document;
    let file_name = doc.path.file_name().unwrap_or_default();
    let shown = i.shown_dir.join("upstream").join(file_name);
    let xml = std::fs::read_to_string(&doc.path)
        .with_context(|| format!("reading {}", doc.path.display()))?;
    // Commission, aggregation and product release events (an identifier is in several).
    let events = xml.matches("<ObjectEvent>").count() + xml.matches("<AggregationEvent>").count();
    println!(
        "\nEnd-of-Batch document: {} ({} bytes, {events} events, Idempotency-Key {})",
        shown.display(),
        doc.bytes,
        doc.idempotency_key
    );
    for row in store.outbox()? {
        println!(
            "  outbox: {} to '{}' after {} attempt(s)",
            row.state, row.upstream, row.attempts
        );
    }
    ok &= schema_check(&doc.path);

    println!("\nLook around (the gateway is stopped; its store and configuration stay):");
    let cfg = i.shown_dir.join("linegate.toml");
    println!(
        "  linegate batch show {} --config {}",
        i.spec.batch,
        cfg.display()
    );
    println!("  linegate quarantine list --config {}", cfg.display());
    if let Some(unit) = &e.packed_unit {
        println!("  linegate serial show '{unit}' --config {}", cfg.display());
    }
    println!(
        "  linegate run --config {}    # the gateway again, with its embedded broker",
        cfg.display()
    );
    println!(
        "\n{}",
        if ok {
            "demo: done, everything agrees."
        } else {
            "demo: FAILED, see above."
        }
    );
    Ok(ok)
}

/// Prints a check's outcome; returns it.
fn verdict(ok: bool, what: &str, otherwise: &str) -> bool {
    if ok {
        println!("  ok: {what}");
    } else {
        println!("  MISMATCH: {what}: {otherwise}");
    }
    ok
}

/// Validates with xmllint against the EPCIS 1.2 XSD; a missing tool or schema is a note, not a
/// failure (the demo needs neither to run).
fn schema_check(doc: &Path) -> bool {
    let Some(xsd) = find_xsd() else {
        println!(
            "  schema: not checked: the EPCIS 1.2 XSD was not found at {XSD_REL} (set LINEGATE_EPCIS_XSD)"
        );
        return true;
    };
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg(doc)
        .output();
    match out {
        Err(_) => {
            println!("  schema: not checked: xmllint is not installed (apt install libxml2-utils)");
            true
        }
        Ok(o) if o.status.success() => {
            println!(
                "  schema: valid EPCIS 1.2 (xmllint --schema {})",
                xsd.display()
            );
            true
        }
        Ok(o) => {
            let diag = String::from_utf8_lossy(&o.stderr);
            println!("  schema: INVALID against {}:", xsd.display());
            diag.lines().take(20).for_each(|l| println!("    {l}"));
            false
        }
    }
}

/// The XSD: `LINEGATE_EPCIS_XSD`, else beside the working directory, else beside the sources
/// this binary was built from.
fn find_xsd() -> Option<PathBuf> {
    let from_env = std::env::var_os("LINEGATE_EPCIS_XSD").map(PathBuf::from);
    let candidates = [
        from_env,
        Some(PathBuf::from(XSD_REL)),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(XSD_REL)),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}
