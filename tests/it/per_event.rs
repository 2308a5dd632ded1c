//! Per-event reporting through the real daemon: a partner whose `messages` list the single ESM
//! messages gets one document per line message, in the order the line sent them, each a valid
//! EPCIS 1.2 document with the event the message describes — delivered over HTTP to the
//! test's upstream, with nothing for the kinds it does not take.

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::support::ledger::{CASE_GTIN, LineSession, aggregate, batch_open_with, case_code};
use crate::support::{
    EpcisDoc, GTIN, Gateway, code, commission, poll_until, run_tag, serials, validate_epcis12,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_taking_single_events_gets_one_document_per_line_message_in_order() -> Result<()>
{
    let gw = Gateway::start(&[]).await?;
    // This partner takes commission, aggregation and destroy messages one by one (no
    // sample, no End of Batch).
    let mut config = std::fs::read_to_string(&gw.config)?;
    config = config.replacen(
        "retry_max_ms = 500\n",
        "retry_max_ms = 500\nmessages = [\"commission\", \"aggregation\", \"destroy\"]\n",
        1,
    );
    std::fs::write(&gw.config, config)?;
    let _daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "per-event").await?;
    let tag = run_tag();
    let batch = format!("E{tag}");
    let units: Vec<String> = serials(&tag, 6).iter().map(|s| code(s)).collect();
    let case = case_code(&format!("K{tag}"));
    line.send(batch_open_with("open", &batch, GTIN, &[CASE_GTIN], None))
        .await?;
    // The reporter starts a new partner at the end of the log: wait until it has seen the
    // open (applied before any document-worthy message) by syncing first.
    line.sync().await?;
    line.send(commission("c-1", &batch, &units[..3])).await?;
    line.send(commission("c-2", &batch, &units[3..])).await?;
    line.send(commission("c-case", &batch, std::slice::from_ref(&case)))
        .await?;
    line.send(aggregate("a-1", &case, &units[..4])).await?;
    let sample = serde_json::json!({"id": "s-1", "type": "sample", "codes": [units[4]]});
    line.send(sample.to_string()).await?;
    let destroy = serde_json::json!({"id": "d-1", "type": "destroy", "codes": [units[5]],
                                     "reason": "crushed"});
    line.send(destroy.to_string()).await?;
    line.sync().await?;

    let upstream = gw.upstream();
    let requests = poll_until(
        "five per-event documents",
        Duration::from_secs(30),
        async || {
            let r = upstream.requests();
            Ok((r.len() >= 5).then_some(r))
        },
    )
    .await?;
    let mut steps = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        let body = req.body_text()?;
        validate_epcis12(body, gw.dir.path(), &format!("per-event-{i}.xml")).await?;
        let doc = EpcisDoc::parse(body)?;
        ensure!(doc.events.len() == 1, "document {i}: {:?}", doc.events);
        let e = &doc.events[0];
        steps.push(format!(
            "{} {} {} {}",
            e.kind,
            e.action,
            e.biz_step.rsplit(':').next().unwrap_or_default(),
            e.epcs.len()
        ));
    }
    // The sample is not taken; the case's commission is its own document.
    ensure!(
        steps
            == [
                "ObjectEvent ADD commissioning 3",
                "ObjectEvent ADD commissioning 3",
                "ObjectEvent ADD commissioning 1",
                "AggregationEvent ADD packing 4",
                "ObjectEvent DELETE destroying 1",
            ],
        "documents in order: {steps:#?}"
    );
    let first = EpcisDoc::parse(requests[0].body_text()?)?;
    let serial = units[0].rsplit("(21)").next().context("serial")?;
    ensure!(
        first.epcs.iter().any(|e| e.ends_with(serial)),
        "the first document names the first commissioned units: {:?}",
        first.epcs
    );
    Ok(())
}
