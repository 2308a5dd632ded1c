//! The operator's outbox, through the real daemon, the real CLI and the local API.
//!
//! Promise: a document the upstream refuses for good is visible (`linegate outbox list --state
//! rejected`), raises an alarm (health `outbox:<upstream>`, `/metrics`, one ERROR line) and can
//! be sent again by an operator — `retry` for the dead letter, `replay` for a delivered one —
//! with the same Idempotency-Key and the very same bytes; a pending document can be given up
//! (`reject`) and sent again later through the API. Undelivered documents above
//! `gateway.max_outbox_bytes` turn the health red while the document stays queued. Every change
//! needs a reason, a refused action exits 1 with the reason, and the API's writes need the
//! token. Everything is observed as an operator would: CLI output, API answers, the upstream.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::support::daemon::CliOutput;
use crate::support::{
    DOC_DEADLINE, Gateway, OutboxRow, cli_json, free_port, poll_until, run_tag, serials,
};

const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The daemon's local API, with the token it was configured with.
struct Api {
    http: reqwest::Client,
    root: String,
    token: String,
}

/// Enables the API in `gw`'s config (and appends `gateway` settings, if any).
fn enable_api(gw: &Gateway, gateway_extra: &str) -> Result<Api> {
    let token: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
    let file = gw.dir.path().join("api-token");
    std::fs::write(&file, format!("{token}\n"))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    let port = free_port()?;
    let text = std::fs::read_to_string(&gw.config)?;
    let anchor = "shutdown_timeout_secs = 10\n";
    ensure!(text.contains(anchor), "the test config changed: {text}");
    let text = text.replacen(anchor, &format!("{anchor}{gateway_extra}"), 1);
    let api = format!(
        "\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n",
        file.display()
    );
    std::fs::write(&gw.config, format!("{text}{api}"))?;
    Ok(Api {
        http: reqwest::Client::builder().no_proxy().build()?,
        root: format!("http://127.0.0.1:{port}"),
        token,
    })
}

impl Api {
    async fn get(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.http.get(format!("{}{path}", self.root)).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    async fn get_json(&self, path: &str) -> Result<Value> {
        let (status, text) = self.get(path).await?;
        ensure!(status == 200, "GET {path}: {status} {text}");
        serde_json::from_str(&text).with_context(|| format!("GET {path}: {text}"))
    }

    /// POSTs `body` to `path`, with the token when `token`; status, `WWW-Authenticate`, body.
    async fn post(&self, path: &str, body: &Value, token: bool) -> Result<(u16, bool, Value)> {
        let mut req = (self.http.post(format!("{}{path}", self.root)))
            .header("content-type", "application/json")
            .body(body.to_string());
        if token {
            req = req.header("authorization", format!("Bearer {}", self.token));
        }
        let resp = req.send().await?;
        let (status, challenge) = (
            resp.status().as_u16(),
            resp.headers().contains_key("www-authenticate"),
        );
        let text = resp.text().await?;
        let v = serde_json::from_str(&text).with_context(|| format!("POST {path}: {text}"))?;
        Ok((status, challenge, v))
    }

    /// Waits until the health's problem of `part` holds `text` (`None`: until it has none).
    async fn wait_problem(&self, part: &str, text: Option<&str>) -> Result<Value> {
        let what = format!("health problem {part} = {text:?}");
        poll_until(&what, WAIT, async || {
            let h = self.get_json("/api/v1/health").await?;
            let problem = (h["problems"].as_array().into_iter().flatten())
                .find(|p| p["part"] == part)
                .and_then(|p| p["problem"].as_str().map(str::to_string));
            let done = match (text, &problem) {
                (None, None) => true,
                (Some(t), Some(p)) => p.contains(t),
                _ => false,
            };
            Ok(done.then_some(h))
        })
        .await
    }

    /// Whether the health names `part` now. The monitor sets every outbox problem in one
    /// pass, so after `wait_problem` saw that pass, this one is from it too.
    async fn has_problem(&self, part: &str) -> Result<bool> {
        let h = self.get_json("/api/v1/health").await?;
        Ok((h["problems"].as_array().into_iter().flatten()).any(|p| p["part"] == part))
    }

    /// `/metrics`, checked line by line: comments, or `name{labels} value`.
    async fn metrics(&self) -> Result<Vec<(String, f64)>> {
        let (status, text) = self.get("/metrics").await?;
        ensure!(status == 200, "GET /metrics: {status} {text}");
        let mut samples = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line.rsplit_once(' ').context(line.to_string())?;
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            let labels_ok = name_end == series.len()
                || (series.ends_with('}') && series[name_end..].contains('='));
            let value: f64 = value.parse().with_context(|| format!("value of {line}"))?;
            ensure!(name_ok && labels_ok, "not a sample: {line}");
            samples.push((series.to_string(), value));
        }
        Ok(samples)
    }
}

fn metric(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

/// `linegate outbox list ARGS --json`.
async fn list(gw: &Gateway, args: &[&str]) -> Result<Vec<OutboxRow>> {
    let mut sub = vec!["outbox", "list"];
    sub.extend(args);
    cli_json(&sub, &gw.config).await
}

/// `linegate outbox show DOC --json`.
async fn show(gw: &Gateway, doc: &str) -> Result<Value> {
    cli_json(&["outbox", "show", doc], &gw.config).await
}

fn expect_ok(out: &CliOutput, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!("{what}: {}\n{}", out.status, out.all_text());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_alarmed_then_retried_and_replayed_with_the_same_key_and_bytes()
-> Result<()> {
    let gw = Gateway::start(&[400]).await?;
    let api = enable_api(&gw, "")?;
    let daemon = gw.daemon().await?;
    let client = gw.line_client("outbox-dead").await?;
    let tag = run_tag();
    let batch = format!("X{tag}");
    let codes = serials(&tag, 20);
    gw.publish_batch(&client, &batch, &codes, 10).await?;
    let refused = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(refused.status == 400);
    let key = refused
        .header("idempotency-key")
        .context("no key")?
        .to_string();

    // Listed as a dead letter, named in the health, counted in the metrics, logged once.
    let dead = poll_until("the dead letter listed", WAIT, async || {
        let rows = list(&gw, &["--state", "rejected"]).await?;
        Ok(rows.into_iter().find(|r| r.batch.as_ref() == Some(&batch)))
    })
    .await?;
    ensure!(
        dead.document_id == key && dead.last_status == Some(400),
        "{dead:?}"
    );
    let doc = dead.document_id.clone();
    api.wait_problem(
        "outbox:mah",
        Some("1 document refused by the upstream (dead letter)"),
    )
    .await?;
    let samples = api.metrics().await?;
    ensure!(
        metric(&samples, "linegate_outbox_dead_letters{upstream=\"mah\"}") == Some(1.0),
        "{samples:?}"
    );
    ensure!(
        metric(&samples, "linegate_outbox_over_limit") == Some(0.0),
        "{samples:?}"
    );
    let alarms = |log: &str| {
        log.lines()
            .filter(|l| l.contains("ERROR") && l.contains("outbox alarm"))
            .count()
    };
    ensure!(
        alarms(&daemon.log()) == 1,
        "one ERROR line:\n{}",
        daemon.log()
    );

    // A change needs a reason; one that does not apply is refused with what to do instead.
    let no_reason = gw.supervisor(&["outbox", "retry", &doc]).await?;
    ensure!(
        no_reason.status.code() == Some(2) && no_reason.stderr.contains("--reason"),
        "{}",
        no_reason.all_text()
    );
    let wrong = gw
        .supervisor(&["outbox", "replay", &doc, "--reason", "lost"])
        .await?;
    ensure!(
        wrong.status.code() == Some(1) && wrong.stderr.contains("use retry"),
        "{}",
        wrong.all_text()
    );

    // Retried: sent again as it was, delivered, the alarm clears.
    let out = gw
        .supervisor(&[
            "outbox",
            "retry",
            &doc,
            "--reason",
            "partner fixed its master data",
        ])
        .await?;
    expect_ok(&out, "retry")?;
    ensure!(out.stdout.contains("rejected → pending"), "{}", out.stdout);
    let again = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(again.status == 200);
    ensure!(
        again.header("idempotency-key") == Some(key.as_str()),
        "another key"
    );
    ensure!(again.body == refused.body, "other bytes");
    gw.wait_outbox("the retried document delivered", |rows| {
        rows.iter()
            .any(|r| r.document_id == doc && r.state == "delivered")
    })
    .await?;
    api.wait_problem("outbox:mah", None).await?;

    // Replayed from the command line: the same key and bytes once more.
    let out = gw
        .supervisor(&[
            "outbox",
            "replay",
            &doc,
            "--reason",
            "partner restored a backup",
        ])
        .await?;
    expect_ok(&out, "replay")?;
    let replayed = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(replayed.header("idempotency-key") == Some(key.as_str()));
    ensure!(replayed.body == refused.body, "a replay sent other bytes");
    let shown = poll_until("the replay delivered", WAIT, async || {
        let s = show(&gw, &doc).await?;
        let d = &s["deliveries"][0];
        Ok((d["state"] == "delivered" && d["replays"] == 1).then_some(s))
    })
    .await?;
    let path = shown["path"].as_str().context("a path")?;
    ensure!(
        shown["file_bytes"] == json!(refused.body.len()) && std::path::Path::new(path).is_file(),
        "{shown:#}"
    );
    let note = shown["deliveries"][0]["operator_note"]
        .as_str()
        .unwrap_or("");
    ensure!(
        note.starts_with("replay by cli-") && note.ends_with("partner restored a backup"),
        "{note}"
    );
    let refused_again = gw
        .supervisor(&["outbox", "retry", &doc, "--reason", "again"])
        .await?;
    ensure!(
        refused_again.status.code() == Some(1) && refused_again.stderr.contains("refused:"),
        "{}",
        refused_again.all_text()
    );

    // The API: reads without a token, writes only with it and a reason.
    let page = api
        .get_json("/api/v1/outbox?state=delivered&upstream=mah")
        .await?;
    ensure!(page["rows"][0]["document_id"] == doc.as_str(), "{page:#}");
    ensure!(page["more"] == false, "{page:#}");
    let one = api.get_json(&format!("/api/v1/outbox/{doc}")).await?;
    ensure!(one["document_id"] == doc.as_str(), "{one:#}");
    ensure!(api.get("/api/v1/outbox/no-such-document").await?.0 == 404);
    ensure!(api.get("/api/v1/outbox?state=lost").await?.0 == 400);
    let replay = format!("/api/v1/outbox/{doc}/replay");
    let body = json!({"reason": "partner asked again"});
    let (status, challenge, _) = api.post(&replay, &body, false).await?;
    ensure!(status == 401 && challenge, "without the token: {status}");
    let (status, _, v) = api.post(&replay, &json!({"upstream": "mah"}), true).await?;
    ensure!(status == 400, "without a reason: {status} {v}");
    let (status, _, v) = api.post(&replay, &body, true).await?;
    ensure!(
        status == 200 && v["changed"][0]["to"] == "pending",
        "{status} {v}"
    );
    let third = gw.upstream().next_request(DOC_DEADLINE).await?;
    ensure!(third.header("idempotency-key") == Some(key.as_str()) && third.body == refused.body);
    // Sent: no longer pending, so it cannot be rejected.
    let (status, _, v) = api
        .post(&format!("/api/v1/outbox/{doc}/reject"), &body, true)
        .await?;
    ensure!(status == 409, "{status} {v}");
    ensure!(gw.upstream().requests().len() == 4, "exactly four requests");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_document_rejected_by_an_operator_waits_for_a_retry_and_the_limit_alarms()
-> Result<()> {
    let mut gw = Gateway::start_with_dead_upstream().await?;
    let api = enable_api(&gw, "max_outbox_bytes = 1\n")?;
    let _daemon = gw.daemon().await?;
    let client = gw.line_client("outbox-reject").await?;
    let tag = run_tag();
    let batch = format!("J{tag}");
    gw.publish_batch(&client, &batch, &serials(&tag, 20), 10)
        .await?;

    let waiting = poll_until("a failed attempt", WAIT, async || {
        let rows = list(
            &gw,
            &["--upstream", "mah", "--batch", &batch, "--limit", "1"],
        )
        .await?;
        Ok(rows.into_iter().find(|r| r.attempts >= 1))
    })
    .await?;
    let doc = waiting.document_id.clone();
    ensure!(list(&gw, &["--state", "delivered"]).await?.is_empty());
    api.wait_problem("outbox", Some("above gateway.max_outbox_bytes"))
        .await?;
    let samples = api.metrics().await?;
    ensure!(
        metric(&samples, "linegate_outbox_over_limit") == Some(1.0),
        "{samples:?}"
    );
    let waiting_docs: f64 = ["pending", "in_flight"]
        .iter()
        .filter_map(|s| {
            metric(
                &samples,
                &format!("linegate_outbox_documents{{upstream=\"mah\",state=\"{s}\"}}"),
            )
        })
        .sum();
    ensure!(waiting_docs == 1.0, "{samples:?}");

    // Waiting, it is above the (tiny) backlog limit: the health says so.
    api.wait_problem("outbox", Some("above gateway.max_outbox_bytes"))
        .await?;

    // Rejected (an attempt under way is refused, and the operator tries again).
    let reason = "test batch, the partner agreed to drop it";
    poll_until("the reject to apply", WAIT, async || {
        let out = gw
            .supervisor(&["outbox", "reject", &doc, "--reason", reason])
            .await?;
        if out.status.success() {
            return Ok(Some(()));
        }
        ensure!(out.stderr.contains("in_flight"), "{}", out.all_text());
        Ok(None)
    })
    .await?;
    let rows = list(&gw, &["--state", "rejected"]).await?;
    ensure!(rows.len() == 1 && rows[0].document_id == doc, "{rows:?}");
    let error = rows[0].last_error.as_deref().unwrap_or("");
    ensure!(
        error.contains("reject by cli-") && error.contains(reason),
        "{error}"
    );
    // Given up by an operator, it waits for nobody: no dead-letter alarm, no backlog.
    api.wait_problem("outbox", None).await?;
    ensure!(
        !api.has_problem("outbox:mah").await?,
        "an operator's reject raised the dead-letter alarm"
    );

    // The upstream comes back; the API's retry sends it.
    let server = gw.revive_upstream(&[]).await?;
    let (status, _, v) = api
        .post(
            &format!("/api/v1/outbox/{doc}/retry"),
            &json!({"reason": "partner wants it after all", "upstream": "mah"}),
            true,
        )
        .await?;
    ensure!(
        status == 200 && v["changed"][0]["from"] == "rejected",
        "{status} {v}"
    );
    let req = server.next_request(DOC_DEADLINE).await?;
    ensure!(req.header("idempotency-key") == Some(doc.as_str()));
    gw.wait_outbox("the retried document delivered", |rows| {
        rows.iter()
            .any(|r| r.document_id == doc && r.state == "delivered")
    })
    .await?;
    api.wait_problem("outbox", None).await?;
    api.wait_problem("outbox:mah", None).await?;
    Ok(())
}
