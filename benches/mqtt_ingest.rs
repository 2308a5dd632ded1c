//! Line inputs under load: a simulated line over a real mosquitto into the real `linegate run`.
//!
//! Three figures the line-inputs issue asks for, measured in one run on this machine:
//! 1. **PLC-realistic messages** (a case's codes per message, with aggregation): committed codes
//!    per second, from the first publish until the batch is closed in the store (target ≥ 50,000).
//! 2. **One code per message**: committed messages per second, next to the ceiling of the same
//!    mosquitto passing the same QoS1 traffic to a plain auto-acking subscriber (target ≥ 0.8×).
//! 3. **Latency at 75 codes/s** (10 lines at 450 units/min): one-code commissions at that pace,
//!    each fifth followed by a probe message the gateway refuses; the probe's reject notice is
//!    published only after its commit, so publish → notice is an upper bound of publish → commit
//!    (target p99 ≤ 10 ms). It starts once the earlier scenarios' documents are assembled and
//!    delivered (to an axum receiver in this process): storing and sending a 200,000-unit End
//!    of Batch (tens of MB) takes the machine's CPU for a moment, a batch close, not a line at
//!    work.
//!
//! Plus the gateway's peak RSS (VmHWM). The gateway is the release binary, `synchronous=FULL`.
//! Needs `mosquitto` (scripts/test installs it). Run: `cargo bench --bench mqtt_ingest`;
//! `LINEGATE_BENCH_UNITS` (default 200000) sizes scenario 1, a fifth of it scenario 2;
//! `LINEGATE_BENCH_ONLY=2` (or `1,3`, …) runs only the named scenarios, e.g. for profiling.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linegate::simulate::{self, LineSpec, SimMessage, mqtt::Target};
use linegate::store::ReadOnlyStore;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const PREFIX: &str = "bench/plant";
const LINE: &str = "L1";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn mosquitto_bin() -> Option<PathBuf> {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A broker with room for a gateway's offline queue and a deep in-flight window.
fn start_mosquitto(dir: &Path, port: u16) -> Child {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n"
        ),
    )
    .expect("mosquitto.conf");
    let bin = mosquitto_bin().expect("mosquitto is installed");
    Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto starts")
}

/// The example configuration pointed at the bench's broker and data directory.
fn write_config(dir: &Path, mqtt_port: u16, upstream_port: u16) -> PathBuf {
    let example = include_str!("../config/linegate.toml");
    let text = example
        .replace("/var/lib/linegate", &dir.join("data").display().to_string())
        .replace(
            "mqtt://127.0.0.1:1883",
            &format!("mqtt://127.0.0.1:{mqtt_port}"),
        )
        .replace("acme/plant1", PREFIX)
        .replace(
            "https://epcis.example.com/receive",
            &format!("http://127.0.0.1:{upstream_port}/epcis"),
        );
    let path = dir.join("linegate.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn start_gateway(config: &Path, log: &Path) -> Child {
    let err = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_linegate"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "linegate=info")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("linegate starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains("linegate is serving")
    {
        assert!(
            Instant::now() < deadline,
            "linegate did not start; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn spec(batch: &str, units: u32, codes_per_message: u32) -> LineSpec {
    LineSpec {
        line: LINE.into(),
        batch: batch.into(),
        gtin: "00361414567894".into(),
        case_gtin: "50361414567899".into(),
        company_prefix: "0361414".into(),
        lot: batch.chars().take(20).collect(),
        expiry: chrono::NaiveDate::from_ymd_opt(2028, 6, 30).expect("date"),
        units,
        case_size: 100,
        pallet_size: 40,
        reject_rate: 0.0,
        samples: 0,
        faults: 0,
        codes_per_message,
        // Each scenario its own serial numbers: a second batch with the first one's serials
        // would measure refusals (commission_conflict), not commissions.
        seed: batch
            .bytes()
            .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    }
}

/// Codes a message carries: commissioned identifiers and packed children.
fn codes_in(m: &SimMessage) -> u64 {
    ["codes", "children"]
        .iter()
        .filter_map(|k| m.body.get(*k).and_then(|v| v.as_array()))
        .map(|a| a.len() as u64)
        .sum()
}

/// The upstream partner: accepts every document with 200, so each is sent once.
async fn start_upstream() -> u16 {
    // The handler reads the whole body (an End of Batch can be tens of MB): answering before
    // reading it would reset the connection under the sender.
    let app = axum::Router::new()
        .route(
            "/epcis",
            axum::routing::post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("upstream port");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("upstream serves") });
    port
}

/// Waits until every closed batch has its documents and they are delivered, so the latency
/// scenario measures a line at work, not the writer storing and the forwarder reading and
/// sending a 200,000-unit End of Batch (tens of MB).
fn wait_documents(data: &Path) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let waiting = ReadOnlyStore::open(data).and_then(|s| {
            let batches = s.batches()?;
            let outbox = s.outbox()?;
            Ok(batches
                .iter()
                .any(|b| b.document.as_deref() == Some("pending"))
                || outbox.iter().any(|d| d.state != "delivered"))
        });
        if let Ok(false) = waiting {
            return;
        }
        assert!(Instant::now() < deadline, "documents were not assembled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `batch` is closed in the store (its close is the plan's last message).
fn wait_closed(data: &Path, batch: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(store) = ReadOnlyStore::open(data)
            && let Ok(Some(b)) = store.batch(batch)
            && b.row.state == "closed"
        {
            return;
        }
        assert!(Instant::now() < deadline, "batch {batch} did not close");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn target(port: u16, topic: String, id: &str) -> Target {
    Target {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("bench-{id}-{}", std::process::id()),
        topic,
        settings: None,
    }
}

/// Scenario 1 or 2: play a batch, return (messages, codes, seconds until committed).
async fn through_gateway(
    port: u16,
    data: &Path,
    batch: &str,
    units: u32,
    per_msg: u32,
) -> (usize, u64, f64) {
    let plan = simulate::generate(&spec(batch, units, per_msg)).expect("plan");
    let codes: u64 = plan.messages.iter().map(codes_in).sum();
    let topic = format!("{PREFIX}/lines/{LINE}/events");
    let hidden = indicatif::ProgressBar::hidden();
    let started = Instant::now();
    simulate::mqtt::play(&target(port, topic, batch), &plan.messages, None, &hidden)
        .await
        .expect("the broker takes the batch");
    let data = data.to_path_buf();
    let batch = batch.to_string();
    tokio::task::spawn_blocking(move || {
        wait_closed(&data, &batch);
        // A benchmark that measured refusals would lie: every message must have been applied.
        let store = ReadOnlyStore::open(&data).expect("store");
        let refused = store
            .quarantine()
            .expect("quarantine")
            .into_iter()
            .filter(|q| {
                q.message_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(&batch))
            })
            .count();
        assert_eq!(refused, 0, "{refused} messages of {batch} were refused");
    })
    .await
    .expect("waiting");
    (plan.messages.len(), codes, started.elapsed().as_secs_f64())
}

/// The same messages through the same broker to a plain QoS1 subscriber that acks at once.
async fn ceiling(port: u16, messages: &[SimMessage]) -> f64 {
    let topic = "bench/ceiling".to_string();
    let mut opts = MqttOptions::new(
        format!("bench-sub-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_max_packet_size(1 << 24, 1 << 24);
    let (client, mut events) = AsyncClient::new(opts, 64);
    client
        .subscribe(&topic, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = events.poll().await {
            break;
        }
    }
    let want = messages.len();
    let counter = tokio::spawn(async move {
        let mut got = 0;
        while got < want {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(_))) => got += 1,
                Ok(_) => {}
                Err(e) => {
                    panic!("the ceiling subscriber lost the broker after {got} messages: {e}")
                }
            }
        }
        Instant::now()
    });
    let started = Instant::now();
    let hidden = indicatif::ProgressBar::hidden();
    simulate::mqtt::play(&target(port, topic, "ceiling"), messages, None, &hidden)
        .await
        .expect("publish");
    let done = counter.await.expect("subscriber");
    want as f64 / (done - started).as_secs_f64()
}

/// Scenario 3: one code per message at `rate` codes/s for `secs`; probe latencies in ms.
async fn latency(port: u16, batch: &str, rate: f64, secs: u64) -> Vec<f64> {
    let plan = simulate::generate(&spec(batch, (rate as u32) * secs as u32, 1)).expect("plan");
    let events = format!("{PREFIX}/lines/{LINE}/events");
    let rejects = format!("{PREFIX}/lines/{LINE}/rejects");
    let mut opts = MqttOptions::new(
        format!("bench-lat-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    opts.set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut ev) = AsyncClient::new(opts, 4096);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    ev.set_network_options(net);
    client
        .subscribe(&rejects, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = ev.poll().await {
            break;
        }
    }
    // Reject notices with their arrival time, from the event-loop task.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let listener = tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    if let Some(id) = v["id"].as_str() {
                        let _ = tx.send((id.to_string(), Instant::now()));
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => panic!("latency client lost the broker: {e}"),
            }
        }
    });
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let start = Instant::now();
    let mut units = 0u64;
    for (i, m) in plan.messages.iter().enumerate() {
        let due = start + Duration::from_secs_f64(units as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        units += u64::from(m.units);
        client
            .publish(&events, QoS::AtLeastOnce, false, m.body.to_string())
            .await
            .expect("publish");
        if m.units > 0 && i % 5 == 0 {
            let id = format!("probe-{batch}-{i}");
            let probe = serde_json::json!({"id": id, "type": "latency_probe"});
            sent.insert(id, Instant::now());
            client
                .publish(&events, QoS::AtLeastOnce, false, probe.to_string())
                .await
                .expect("probe");
        }
    }
    let mut ms = Vec::with_capacity(sent.len());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ms.len() < sent.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((id, at))) => {
                if let Some(t) = sent.get(&id) {
                    ms.push((at - *t).as_secs_f64() * 1000.0);
                }
            }
            _ => break,
        }
    }
    client.disconnect().await.expect("disconnect");
    let _ = listener.await;
    assert!(
        ms.len() == sent.len(),
        "only {} of {} probe notices arrived",
        ms.len(),
        sent.len()
    );
    ms.sort_by(f64::total_cmp);
    ms
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time so far of the gateway's store writer thread and of the whole gateway process, in
/// seconds (Linux `schedstat`): on a shared machine this shows what the gateway itself costs
/// per message, whatever the wall clock says.
fn gateway_cpu(pid: u32) -> (f64, f64) {
    let (mut writer, mut total) = (0u64, 0u64);
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let ns: u64 = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        total += ns;
        if std::fs::read_to_string(task.path().join("comm"))
            .unwrap_or_default()
            .trim_end()
            == "store-writer"
        {
            writer += ns;
        }
    }
    (writer as f64 / 1e9, total as f64 / 1e9)
}

/// "writer X µs, gateway Y µs of CPU per message" between two `gateway_cpu` readings.
fn cpu_per_message(before: (f64, f64), after: (f64, f64), messages: usize) -> String {
    let per = |a: f64, b: f64| (b - a) * 1e6 / messages.max(1) as f64;
    format!(
        "CPU per message: store writer {:.1} µs, whole gateway {:.1} µs",
        per(before.0, after.0),
        per(before.1, after.1)
    )
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    if mosquitto_bin().is_none() {
        eprintln!("mqtt_ingest: mosquitto is not installed (scripts/test installs it); skipped");
        return;
    }
    let units: u32 = std::env::var("LINEGATE_BENCH_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut broker = start_mosquitto(dir.path(), port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let upstream_port = rt.block_on(start_upstream());
    let config = write_config(dir.path(), port, upstream_port);
    let log = dir.path().join("linegate.log");
    let mut gateway = start_gateway(&config, &log);
    let data = dir.path().join("data");

    let only = std::env::var("LINEGATE_BENCH_ONLY").unwrap_or_else(|_| "1,2,3".into());
    let runs = |n: &str| only.split(',').any(|s| s.trim() == n);

    if runs("1") {
        let cpu0 = gateway_cpu(gateway.id());
        let (msgs, codes, secs) =
            rt.block_on(through_gateway(port, &data, "BENCH-CASE", units, 100));
        let cpu = cpu_per_message(cpu0, gateway_cpu(gateway.id()), msgs);
        println!(
            "mqtt_ingest: case-sized messages: {units} units, {msgs} messages, {codes} codes committed in {secs:.2} s = {:.0} codes/s (target 50000), {:.0} messages/s; {cpu}",
            codes as f64 / secs,
            msgs as f64 / secs
        );
    }

    if runs("2") {
        let small = (units / 5).max(4000) / 4000 * 4000;
        let one = simulate::generate(&spec("BENCH-ONE", small, 1)).expect("plan");
        let ceiling_rate = rt.block_on(ceiling(port, &one.messages));
        let cpu0 = gateway_cpu(gateway.id());
        let (msgs1, _, secs1) = rt.block_on(through_gateway(port, &data, "BENCH-ONE", small, 1));
        let cpu = cpu_per_message(cpu0, gateway_cpu(gateway.id()), msgs1);
        let rate1 = msgs1 as f64 / secs1;
        println!(
            "mqtt_ingest: one code per message: {msgs1} messages committed in {secs1:.2} s = {rate1:.0} messages/s; plain QoS1 subscriber on the same broker: {ceiling_rate:.0} messages/s; ratio {:.2} (target 0.80); {cpu}",
            rate1 / ceiling_rate
        );
    }

    if runs("3") {
        wait_documents(&data);
        let ms = rt.block_on(latency(port, "BENCH-LAT", 75.0, 20));
        println!(
            "mqtt_ingest: at 75 codes/s, publish → commit → reject notice over {} probes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 ≤ 10 ms)",
            ms.len(),
            percentile(&ms, 0.50),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "mqtt_ingest: gateway peak RSS {:.1} MB",
        peak_rss_mb(gateway.id())
    );

    let _ = Command::new("kill").arg(gateway.id().to_string()).status();
    let _ = gateway.wait();
    let _ = broker.kill();
    let _ = broker.wait();
}
