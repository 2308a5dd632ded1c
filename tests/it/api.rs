//! The local HTTP API (`[api]`, docs/local-api.md) through the real binary and a real client.
//!
//! Promise: a program on the gateway's machine can read the daemon's health and a batch without
//! a token, and hand it protocol-v1 messages — shipping included — with the token, each answered
//! only after the store committed it, with the outcome the MQTT source would have reached: the
//! same rules, the same de-duplication, refusals in the quarantine. A write without the token,
//! with a wrong one, for a line that is not configured or above the payload limit is refused
//! and stores nothing; while the disk guard has closed the intake the API takes nothing and
//! says when to come back, and takes the message once the intake is open again. What the API
//! did is checked through the supervisor's views (`linegate serial show`, `batch show`,
//! `quarantine list`), never by reading the database.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::mqtt_world::MqttWorld;
use crate::support::mosquitto::Setup;
use crate::support::{
    Gateway, LINE, batch_open, code, commission, free_port, poll_until, run_tag, serials,
};

/// 2^30 MiB = 1 PiB: more than any test machine has free.
const NO_ROOM: &str = "min_free_disk_mb = 1073741824";

/// A client of the daemon's API, holding the token it was configured with.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The `[api]` table that enables it (appended to a daemon config).
    table: String,
}

/// An answer: status, `Retry-After` / `WWW-Authenticate` if any, and the JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    challenge: Option<String>,
    body: Value,
}

impl Api {
    /// A fresh token in `dir/api-token` (mode 0600) and a free loopback port.
    fn new(dir: &Path) -> Result<Api> {
        let token: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
        let file = dir.join("api-token");
        std::fs::write(&file, format!("{token}\n"))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        let port = free_port()?;
        let table = format!(
            "\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n",
            file.display()
        );
        Ok(Api {
            http: reqwest::Client::builder().no_proxy().build()?,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            token,
            table,
        })
    }

    async fn get(&self, path: &str) -> Result<Answer> {
        answer(self.http.get(format!("{}{path}", self.base))).await
    }

    /// POSTs `body` to `line`'s messages with `Authorization: <auth>` (none when `None`).
    async fn post_as(&self, line: &str, body: String, auth: Option<&str>) -> Result<Answer> {
        let mut req = (self
            .http
            .post(format!("{}/lines/{line}/messages", self.base)))
        .header("content-type", "application/json")
        .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        answer(req).await
    }

    /// POSTs `body` to line L1 with the right token.
    async fn post(&self, body: String) -> Result<Answer> {
        let auth = format!("Bearer {}", self.token);
        self.post_as(LINE, body, Some(&auth)).await
    }
}

async fn answer(req: reqwest::RequestBuilder) -> Result<Answer> {
    let resp = req.send().await.context("API request")?;
    let header =
        |name: &str| (resp.headers().get(name)).map(|v| v.to_str().unwrap_or_default().to_string());
    let (retry_after, challenge) = (header("retry-after"), header("www-authenticate"));
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let body = serde_json::from_str(&text)
        .with_context(|| format!("the API answered {status} with no JSON: {text:?}"))?;
    Ok(Answer {
        status,
        retry_after,
        challenge,
        body,
    })
}

/// A gateway whose config enables the API (and limits payloads to 4 KiB); not started.
async fn gateway() -> Result<(Gateway, Api)> {
    let gw = Gateway::start(&[]).await?;
    let api = Api::new(gw.dir.path())?;
    let text = std::fs::read_to_string(&gw.config)?;
    let small = text.replace("max_payload_bytes = 1048576", "max_payload_bytes = 4096");
    ensure!(
        small != text,
        "the test config no longer sets max_payload_bytes"
    );
    std::fs::write(&gw.config, format!("{small}{}", api.table))?;
    Ok((gw, api))
}

fn ship(id: &str, shipment: &str, codes: &[String]) -> String {
    json!({"id": id, "type": "ship", "shipment": shipment, "kind": "sale", "po": "PO-7781",
           "codes": codes, "to_party": "0614141000005",
           "to_location": "urn:epc:id:sgln:0614141.00020.0"})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_reads_without_a_token_and_refuses_writes_that_are_not_its_to_take() -> Result<()> {
    let (gw, api) = gateway().await?;
    let mut daemon = gw.daemon().await?;

    let health = api.get("/health").await?;
    let h = &health.body;
    ensure!(health.status == 200, "{health:?}");
    ensure!(
        h["version"] == env!("CARGO_PKG_VERSION")
            && h["intake"] == "open"
            && h["healthy"].is_boolean()
            && h["problems"].is_array()
            && h["lines"][0]["line"] == LINE
            && h["lines"][0]["stations"] == json!([]),
        "{h:#}"
    );

    let open = batch_open("api-open", &format!("B{}", run_tag()));
    let wrong = format!("Bearer {}x", api.token);
    let basic = format!("Basic {}", api.token);
    for auth in [None, Some(wrong.as_str()), Some(basic.as_str())] {
        let a = api.post_as(LINE, open.clone(), auth).await?;
        ensure!(
            a.status == 401 && a.challenge.as_deref() == Some("Bearer realm=\"linegate\""),
            "{auth:?}: {a:?}"
        );
    }
    let right = format!("Bearer {}", api.token);
    let unknown = api.post_as("L9", open.clone(), Some(&right)).await?;
    ensure!(unknown.status == 404, "{unknown:?}");
    let padding = "x".repeat(5000);
    let large = json!({"id": "api-large", "type": "batch_close", "batch": padding}).to_string();
    let too_large = api.post(large).await?;
    ensure!(too_large.status == 413, "{too_large:?}");
    let no_batch = api.get("/batches/NO-SUCH-BATCH").await?;
    ensure!(no_batch.status == 404, "{no_batch:?}");
    // None of it was taken: no batch, no quarantined message.
    ensure!(
        gw.batches().await?.is_empty(),
        "a refused write opened a batch"
    );
    let q = gw.quarantine().await?;
    ensure!(q.is_empty(), "a refused write was stored: {q:#?}");

    // A token file others may read is refused when the configuration is loaded.
    let file = gw.dir.path().join("api-token");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let out = gw.supervisor(&["validate"]).await?;
    ensure!(
        !out.status.success()
            && out.all_text().contains("api.token_file")
            && out.all_text().contains("chmod 600")
            && !out.all_text().contains(&api.token),
        "validate with a 0644 token file: {}",
        out.all_text()
    );

    // The client still holds a kept-alive connection: the API lets go of it at a stop.
    let stopped = daemon.terminate().await?;
    let log = daemon.log();
    ensure!(
        stopped.success() && !log.contains("shutdown deadline") && !log.contains(&api.token),
        "stop with the API serving ({stopped}):\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_opened_commissioned_and_shipped_through_the_api() -> Result<()> {
    let (gw, api) = gateway().await?;
    let _daemon = gw.daemon().await?;
    let tag = run_tag();
    let batch = format!("AP{tag}");
    let units: Vec<String> = serials(&tag, 3).iter().map(|s| code(s)).collect();
    let shipment = format!("DLV-{tag}");

    for (id, msg) in [
        ("api-open", batch_open("api-open", &batch)),
        ("api-c1", commission("api-c1", &batch, &units)),
        ("api-ship", ship("api-ship", &shipment, &units[..2])),
    ] {
        let a = api.post(msg).await?;
        ensure!(
            a.status == 200 && a.body == json!({"outcome": "applied", "id": id}),
            "{id}: {a:?}"
        );
    }
    // Sent again (the caller did not hear the answer): nothing happens twice.
    let again = api.post(ship("api-ship", &shipment, &units[..2])).await?;
    ensure!(
        again.status == 200 && again.body["outcome"] == "duplicate",
        "{again:?}"
    );

    // A despatch-advice number used twice is refused, quarantined, and stays refused.
    let twice = ship("api-ship-2", &shipment, &units[2..]);
    let refused = api.post(twice.clone()).await?;
    ensure!(
        refused.status == 422
            && refused.body["outcome"] == "rejected"
            && refused.body["id"] == "api-ship-2"
            && refused.body["code"] == "shipment_exists"
            && refused.body["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
        "{refused:?}"
    );
    let repeated = api.post(twice).await?;
    ensure!(
        repeated.status == 422
            && repeated.body["outcome"] == "duplicate"
            && repeated.body["code"] == "shipment_exists",
        "{repeated:?}"
    );
    let not_json = api.post("{\"id\": \"api-bad\", ".into()).await?;
    ensure!(
        not_json.status == 422 && not_json.body["code"] == "invalid_json",
        "{not_json:?}"
    );
    let q = gw.quarantine().await?;
    let seen: Vec<_> = (q.iter())
        .map(|r| (r.message_id.as_deref(), r.code.as_str(), r.topic.as_str()))
        .collect();
    let topic = format!("api/lines/{LINE}/messages");
    ensure!(
        seen == [
            (Some("api-ship-2"), "shipment_exists", topic.as_str()),
            (None, "invalid_json", topic.as_str())
        ],
        "quarantine: {q:#?}"
    );

    // The shipped units are shipped, the third is still here.
    for unit in &units[..2] {
        let s = gw.serial(unit).await?;
        ensure!(
            s.state == "shipped" && s.history.iter().any(|h| h.message_id == "api-ship"),
            "{s:#?}"
        );
    }
    let kept = gw.serial(&units[2]).await?;
    ensure!(kept.state == "commissioned", "{kept:#?}");

    // The batch as the API shows it is the batch as `linegate batch show --json` prints it.
    let shown = api.get(&format!("/batches/{batch}")).await?;
    let cli: Value = crate::support::cli_json(&["batch", "show", &batch], &gw.config).await?;
    ensure!(
        shown.status == 200 && shown.body == cli,
        "{shown:?}\nvs {cli:#}"
    );
    ensure!(
        shown.body["report"]["levels"]["each"]["shipped"] == 2,
        "{:#}",
        shown.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_intake_is_closed_the_api_takes_nothing_and_says_when_to_come_back() -> Result<()>
{
    let world = MqttWorld::start(
        MqttWorld::dir()?,
        &Setup::default(),
        |b| b.url(),
        "",
        NO_ROOM,
    )
    .await?;
    let api = Api::new(world.dir.path())?;
    world.append_config(&api.table)?;
    let mut daemon = world.spawn_unready("daemon.log")?;
    daemon.wait_serving().await?;

    let health = api.get("/health").await?;
    let problems = health.body["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        health.body["intake"] == "paused"
            && health.body["healthy"] == false
            && problems.iter().any(|p| p["part"] == "disk"),
        "{health:?}"
    );
    let open = batch_open("api-open", "B-API-DISK");
    let paused = api.post(open.clone()).await?;
    ensure!(
        paused.status == 503 && paused.retry_after.is_some(),
        "{paused:?}"
    );
    ensure!(
        world.batch_count().await? == 0,
        "stored below the threshold"
    );
    // Without the token it is a 401 all the same: a closed intake reveals nothing.
    let anonymous = api.post_as(LINE, open.clone(), None).await?;
    ensure!(anonymous.status == 401, "{anonymous:?}");

    // Plant IT lowers the threshold live; the API takes the message once the intake is open.
    world.write_config(&world.broker.url(), "", "min_free_disk_mb = 0")?;
    world.append_config(&api.table)?;
    daemon.hangup().await?;
    poll_until(
        "the intake open again",
        Duration::from_secs(30),
        async || Ok((api.get("/health").await?.body["intake"] == "open").then_some(())),
    )
    .await?;
    let taken = api.post(open).await?;
    ensure!(
        taken.status == 200 && taken.body["outcome"] == "applied",
        "{taken:?}"
    );
    ensure!(world.batch_count().await? == 1, "the batch was not stored");
    Ok(())
}
