//! Bad input from a line is quarantined and reported, never fatal.
//!
//! Line controllers send broken JSON, unknown message types, missing fields,
//! malformed or foreign codes and oversized payloads. Each such message must
//! be acked (or the broker would redeliver it forever), kept in quarantine
//! with a reason, and reported on the line's rejects topic with the documented
//! code; no part of a rejected message may be applied; and the daemon must
//! keep serving the line, so a later valid batch comes out complete.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::support::{
    DOC_DEADLINE, EXPIRY, GTIN, Gateway, LINE, LOT, QuarantineRow, TOPIC_PREFIX, batch_close,
    batch_open, code, commission, events_topic, run_tag, serials,
};

struct Case {
    what: &'static str,
    line: &'static str,
    payload: Vec<u8>,
    code: &'static str,
    /// The `id` the notice must carry; `None` = not checked (unparseable input).
    id: Option<&'static str>,
}

fn case(what: &'static str, code: &'static str, id: Option<&'static str>, payload: Value) -> Case {
    Case {
        what,
        line: LINE,
        payload: payload.to_string().into_bytes(),
        code,
        id,
    }
}

fn cases(open: &str, good: &[String]) -> Vec<Case> {
    let huge = format!(
        r#"{{"id":"bad-huge","type":"commission","batch":"{open}","codes":["{}"]}}"#,
        "A".repeat(10 * 1024 * 1024)
    );
    let other_gtin = "(01)50361414567899(21)FOREIGN1";
    let mut unknown_line = case(
        "unknown line",
        "unknown_line",
        Some("bad-line"),
        json!({"id": "bad-line", "type": "batch_open", "batch": "ELSEWHERE", "gtin": GTIN,
               "lot": LOT, "expiry": EXPIRY}),
    );
    unknown_line.line = "L9";
    vec![
        Case {
            what: "invalid JSON",
            line: LINE,
            payload: br#"{"id": "bad-json", "type": "commission", "batch": "#.to_vec(),
            code: "invalid_json",
            id: None,
        },
        case(
            "unknown type",
            "unknown_type",
            Some("bad-type"),
            json!({"id": "bad-type", "type": "teleport", "batch": open}),
        ),
        case(
            "commission without codes",
            "missing_field",
            Some("bad-missing"),
            json!({"id": "bad-missing", "type": "commission", "batch": open}),
        ),
        case(
            "commission before batch_open",
            "batch_not_open",
            Some("bad-notopen"),
            json!({"id": "bad-notopen", "type": "commission", "batch": "NEVER-OPENED",
                   "codes": [code(&good[1])]}),
        ),
        case(
            "malformed code",
            "invalid_code",
            Some("bad-code"),
            json!({"id": "bad-code", "type": "commission", "batch": open,
                   "codes": [code(&good[2]), "(01)0036141456789(21)"]}),
        ),
        case(
            "code of another GTIN",
            "gtin_mismatch",
            Some("bad-gtin"),
            json!({"id": "bad-gtin", "type": "commission", "batch": open,
                   "codes": [code(&good[3]), other_gtin]}),
        ),
        case(
            "impossible expiry date",
            "invalid_field",
            Some("bad-expiry"),
            json!({"id": "bad-expiry", "type": "batch_open", "batch": "OTHER", "gtin": GTIN,
                   "lot": "L", "expiry": "2027-02-30"}),
        ),
        Case {
            what: "10 MB payload",
            line: LINE,
            payload: huge.into_bytes(),
            code: "payload_too_large",
            id: None,
        },
        unknown_line,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_quarantined_reported_and_harmless() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let mut daemon = gw.daemon().await?;
    let client = gw.line_client("bad-input").await?;
    let tag = run_tag();
    let open = format!("X{tag}");
    let good = serials(&format!("{tag}X"), 4);

    // A batch open for the bad messages to target; one valid code in it.
    let topic = events_topic(LINE);
    client
        .publish(&topic, batch_open("x-open", &open), "open")
        .await?;
    client
        .publish(&topic, commission("x-c0", &open, &[code(&good[0])]), "c0")
        .await?;

    let cases = cases(&open, &good);
    for (i, c) in cases.iter().enumerate() {
        client
            .publish(&events_topic(c.line), c.payload.clone(), c.what)
            .await?;
        client
            .wait_acked(3 + i, Duration::from_secs(60))
            .await
            .context(c.what)?;
        let (ntopic, raw) = client
            .next_message(Duration::from_secs(60))
            .await
            .with_context(|| format!("no reject notice for {}", c.what))?;
        let notice: Value = serde_json::from_slice(&raw)
            .with_context(|| format!("notice for {} is not JSON", c.what))?;
        eprintln!("bad_input: {} -> {notice}", c.what);
        let expected_topic = format!("{TOPIC_PREFIX}/lines/{}/rejects", c.line);
        ensure!(ntopic == expected_topic, "{}: notice on {ntopic}", c.what);
        ensure!(
            notice["code"] == c.code,
            "{}: expected code {}, got {notice}",
            c.what,
            c.code
        );
        let reason = notice["reason"].as_str().unwrap_or_default();
        ensure!(
            !reason.trim().is_empty(),
            "{}: empty reason in {notice}",
            c.what
        );
        ensure!(
            notice["id"].is_string() || notice["id"].is_null(),
            "{}: id {notice}",
            c.what
        );
        if let Some(id) = c.id {
            ensure!(
                notice["id"] == id,
                "{}: notice id {} != {id}",
                c.what,
                notice["id"]
            );
        }
    }
    ensure!(daemon.is_running(), "daemon died on bad input");

    // One quarantine row per rejected message, with what was received.
    // Mismatches are collected and reported at the end, so that one run
    // also shows whether the batches after the bad input came out right.
    let rows = gw.quarantine().await?;
    let problems = quarantine_problems(&rows, &cases);

    // Nothing of the rejected messages leaked into the open batch.
    client
        .publish(&topic, batch_close("x-close", &open), "close")
        .await?;
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &good[..1]).await?;

    // And a fresh batch afterwards is complete and unaffected.
    let batch = format!("G{tag}");
    let fresh = serials(&format!("{tag}G"), 100);
    gw.publish_batch(&client, &batch, &fresh, 10).await?;
    let req = gw.upstream().next_request(DOC_DEADLINE).await?;
    gw.check_document(&req, &fresh).await?;
    let outbox = gw
        .wait_outbox("both documents delivered", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.state == "delivered")
        })
        .await?;
    ensure!(
        outbox.iter().any(|r| r.batch.as_ref() == Some(&batch)),
        "{outbox:#?}"
    );
    ensure!(daemon.is_running(), "daemon died");
    ensure!(
        problems.is_empty(),
        "quarantine rows wrong:\n{}",
        problems.join("\n")
    );
    Ok(())
}

fn quarantine_problems(rows: &[QuarantineRow], cases: &[Case]) -> Vec<String> {
    let mut problems = Vec::new();
    if rows.len() != cases.len() {
        problems.push(format!(
            "{} rows for {} rejects: {rows:#?}",
            rows.len(),
            cases.len()
        ));
    }
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    if ids.len() != rows.len() {
        problems.push("quarantine ids are not unique".into());
    }
    for c in cases {
        let Some(row) = rows.iter().find(|r| r.code == c.code) else {
            problems.push(format!("{}: no row with code {}", c.what, c.code));
            continue;
        };
        let mut check = |ok: bool, what: &str| {
            if !ok {
                problems.push(format!("{}: {what} wrong in {row:?}", c.what));
            }
        };
        check(row.topic == events_topic(c.line), "topic");
        check(row.payload_len == c.payload.len() as u64, "payload_len");
        check(!row.reason.trim().is_empty(), "reason");
        check(
            chrono::DateTime::parse_from_rfc3339(&row.received_at).is_ok(),
            "received_at",
        );
        if let Some(id) = c.id {
            check(row.message_id.as_deref() == Some(id), "message_id");
        }
        if c.line == LINE {
            check(row.line.as_deref() == Some(LINE), "line");
        }
    }
    problems
}
