//! The operator's writes over the local API, through the real daemon: batch open, close,
//! release and cancel, a shipment, the outbox's actions — and the reads that show them.
//!
//! Promise: without the bearer token (or with a wrong one) every write is refused with 401 and
//! `WWW-Authenticate: Bearer`, and nothing changes; with it each is done — the batch's state
//! moves, the shipment is recorded, the outbox action applied — and written to the audit
//! trail as `api:<api.token_name>` with the reason given, which every write requires. The
//! batch list, a batch, and a serial (in any code form) answer what the store holds. An API
//! off loopback without a token is refused before it starts.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::api_client::ApiClient;
use crate::support::{
    EXPIRY, GTIN, Gateway, LOT, code, commission, poll_until, run_tag, serials, sgtin,
};

/// The audit rows of `actor`: (action, subject, reason), read-only from the daemon's database.
fn audit_rows(gw: &Gateway, actor: &str) -> Result<Vec<(String, String, Option<String>)>> {
    let db = gw.dir.path().join("data").join("linegate.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt =
        conn.prepare("SELECT action, subject, reason FROM audit WHERE actor = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([actor], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn open_body(batch: &str, reason: &str) -> Value {
    json!({"line": "L1", "batch": batch, "gtin": GTIN, "lot": LOT, "expiry": EXPIRY,
           "reason": reason})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_writes_need_the_token_and_are_done_and_audited_with_their_reason() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let api = ApiClient::new(gw.dir.path(), "wms")?;
    api.enable(&gw.config)?;
    let _daemon = gw.daemon().await?;
    let tag = run_tag();
    let (kept, dropped) = (format!("W{tag}"), format!("X{tag}"));
    let shipment = format!("DLV-{tag}");
    let units: Vec<String> = serials(&tag, 3);

    // Without the token, or with a wrong one: 401, a Bearer challenge, nothing done.
    let some_reason = json!({"reason": "trying"});
    let wrong = format!("Bearer {}x", api.token);
    for (path, body) in [
        ("/api/v1/batches", open_body(&kept, "no token")),
        (
            &format!("/api/v1/batches/{kept}/close")[..],
            some_reason.clone(),
        ),
        (
            &format!("/api/v1/batches/{kept}/cancel")[..],
            some_reason.clone(),
        ),
        ("/api/v1/shipments", some_reason.clone()),
        ("/api/v1/outbox/some-document/retry", some_reason.clone()),
    ] {
        for auth in [None, Some(wrong.as_str())] {
            let a = api.post_as(path, &body, auth).await?;
            ensure!(
                a.status == 401 && a.bearer_challenge,
                "{path} {auth:?}: {a:?}"
            );
        }
    }
    let none = api.get("/api/v1/batches").await?;
    ensure!(none.status == 200 && none.body == json!([]), "{none:?}");
    ensure!(
        audit_rows(&gw, "api:wms")?.is_empty(),
        "a refused write was audited"
    );

    // A write without its reason, or its line, is refused naming the field.
    let mut no_reason = open_body(&kept, "x");
    no_reason
        .as_object_mut()
        .context("object")?
        .remove("reason");
    let a = api.post("/api/v1/batches", &no_reason, true).await?;
    ensure!(a.status == 400 && a.body["field"] == "reason", "{a:?}");
    let mut no_line = open_body(&kept, "x");
    no_line.as_object_mut().context("object")?.remove("line");
    let a = api.post("/api/v1/batches", &no_line, true).await?;
    ensure!(a.status == 400 && a.body["field"] == "line", "{a:?}");
    let mut bad_gtin = open_body(&kept, "x");
    bad_gtin["gtin"] = json!("12345");
    let a = api.post("/api/v1/batches", &bad_gtin, true).await?;
    ensure!(a.status == 400 && a.text.contains("gtin"), "{a:?}");
    ensure!(api.get("/api/v1/batches").await?.body == json!([]));

    // With the token: open a batch, commission three units into it.
    let opened = api
        .post(
            "/api/v1/batches",
            &open_body(&kept, "work order 7781 starts"),
            true,
        )
        .await?;
    ensure!(
        opened.status == 200 && opened.body["outcome"] == "applied",
        "{opened:?}"
    );
    let codes: Vec<String> = units.iter().map(|s| code(s)).collect();
    let auth = format!("Bearer {}", api.token);
    let c = api
        .post_as(
            "/api/v1/lines/L1/messages",
            &serde_json::from_str(&commission("w-c1", &kept, &codes))?,
            Some(&auth),
        )
        .await?;
    ensure!(c.status == 200, "{c:?}");
    let listed = api.get("/api/v1/batches").await?;
    let rows = listed.body.as_array().context("a list")?;
    ensure!(rows.len() == 1, "{listed:?}");
    let first = rows
        .iter()
        .find(|r| r["batch"] == kept.as_str())
        .context("listed")?;
    ensure!(
        first["state"] == "running" && first["serials"] == 3,
        "{first}"
    );

    // Ship one unit, close and release the batch; open a second one (one open batch per
    // GTIN and line) and cancel it.
    let ship = json!({"line": "L1", "shipment": shipment, "kind": "sale",
        "to_party": "0614141000005", "to_location": "urn:epc:id:sgln:0614141.00020.0",
        "codes": [codes[0]], "reason": "truck 12 at dock 3"});
    let s = api.post("/api/v1/shipments", &ship, true).await?;
    ensure!(
        s.status == 200 && s.body["shipment"]["identifiers"] == 1,
        "{s:?}"
    );
    for (batch, decision, reason, state) in [
        (&kept, "close", "order complete", "closed"),
        (&kept, "release", "QA release 2026-114", "released"),
        (&dropped, "cancel", "trial run over", "cancelled"),
    ] {
        if batch == &dropped {
            let body = open_body(&dropped, "trial run");
            let a = api.post("/api/v1/batches", &body, true).await?;
            ensure!(
                a.status == 200 && a.body["batch"] == dropped.as_str(),
                "{a:?}"
            );
        }
        let path = format!("/api/v1/batches/{batch}/{decision}");
        let missing = api.post(&path, &json!({}), true).await?;
        ensure!(
            missing.status == 400 && missing.body["field"] == "reason",
            "{missing:?}"
        );
        let a = api.post(&path, &json!({"reason": reason}), true).await?;
        ensure!(
            a.status == 200 && a.body["state"] == state,
            "{decision}: {a:?}"
        );
    }
    // A decision the rules refuse is answered as a refusal, not done.
    let again = api
        .post(
            &format!("/api/v1/batches/{dropped}/close"),
            &json!({"reason": "oops"}),
            true,
        )
        .await?;
    ensure!(
        again.status == 422 && again.body["outcome"] == "rejected",
        "{again:?}"
    );

    // The reads show it: the list by state and page, a batch, serials in any code form.
    let released = api.get("/api/v1/batches?state=released").await?;
    ensure!(
        released.body.as_array().map(Vec::len) == Some(1)
            && released.body[0]["batch"] == kept.as_str(),
        "{released:?}"
    );
    ensure!(
        api.get("/api/v1/batches?limit=1")
            .await?
            .body
            .as_array()
            .map(Vec::len)
            == Some(1)
    );
    ensure!(api.get("/api/v1/batches?state=lost").await?.status == 400);
    let shipped = api.get(&format!("/api/v1/serials/{}", codes[0])).await?;
    ensure!(
        shipped.status == 200
            && shipped.body["state"] == "shipped"
            && shipped.body["batch"] == kept.as_str(),
        "{shipped:?}"
    );
    let by_epc = api
        .get(&format!("/api/v1/serials/{}", sgtin(&units[1])))
        .await?;
    ensure!(
        by_epc.status == 200 && by_epc.body["state"] == "commissioned",
        "{by_epc:?}"
    );
    let unknown = api
        .get(&format!("/api/v1/serials/{}", code("NEVER1")))
        .await?;
    ensure!(
        unknown.status == 404 && unknown.text.contains("never commissioned"),
        "{unknown:?}"
    );
    let garbage = api.get("/api/v1/serials/not-a-code").await?;
    ensure!(
        garbage.status == 400 && garbage.text.contains("not a GS1 code"),
        "{garbage:?}"
    );

    // The End of Batch went out; the outbox's replay is a write like the others.
    let doc = poll_until(
        "the End of Batch delivered",
        crate::support::DOC_DEADLINE,
        async || {
            let rows = gw.outbox().await?;
            Ok(rows
                .into_iter()
                .find(|r| r.batch.as_deref() == Some(&kept) && r.state == "delivered")
                .map(|r| r.document_id))
        },
    )
    .await?;
    let replay = format!("/api/v1/outbox/{doc}/replay");
    ensure!(
        api.post(&replay, &json!({"reason": "x"}), false)
            .await?
            .status
            == 401
    );
    let r = api
        .post(&replay, &json!({"reason": "partner lost it"}), true)
        .await?;
    ensure!(r.status == 200, "{r:?}");

    // Every write is in the audit trail under the token's name, with its reason.
    let rows = audit_rows(&gw, "api:wms")?;
    for (reason, subject) in [
        ("work order 7781 starts", kept.as_str()),
        ("trial run", dropped.as_str()),
        ("truck 12 at dock 3", shipment.as_str()),
        ("order complete", kept.as_str()),
        ("QA release 2026-114", kept.as_str()),
        ("trial run over", dropped.as_str()),
        ("partner lost it", doc.as_str()),
    ] {
        let found: Vec<_> = (rows.iter())
            .filter(|(_, _, r)| r.as_deref() == Some(reason))
            .collect();
        ensure!(
            found.len() == 1 && found[0].1.contains(subject),
            "audit of '{reason}' on {subject}: {found:?}\nall: {rows:#?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_off_loopback_without_a_token_is_refused_before_it_starts() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let port = crate::support::free_port()?;
    let text = std::fs::read_to_string(&gw.config)?;
    std::fs::write(
        &gw.config,
        format!("{text}\n[api]\nlisten = \"0.0.0.0:{port}\"\nallow_remote = true\n"),
    )?;
    for command in [&["validate"][..], &["run"][..]] {
        let out = gw.supervisor(command).await?;
        let all = out.all_text();
        ensure!(
            !out.status.success() && all.contains("api.token_file") && all.contains("loopback"),
            "linegate {command:?} with an open API: {all}"
        );
    }
    Ok(())
}
