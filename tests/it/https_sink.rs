//! The HTTPS sink against a real TLS server that misbehaves on cue, through the real daemon.
//!
//! Promise: every answer a partner's HTTPS endpoint can give lands the document in the right
//! outbox state after the right number of attempts — 5xx and 429 are retried (429 no sooner
//! than its `Retry-After`, in seconds or as a date), a hang is cut by `timeout_secs` and
//! retried, a connection reset is retried, a 400 is a dead letter on the first attempt with the
//! partner's answer kept, and the next batch still flows — and every attempt carries the same
//! `Idempotency-Key` and the same bytes. The server's certificate is verified (a wrong CA
//! never delivers, and says so; `tls_verify = false` delivers, and is logged as an error), a
//! client certificate is presented when configured and its absence is named, the bearer token,
//! basic auth and custom headers arrive, a gzip body decompresses to the document, and no
//! secret appears in the daemon's log.
//!
//! Each test runs one daemon with several `[[upstream]]`s, one per scenario, each pointed at a
//! scripted server of its own (`support::https_upstream`): every upstream gets its own copy of
//! each batch, so the scenarios play side by side. Waiting is on the outbox or on the servers,
//! never on time.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::https_upstream::{HttpsRequest, HttpsUpstream, Options, RetryAfter, Step};
use crate::support::tls::TestPki;
use crate::support::{DOC_DEADLINE, Daemon, Gateway, OutboxRow, cli_json, run_tag, serials};

const CODES: usize = 5;
const TOKEN: &str = "tok-7f3a9c2e51d84b06a1e2f3c4d5b6a798";
const PASSWORD: &str = "s3cret-battery-horse";
/// base64("cmo-plant1:s3cret-battery-horse")
const BASIC: &str = "Basic Y21vLXBsYW50MTpzM2NyZXQtYmF0dGVyeS1ob3JzZQ==";

/// One scenario's `[[upstream]]`: its name, its server, its keys.
struct Partner {
    name: &'static str,
    server: HttpsUpstream,
    keys: String,
}

impl Partner {
    async fn new(
        name: &'static str,
        pki: &TestPki,
        options: Options,
        script: Vec<Step>,
        keys: String,
    ) -> Result<Partner> {
        let server = HttpsUpstream::start(pki, options, script).await?;
        Ok(Partner { name, server, keys })
    }
}

/// A daemon whose upstreams are `partners` (the harness's `mah` as well, at an HTTPS server
/// that always answers 200).
struct World {
    gw: Gateway,
    partners: Vec<Partner>,
    daemon: Daemon,
    _control: HttpsUpstream,
}

impl World {
    async fn start(gw: Gateway, pki: &TestPki, partners: Vec<Partner>) -> Result<World> {
        let control = HttpsUpstream::start(pki, Options::default(), Vec::new()).await?;
        let mut extra = format!("ca_file = \"{}\"\n", pki.ca.display());
        for p in &partners {
            extra.push_str(&format!(
                "\n[[upstream]]\nname = \"{}\"\nurl = \"{}\"\nsender_gln = \"0361414000001\"\n\
                 receiver_gln = \"0614141000005\"\nretry_initial_ms = 50\nretry_max_ms = 500\n{}\n",
                p.name,
                p.server.url(),
                p.keys
            ));
        }
        gw.set_upstream(&control.url(), &extra)?;
        let daemon = gw.daemon().await?;
        Ok(World {
            gw,
            partners,
            daemon,
            _control: control,
        })
    }

    fn server(&self, name: &str) -> &HttpsUpstream {
        let p = self.partners.iter().find(|p| p.name == name);
        &p.expect("a partner of this world").server
    }

    /// Publishes a batch of `CODES` fresh serials; returns its id and serials.
    async fn publish(&self, prefix: &str) -> Result<(String, Vec<String>)> {
        let tag = run_tag();
        let batch = format!("{prefix}{tag}");
        let serials = serials(&format!("{tag}{prefix}"), CODES);
        let client = self.gw.line_client(&format!("https-{batch}")).await?;
        self.gw
            .publish_batch(&client, &batch, &serials, CODES)
            .await?;
        Ok((batch, serials))
    }

    /// Waits until `done` holds for the row of each named upstream for `batch`.
    async fn wait(
        &self,
        what: &str,
        batch: &str,
        upstreams: &[&str],
        done: impl Fn(&OutboxRow) -> bool,
    ) -> Result<Vec<OutboxRow>> {
        self.gw
            .wait_outbox(what, |rows| {
                upstreams
                    .iter()
                    .all(|u| row(rows, u, batch).is_some_and(&done))
            })
            .await
    }

    /// The requests `upstream`'s server got for the document of `r`.
    fn attempts(&self, r: &OutboxRow) -> Vec<HttpsRequest> {
        let requests = self.server(&r.upstream).requests();
        let of_doc = |q: &&HttpsRequest| q.header("idempotency-key") == Some(&r.document_id);
        requests.iter().filter(of_doc).cloned().collect()
    }

    /// The upstream's answer kept for the delivery (`linegate outbox show --json`).
    async fn response(&self, r: &OutboxRow) -> Result<Option<String>> {
        let doc: Value = cli_json(&["outbox", "show", &r.document_id], &self.gw.config).await?;
        let deliveries = doc["deliveries"].as_array().context("no deliveries")?;
        let delivery = deliveries
            .iter()
            .find(|d| d["upstream"] == r.upstream.as_str())
            .context("no delivery to this upstream")?;
        Ok(delivery["response"].as_str().map(str::to_string))
    }
}

fn row<'a>(rows: &'a [OutboxRow], upstream: &str, batch: &str) -> Option<&'a OutboxRow> {
    rows.iter()
        .find(|r| r.upstream == upstream && r.batch.as_deref() == Some(batch))
}

fn the_row<'a>(rows: &'a [OutboxRow], upstream: &str, batch: &str) -> Result<&'a OutboxRow> {
    row(rows, upstream, batch).with_context(|| format!("no {upstream} row for {batch}"))
}

/// Every attempt carried the same `Idempotency-Key` and the same bytes.
fn same_document(upstream: &str, attempts: &[HttpsRequest]) -> Result<()> {
    let first = attempts.first().context("no attempt")?;
    for (i, a) in attempts.iter().enumerate().skip(1) {
        let key = a.header("idempotency-key");
        ensure!(
            key == first.header("idempotency-key"),
            "{upstream}: attempt {} changed the Idempotency-Key",
            i + 1
        );
        ensure!(
            a.body == first.body,
            "{upstream}: attempt {} changed the body",
            i + 1
        );
    }
    Ok(())
}

fn steps(attempts: &[HttpsRequest]) -> Vec<Step> {
    attempts.iter().map(|a| a.step.clone()).collect()
}

fn settled(r: &OutboxRow) -> bool {
    r.state == "delivered" || r.state == "rejected"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_lands_in_its_state_with_the_same_key_and_bytes() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let pki = TestPki::generate(gw.dir.path())?;
    let ca = format!("ca_file = \"{}\"", pki.ca.display());
    let plain = Options::default();
    let refusal = "EPCIS document refused: receiver GLN 0614141000005 is not ours";
    let partners = vec![
        Partner::new(
            "five_hundreds",
            &pki,
            plain,
            vec![Step::status(500), Step::status(500)],
            ca.clone(),
        )
        .await?,
        Partner::new(
            "rate_limited",
            &pki,
            plain,
            vec![
                Step::retry_after(429, RetryAfter::Seconds(1)),
                Step::retry_after(429, RetryAfter::DateIn(3)),
            ],
            ca.clone(),
        )
        .await?,
        Partner::new(
            "refused",
            &pki,
            plain,
            vec![Step::with_body(400, refusal)],
            ca.clone(),
        )
        .await?,
        Partner::new(
            "hang",
            &pki,
            plain,
            vec![Step::Hang],
            format!("{ca}\ntimeout_secs = 3"),
        )
        .await?,
        Partner::new("reset", &pki, plain, vec![Step::Reset], ca.clone()).await?,
    ];
    let names = ["five_hundreds", "rate_limited", "refused", "hang", "reset"];
    let w = World::start(gw, &pki, partners).await?;

    let (b1, s1) = w.publish("H").await?;
    let rows = w
        .wait("every first attempt settled", &b1, &names, settled)
        .await?;
    let expect = [
        ("five_hundreds", "delivered", 3),
        ("rate_limited", "delivered", 3),
        ("refused", "rejected", 1),
        ("hang", "delivered", 2),
        ("reset", "delivered", 2),
    ];
    for (name, state, attempts) in expect {
        let r = the_row(&rows, name, &b1)?;
        ensure!(r.state == state && r.attempts == attempts, "{name}: {r:?}");
        let got = w.attempts(r);
        ensure!(got.len() == attempts as usize, "{name}: {:?}", steps(&got));
        same_document(name, &got)?;
    }
    let five = w.attempts(the_row(&rows, "five_hundreds", &b1)?);
    let statuses: Vec<_> = five.iter().map(HttpsRequest::status).collect();
    ensure!(
        statuses == [Some(500), Some(500), Some(200)],
        "{statuses:?}"
    );
    w.gw.check_document(&five[2].as_recorded(None), &s1).await?;

    // Retry-After is a floor under the backoff (at most 500 ms here): 1 s, then a date 3 s on
    // (whole seconds, so at least 2 s remain when it arrives).
    let limited = w.attempts(the_row(&rows, "rate_limited", &b1)?);
    let gaps: Vec<_> = limited.windows(2).map(|p| p[1].at - p[0].at).collect();
    ensure!(
        gaps[0].as_millis() >= 1000,
        "Retry-After: 1 not honoured: {gaps:?}"
    );
    ensure!(
        gaps[1].as_millis() >= 2000,
        "Retry-After as a date not honoured: {gaps:?}"
    );

    let refused = the_row(&rows, "refused", &b1)?;
    ensure!(refused.last_status == Some(400), "{refused:?}");
    let error = refused.last_error.as_deref().unwrap_or_default();
    ensure!(
        error.contains("HTTP 400") && error.contains("linegate outbox"),
        "{error}"
    );
    let kept = w.response(refused).await?.unwrap_or_default();
    ensure!(
        kept.contains("receiver GLN 0614141000005 is not ours"),
        "response kept: {kept:?}"
    );

    let hang = w.attempts(the_row(&rows, "hang", &b1)?);
    ensure!(
        steps(&hang) == [Step::Hang, Step::status(200)],
        "{:?}",
        steps(&hang)
    );
    let reset = w.attempts(the_row(&rows, "reset", &b1)?);
    ensure!(
        steps(&reset) == [Step::Reset, Step::status(200)],
        "{:?}",
        steps(&reset)
    );
    let log = w.daemon.log();
    for said in [
        "no answer from the upstream within 3 s",
        "the upstream closed the connection without answering",
        "HTTP 429 Too Many Requests",
    ] {
        ensure!(log.contains(said), "the log does not say {said:?}");
    }

    // The dead letter holds back its own batch only: the next one is delivered everywhere.
    let (b2, _) = w.publish("K").await?;
    let rows = w
        .wait("the next batch delivered", &b2, &names, |r| {
            r.state == "delivered"
        })
        .await?;
    for name in names {
        let r = the_row(&rows, name, &b2)?;
        ensure!(r.attempts == 1, "{name}: {r:?}");
    }
    let refused = the_row(&rows, "refused", &b1)?;
    ensure!(
        refused.state == "rejected" && refused.attempts == 1,
        "{refused:?}"
    );
    let total = w.server("refused").requests().len();
    ensure!(
        total == 2,
        "{total} requests: the rejected document was sent again"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_verified_and_a_client_certificate_presented_when_configured() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let pki = TestPki::generate(gw.dir.path())?;
    let ca = format!("ca_file = \"{}\"", pki.ca.display());
    let mtls = Options {
        require_client_cert: true,
    };
    let with_cert = format!(
        "{ca}\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let other_ca = format!("ca_file = \"{}\"", pki.other_ca.display());
    let partners = vec![
        Partner::new("mtls_missing", &pki, mtls, Vec::new(), ca.clone()).await?,
        Partner::new("mtls", &pki, mtls, Vec::new(), with_cert).await?,
        Partner::new("wrong_ca", &pki, Options::default(), Vec::new(), other_ca).await?,
        Partner::new(
            "unverified",
            &pki,
            Options::default(),
            Vec::new(),
            "tls_verify = false".into(),
        )
        .await?,
    ];
    let w = World::start(gw, &pki, partners).await?;
    let (batch, serials) = w.publish("T").await?;

    let rows = w
        .wait(
            "delivery with a client certificate, and without verification",
            &batch,
            &["mtls", "unverified"],
            |r| r.state == "delivered",
        )
        .await?;
    let mtls = w.attempts(the_row(&rows, "mtls", &batch)?);
    ensure!(mtls.len() == 1 && mtls[0].client_certified, "{mtls:?}");
    w.gw.check_document(&mtls[0].as_recorded(None), &serials)
        .await?;
    let log = w.daemon.log();
    let off = format!(
        "TLS verification is OFF for upstream {}",
        w.server("unverified").url()
    );
    ensure!(log.contains(&off), "tls_verify = false was not logged");
    ensure!(
        log.lines().any(|l| l.contains(&off) && l.contains("ERROR")),
        "not at ERROR"
    );

    // Without its certificate, or trusting the wrong CA, nothing is delivered — it is retried,
    // and the outbox says why.
    let rows = w
        .wait(
            "retried handshakes",
            &batch,
            &["mtls_missing", "wrong_ca"],
            |r| r.attempts >= 2,
        )
        .await?;
    for (name, words) in [
        (
            "mtls_missing",
            &["requires a client certificate", "client_cert_file"][..],
        ),
        ("wrong_ca", &["certificate is not trusted", "ca_file"][..]),
    ] {
        let r = the_row(&rows, name, &batch)?;
        // Between attempts it is pending, or in flight again: never delivered.
        let retrying = r.state == "pending" || r.state == "in_flight";
        ensure!(retrying && r.last_status.is_none(), "{name}: {r:?}");
        let error = r.last_error.as_deref().unwrap_or_default();
        for word in words {
            ensure!(error.contains(word), "{name}: no {word:?} in {error}");
        }
        let server = w.server(name);
        ensure!(
            server.requests().is_empty(),
            "{name}: a request got through"
        );
        let failed = server.next_handshake_failure(DOC_DEADLINE).await?;
        eprintln!("https_sink: {name}: the server saw: {failed}; the outbox says: {error}");
    }
    Ok(())
}

fn secret_file(dir: &Path, name: &str, text: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(path.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_headers_and_gzip_arrive_and_no_secret_is_logged() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let pki = TestPki::generate(gw.dir.path())?;
    let ca = format!("ca_file = \"{}\"", pki.ca.display());
    let token = secret_file(gw.dir.path(), "partner.token", &format!("{TOKEN}\n"))?;
    let password = secret_file(gw.dir.path(), "partner.password", &format!("{PASSWORD}\n"))?;
    let plain = Options::default();
    let bearer = format!(
        "{ca}\nauth = \"bearer\"\ntoken_file = \"{token}\"\n\
         headers = {{ \"X-Partner-Id\" = \"CMO-0042\", \"X-Site\" = \"plant 1\" }}"
    );
    let basic = format!(
        "{ca}\nauth = \"basic\"\nusername = \"cmo-plant1\"\npassword_file = \"{password}\""
    );
    let partners = vec![
        Partner::new("bearer", &pki, plain, Vec::new(), bearer).await?,
        Partner::new("basic", &pki, plain, Vec::new(), basic).await?,
        Partner::new(
            "gzipped",
            &pki,
            plain,
            Vec::new(),
            format!("{ca}\ngzip = true"),
        )
        .await?,
    ];
    let names = ["bearer", "basic", "gzipped"];
    let w = World::start(gw, &pki, partners).await?;
    let (batch, serials) = w.publish("A").await?;
    let rows = w
        .wait("delivery", &batch, &names, |r| r.state == "delivered")
        .await?;
    let mut got = Vec::new();
    for name in names {
        let attempts = w.attempts(the_row(&rows, name, &batch)?);
        ensure!(attempts.len() == 1, "{name}: {} attempts", attempts.len());
        got.push(attempts[0].clone());
    }
    let [bearer, basic, gzipped] = &got[..] else {
        unreachable!()
    };

    let expected = format!("Bearer {TOKEN}");
    ensure!(
        bearer.header("authorization") == Some(expected.as_str()),
        "{:?}",
        bearer.headers
    );
    ensure!(
        bearer.header("x-partner-id") == Some("CMO-0042"),
        "{:?}",
        bearer.headers
    );
    ensure!(
        bearer.header("x-site") == Some("plant 1"),
        "{:?}",
        bearer.headers
    );
    ensure!(
        bearer.header("x-linegate-part") == Some("1/1"),
        "{:?}",
        bearer.headers
    );
    ensure!(
        bearer.header("content-encoding").is_none(),
        "{:?}",
        bearer.headers
    );
    w.gw.check_document(&bearer.as_recorded(None), &serials)
        .await?;
    ensure!(
        basic.header("authorization") == Some(BASIC),
        "{:?}",
        basic.headers
    );
    ensure!(
        basic.header("x-partner-id").is_none(),
        "headers of another upstream"
    );

    ensure!(
        gzipped.header("content-encoding") == Some("gzip"),
        "{:?}",
        gzipped.headers
    );
    let length = gzipped.header("content-length").unwrap_or_default();
    ensure!(
        length == gzipped.body.len().to_string(),
        "Content-Length {length}"
    );
    let mut document = Vec::new();
    flate2::read::GzDecoder::new(&gzipped.body[..])
        .read_to_end(&mut document)
        .context("the gzip body does not decompress")?;
    ensure!(document.len() > gzipped.body.len(), "not compressed");
    w.gw.check_document(&gzipped.as_recorded(Some(document)), &serials)
        .await?;

    let log = w.daemon.log();
    for secret in [TOKEN, PASSWORD, BASIC.trim_start_matches("Basic ")] {
        ensure!(!log.contains(secret), "a secret is in the daemon's log");
    }
    Ok(())
}
