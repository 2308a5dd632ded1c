//! Shipments through the real broker and the real binary: what leaves, what is refused, what the
//! partner gets.
//!
//! A warehouse ships a pallet (cases of units on it) with a `ship` message. The daemon must
//! mark the pallet and everything under it shipped — keeping the hierarchy — and send the
//! partner (whose `messages` include `shipment` by default) a Shipment document: valid EPCIS
//! 1.2, the shipping event over the pallet with the purchase order and despatch advice. It must
//! refuse, with the documented codes, a despatch-advice number used twice and a destroyed unit,
//! and take a sale back with `void_shipment`. `linegate ship` does the same from the command
//! line, while the daemon runs.

use anyhow::{Result, ensure};
use serde_json::{Value, json};

use crate::support::ledger::{
    CASE_GTIN, LineSession, aggregate, batch_open_with, case_code, sscc_code, unit_event,
};
use crate::support::{
    DOC_DEADLINE, Daemon, EpcisDoc, GTIN, Gateway, LINE, cli, cli_json, code, commission,
    poll_until, run_tag, serials, validate_epcis12,
};

/// A running daemon with one running batch: units 0–3 in cases 0 and 1 on a pallet, unit 4
/// loose.
struct World {
    line: LineSession,
    _daemon: Daemon,
    gw: Gateway,
    tag: String,
    units: Vec<String>,
    cases: Vec<String>,
    pallet: String,
}

async fn world(name: &str) -> Result<World> {
    let gw = Gateway::start(&[]).await?;
    let daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, name).await?;
    let tag = run_tag();
    let batch = format!("SH{tag}");
    let units: Vec<String> = serials(&tag, 5).iter().map(|s| code(s)).collect();
    let cases: Vec<String> = (0..2).map(|n| case_code(&format!("C{tag}{n}"))).collect();
    let pallet = sscc_code(7);
    line.send(batch_open_with("open", &batch, GTIN, &[CASE_GTIN], None))
        .await?;
    let all = [&units[..], &cases[..], std::slice::from_ref(&pallet)].concat();
    line.send(commission("commission", &batch, &all)).await?;
    line.send(aggregate("case-0", &cases[0], &units[0..2]))
        .await?;
    line.send(aggregate("case-1", &cases[1], &units[2..4]))
        .await?;
    line.send(aggregate("pallet", &pallet, &cases)).await?;
    line.sync().await?;
    Ok(World {
        line,
        _daemon: daemon,
        gw,
        tag,
        units,
        cases,
        pallet,
    })
}

/// Waits until `outbox list` shows a delivered document of `kind`; returns every row.
async fn delivered(gw: &Gateway, kind: &str) -> Result<Vec<Value>> {
    poll_until(&format!("a delivered {kind}"), DOC_DEADLINE, async || {
        let rows: Vec<Value> = cli_json(&["outbox", "list"], &gw.config).await?;
        let done = (rows.iter()).any(|r| r["kind"] == kind && r["state"] == "delivered");
        Ok(done.then_some(rows))
    })
    .await
}

fn ship(id: &str, shipment: &str, codes: &[String]) -> String {
    json!({"id": id, "type": "ship", "shipment": shipment, "kind": "sale", "po": "PO-7781",
           "codes": codes, "to_party": "0614141000005",
           "to_location": "urn:epc:id:sgln:0614141.00020.0"})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_pallet_takes_its_hierarchy_and_the_partner_gets_the_shipment() -> Result<()> {
    let w = world("ship-pallet").await?;
    let desadv = format!("DLV-{}", w.tag);

    w.line
        .send(ship("ship-1", &desadv, std::slice::from_ref(&w.pallet)))
        .await?;
    w.line
        .send(ship("ship-again", &desadv, &w.units[4..5]))
        .await?;
    w.line
        .expect_reject("ship-again", "shipment_exists")
        .await?;
    w.line
        .send(unit_event(
            "destroy",
            "destroy",
            &w.units[4..5],
            Some("crushed"),
        ))
        .await?;
    w.line
        .send(ship(
            "ship-destroyed",
            &format!("D2-{}", w.tag),
            &w.units[4..5],
        ))
        .await?;
    let n = w.line.expect_reject("ship-destroyed", "destroyed").await?;
    ensure!(
        n.reason.contains(&w.units[4]),
        "the refusal names the unit: {n:?}"
    );
    w.line.sync().await?;

    for c in w.units[..4].iter().chain(&w.cases).chain([&w.pallet]) {
        let s = w.gw.serial(c).await?;
        ensure!(s.state == "shipped", "{c} must be shipped: {s:#?}");
    }
    let unit = w.gw.serial(&w.units[1]).await?;
    ensure!(
        unit.parents == [w.cases[0].clone(), w.pallet.clone()],
        "{unit:#?}"
    );
    let pallet = w.gw.serial(&w.pallet).await?;

    let req = w.gw.upstream().next_request(DOC_DEADLINE).await?;
    let xml = req.body_text()?;
    validate_epcis12(xml, w.gw.dir.path(), "shipment.xml").await?;
    let doc = EpcisDoc::parse(xml)?;
    ensure!(
        doc.biz_steps == ["urn:epcglobal:cbv:bizstep:shipping"],
        "{:?}",
        doc.biz_steps
    );
    ensure!(
        doc.events[0].epcs == [pallet.epc.clone()],
        "top level only: {:?}",
        doc.events
    );
    for transaction in [
        "urn:epcglobal:cbv:bt:0614141000005:PO-7781".to_string(),
        format!("urn:epcglobal:cbv:bt:0361414000001:{desadv}"),
    ] {
        ensure!(xml.contains(&transaction), "{transaction} missing:\n{xml}");
    }
    let rows = delivered(&w.gw, "shipment").await?;
    ensure!(
        rows.len() == 1,
        "only the shipment is sent (the batch is open): {rows:#?}"
    );

    let void = json!({"id": "void", "type": "void_shipment", "shipment": desadv,
                      "reason": "ORDER_CANCELLED"});
    w.line.send(void.to_string()).await?;
    w.line.sync().await?;
    let unit = w.gw.serial(&w.units[3]).await?;
    ensure!(
        unit.state == "commissioned",
        "voided: available again {unit:#?}"
    );
    ensure!(
        unit.parents == [w.cases[1].clone(), w.pallet.clone()],
        "{unit:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linegate_ship_records_a_shipment_while_the_daemon_runs() -> Result<()> {
    let w = world("ship-cli").await?;
    let config = w.gw.config.to_str().expect("UTF-8 path").to_string();
    let desadv = format!("TRF-{}", w.tag);
    let args = |codes: &[&str]| {
        let mut a = vec![
            "ship",
            &desadv,
            "--line",
            LINE,
            "--kind",
            "transfer",
            "--to-party",
            "0361414000001",
            "--to-location",
            "0361414000025",
            "--reason",
            "WMS down",
            "--config",
            &config,
            "--json",
        ];
        a.extend_from_slice(codes);
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = async |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        cli(&refs).await
    };
    let out = run(args(&[&w.pallet, &w.units[4]])).await?;
    ensure!(out.status.success(), "{}", out.all_text());
    let v: Value = serde_json::from_str(&out.stdout)?;
    ensure!(v["ok"] == true, "{v}");
    ensure!(
        v["shipment"]["identifiers"] == 8,
        "pallet, 2 cases, 4 units, 1 loose unit: {v}"
    );
    ensure!(
        v["shipment"]["top_level"].as_array().map(Vec::len) == Some(2),
        "{v}"
    );
    ensure!(w.gw.serial(&w.units[0]).await?.state == "shipped");

    let again = run(args(&[&w.units[0]])).await?;
    ensure!(
        !again.status.success(),
        "a used number is refused: {}",
        again.all_text()
    );
    let v: Value = serde_json::from_str(&again.stdout)?;
    ensure!(v["code"] == "shipment_exists", "{v}");

    delivered(&w.gw, "shipment").await?;
    let void = json!({"id": "void", "type": "void_shipment", "shipment": desadv, "reason": "X"});
    w.line.send(void.to_string()).await?;
    let n = w.line.expect_reject("void", "invalid_transition").await?;
    ensure!(n.reason.contains("only a sale"), "{n:?}");
    Ok(())
}
