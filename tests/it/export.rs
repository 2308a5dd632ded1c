//! `linegate export`, run as the real binary against a batch the real daemon recorded from a
//! line over MQTT: the End of Batch in each of the three formats and in another variant, every
//! file validated against GS1's official schema (XSD with xmllint, JSON Schema with the
//! `jsonschema` crate), the reconciliation report beside it, and the summary naming what was
//! written. A batch that does not exist gets an error saying where to look.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::support::ledger::{CASE_GTIN, LineSession, aggregate, batch_open_with, case_code};
use crate::support::{GTIN, Gateway, batch_close, code, commission, run_tag, serials};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference");

async fn xmllint(file: &Path, xsd: &str) -> Result<()> {
    let out = tokio::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(format!("{REFERENCE}/{xsd}"))
        .arg(file)
        .output()
        .await
        .context("run xmllint")?;
    ensure!(
        out.status.success(),
        "{} does not validate against {xsd}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn json_schema_errors(doc: &Value) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("{REFERENCE}/epcis-2.0/epcis-json-schema.json"))?;
    let schema: Value = serde_json::from_str(&text)?;
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| anyhow::anyhow!("schema: {e}"))?;
    Ok(validator.iter_errors(doc).map(|e| e.to_string()).collect())
}

async fn validate(format: &str, file: &Path) -> Result<()> {
    match format {
        "epcis-1.2" => xmllint(file, "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd").await,
        "epcis-2.0-xml" => xmllint(file, "epcis-2.0/xsd/EPCglobal-epcis-2_0.xsd").await,
        "epcis-2.0-json" => {
            let doc: Value = serde_json::from_slice(&std::fs::read(file)?)?;
            let errors = json_schema_errors(&doc)?;
            ensure!(errors.is_empty(), "JSON Schema errors: {errors:#?}");
            Ok(())
        }
        other => bail!("unknown format {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_end_of_batch_in_every_format_and_each_validates() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "export").await?;
    let tag = run_tag();
    let batch = format!("X{tag}");
    let units: Vec<String> = serials(&tag, 20).iter().map(|s| code(s)).collect();
    let cases: Vec<String> = (0..2).map(|n| case_code(&format!("K{tag}{n}"))).collect();
    line.send(batch_open_with(
        "open",
        &batch,
        GTIN,
        &[CASE_GTIN],
        Some(20),
    ))
    .await?;
    line.send(commission("c-units", &batch, &units)).await?;
    line.send(commission("c-cases", &batch, &cases)).await?;
    line.send(aggregate("a-0", &cases[0], &units[..10])).await?;
    line.send(aggregate("a-1", &cases[1], &units[10..])).await?;
    line.send(batch_close("close", &batch)).await?;
    line.sync().await?;

    let dir = tempfile::tempdir()?;
    for (format, ext) in [
        ("epcis-1.2", "xml"),
        ("epcis-2.0-json", "jsonld"),
        ("epcis-2.0-xml", "xml"),
    ] {
        let file = dir.path().join(format!("eob-{format}.{ext}"));
        let out = gw
            .supervisor(&[
                "export",
                &batch,
                "--format",
                format,
                "--output",
                file.to_str().context("path")?,
                "--json",
            ])
            .await?;
        ensure!(out.status.success(), "export {format}: {}", out.stderr);
        let summary: Value = serde_json::from_str(out.stdout.trim())
            .with_context(|| format!("summary of {format}: {}", out.stdout))?;
        // Commission of units, of cases; a packing per case; the product release.
        ensure!(summary["events"] == 5, "{format}: {summary}");
        ensure!(summary["identifiers"] == 22, "{format}: {summary}");
        ensure!(
            summary["documents"].as_array().map(Vec::len) == Some(1),
            "{summary}"
        );
        validate(format, &file).await?;
        let text = std::fs::read_to_string(&file)?;
        for unit in &units[..3] {
            let serial = unit.rsplit("(21)").next().unwrap_or_default();
            ensure!(text.contains(serial), "{format}: {serial} missing");
        }
        let report = std::fs::read_to_string(format!("{}.reconciliation.json", file.display()))
            .context("the reconciliation report beside the document")?;
        let report: Value = serde_json::from_str(&report)?;
        ensure!(report.is_object(), "report {report}");
    }

    // Another variant: no aggregation events at all.
    let file = dir.path().join("eob-no-agg.xml");
    let out = gw
        .supervisor(&[
            "export",
            &batch,
            "--variant",
            "commission-release",
            "--output",
            file.to_str().context("path")?,
        ])
        .await?;
    ensure!(out.status.success(), "export variant: {}", out.stderr);
    let text = std::fs::read_to_string(&file)?;
    ensure!(!text.contains("AggregationEvent"), "{text}");
    validate("epcis-1.2", &file).await?;

    let out = gw.supervisor(&["export", "NO-SUCH-BATCH"]).await?;
    ensure!(!out.status.success(), "an unknown batch must fail");
    ensure!(
        out.stderr.contains("linegate batch list"),
        "the error says where to look: {}",
        out.stderr
    );
    Ok(())
}
