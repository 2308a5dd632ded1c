//! Proves the harness itself before any daemon scenario relies on it.
//!
//! If the broker did not keep a persistent session across a SIGKILL restart,
//! or the upstream did not answer its script in order, every daemon test
//! built on them would give meaningless results. These tests run without the
//! daemon, so they pass or fail on the harness alone.

use std::time::{Duration, SystemTime};

use anyhow::{Result, ensure};

use crate::support::{Mosquitto, MqttClient, Upstream, free_port, run_tag};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_acks_qos1_and_keeps_offline_session_across_kill() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut broker = Mosquitto::start(dir.path()).await?;
    let port = broker.port();
    ensure!(broker.url() == format!("mqtt://127.0.0.1:{port}"));

    // A persistent subscriber registers its interest, then goes offline.
    let sub = MqttClient::connect(port, "selftest-sub", false).await?;
    sub.subscribe("selftest/#").await?;
    sub.disconnect().await?;

    // The broker PUBACKs a QoS1 publish, and the ack is attributed to it.
    let publisher = MqttClient::connect(port, "selftest-pub", true).await?;
    let first = format!("queued-{}", run_tag());
    publisher
        .publish("selftest/q", first.clone(), "first")
        .await?;
    publisher.wait_acked(1, WAIT).await?;
    ensure!(
        publisher.acked() == ["first"],
        "acked: {:?}",
        publisher.acked()
    );

    // Make sure the queued message is on disk, then SIGKILL and restart.
    broker.wait_persisted_since(SystemTime::now()).await?;
    broker.restart().await?;
    ensure!(broker.port() == port, "restart changed the port");

    // The subscriber's session survived: the message queued while it was
    // offline is delivered when it comes back.
    let sub = MqttClient::connect(port, "selftest-sub", false).await?;
    let (topic, payload) = sub.next_message(WAIT).await?;
    ensure!(topic == "selftest/q", "unexpected topic {topic}");
    ensure!(
        payload == first.as_bytes(),
        "payload {:?}",
        String::from_utf8_lossy(&payload)
    );

    // The publisher reconnects on its own and its next publish is acked and
    // delivered through the restored subscription.
    let second = format!("live-{}", run_tag());
    publisher
        .publish("selftest/q", second.clone(), "second")
        .await?;
    publisher.wait_acked(2, WAIT).await?;
    ensure!(
        publisher.acked() == ["first", "second"],
        "acked: {:?}",
        publisher.acked()
    );
    let (_, payload) = sub.next_message(WAIT).await?;
    ensure!(
        payload == second.as_bytes(),
        "payload {:?}",
        String::from_utf8_lossy(&payload)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_answers_script_in_order_and_records_requests() -> Result<()> {
    let port = free_port()?;
    let server = Upstream::start_on(port, &[503, 400]).await?;
    ensure!(server.url() == format!("http://127.0.0.1:{port}/epcis"));
    let http = reqwest::Client::new();

    let mut got = Vec::new();
    for i in 0..4 {
        let resp = http
            .post(server.url())
            .header("content-type", "application/xml")
            .header("idempotency-key", format!("key-{i}"))
            .body(format!("<doc n=\"{i}\"/>"))
            .send()
            .await?;
        got.push(resp.status().as_u16());
    }
    // Script first, then the default 200.
    ensure!(got == [503, 400, 200, 200], "statuses {got:?}");

    // The script can be changed while the server runs.
    server.set_script(&[429]);
    let status = http.post(server.url()).body("x").send().await?.status();
    ensure!(status.as_u16() == 429, "scripted 429, got {status}");

    // Anything but POST /epcis is a 404 and does not consume the script.
    server.set_script(&[502]);
    let other = http
        .post(format!("http://127.0.0.1:{port}/other"))
        .send()
        .await?;
    ensure!(other.status().as_u16() == 404, "got {}", other.status());
    let get = http.get(server.url()).send().await?;
    ensure!(get.status().as_u16() == 404, "got {}", get.status());
    let status = http.post(server.url()).body("y").send().await?.status();
    ensure!(
        status.as_u16() == 502,
        "script consumed by a 404? got {status}"
    );

    // Recording: every request, in order, with headers, body and answer.
    let all = server.requests();
    ensure!(all.len() == 8, "recorded {} requests", all.len());
    for (i, r) in all.iter().take(4).enumerate() {
        ensure!(r.method == "POST" && r.path == "/epcis");
        ensure!(r.header("Content-Type") == Some("application/xml"));
        ensure!(r.header("idempotency-key") == Some(format!("key-{i}").as_str()));
        ensure!(r.body_text()? == format!("<doc n=\"{i}\"/>"));
        ensure!(r.status == got[i]);
    }
    ensure!(
        all.windows(2).all(|w| w[0].at <= w[1].at),
        "arrival times out of order"
    );
    ensure!(all[5].path == "/other" && all[5].status == 404);
    ensure!(all[6].method == "GET" && all[6].status == 404);

    // The channel hands out the same requests one by one.
    for expected in &all {
        let r = server.next_request(WAIT).await?;
        ensure!(r.body == expected.body && r.status == expected.status);
    }
    Ok(())
}
