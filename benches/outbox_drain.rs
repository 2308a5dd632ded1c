//! How fast a backlog leaves the plant once the upstream is back (issue 7's drain target:
//! 500,000 events' documents to a local HTTPS receiver in at most 30 s).
//!
//! Each scenario fills a fresh data directory with `linegate bench backlog` (the release binary:
//! real EPCIS documents of one-unit commission events from our builders, fsynced outbox files,
//! rows recorded through the store's writer; not timed), then starts `linegate run` — the
//! whole daemon, embedded broker included — with its one `[[upstream]]` pointed at an HTTPS
//! receiver in this process (rustls + hyper, a CA and server certificate made now, verified by
//! the daemon through `ca_file`). The figure is the wall time from starting the daemon until
//! every delivery row is `delivered` (the database polled read-only every 20 ms), so it
//! includes the daemon's start and the last commits. Afterwards every document must have
//! arrived (by its Idempotency-Key) and each batch's documents in order (first arrivals).
//! The receiver shares the machine's cores with the daemon, as the bench's own cost.
//!
//! Scenarios: `LINEGATE_BENCH_EVENTS` (default 500000) events, for every combination of
//! `LINEGATE_BENCH_EVENTS_PER_DOC` (default `1000,1`) and `LINEGATE_BENCH_GROUPS` (default
//! `8,1`) — comma-separated lists. `LINEGATE_BENCH_FORMAT` (default `epcis-1.2`) and
//! `LINEGATE_BENCH_MAX_IN_FLIGHT` (default: the upstream's default) set the partner;
//! `LINEGATE_BENCH_KEEP=1` keeps the directories (to profile a drain again). Run with
//! `cargo bench --bench outbox_drain`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

#[path = "common/https_receiver.rs"]
mod https_receiver;
use https_receiver::{Pki, Receiver};

const TARGET_SECONDS: f64 = 30.0;
const BIN: &str = env!("CARGO_BIN_EXE_linegate");

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn list(name: &str, default: &str) -> Vec<usize> {
    env_or(name, default)
        .split(',')
        .map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name}: {v}?")))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn config(dir: &Path, upstream_url: &str, ca_file: &Path) -> String {
    let max_in_flight = std::env::var("LINEGATE_BENCH_MAX_IN_FLIGHT")
        .map(|n| format!("max_in_flight = {n}\n"))
        .unwrap_or_default();
    format!(
        r#"[gateway]
data_dir = "{data}"
site_gln = "0361414000001"
timezone_offset = "+01:00"

[gs1]
company_prefixes = ["0361414"]

[mqtt]
url = "mqtt://127.0.0.1:{mqtt}"
topic_prefix = "bench/plant"
embedded_broker = true

[[line]]
id = "L1"
sgln = "urn:epc:id:sgln:0361414.00001.L1"

[[upstream]]
name = "mah"
url = "{upstream_url}"
ca_file = "{ca}"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
format = "{format}"
retry_initial_ms = 100
retry_max_ms = 1000
{max_in_flight}"#,
        data = dir.join("data").display(),
        mqtt = free_port(),
        ca = ca_file.display(),
        format = env_or("LINEGATE_BENCH_FORMAT", "epcis-1.2"),
    )
}

fn open_db(dir: &Path) -> Connection {
    let conn = Connection::open_with_flags(
        dir.join("data/linegate.db"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("the database opens read-only");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    conn
}

/// Every delivery: (document id, ordering group, seq, bytes), in seq order.
fn documents(db: &Connection) -> Vec<(String, String, i64, u64)> {
    let mut stmt = db
        .prepare(
            "SELECT d.document_id, d.order_key, d.seq, doc.bytes FROM deliveries d
             JOIN documents doc ON doc.document_id = d.document_id ORDER BY d.seq",
        )
        .expect("query");
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn undelivered(db: &Connection) -> i64 {
    db.query_row(
        "SELECT count(*) FROM deliveries WHERE state <> 'delivered'",
        [],
        |r| r.get(0),
    )
    .expect("count")
}

/// The daemon's CPU seconds (user + system) and peak RSS (MB), from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, r)| r.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // /proc reports CPU time in USER_HZ, 100 on Linux.
    let hz = 100.0;
    let cpu = (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

fn stop(mut daemon: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
}

fn scenario(rt: &tokio::runtime::Runtime, events: usize, per_doc: usize, groups: usize) -> bool {
    let temp = tempfile::Builder::new()
        .prefix("linegate-drain-")
        .tempdir()
        .expect("a temporary directory");
    let dir: PathBuf = if std::env::var_os("LINEGATE_BENCH_KEEP").is_some() {
        temp.keep()
    } else {
        temp.path().to_path_buf()
    };
    let pki = Pki::generate(&dir).expect("certificates");
    let receiver = rt
        .block_on(Receiver::start(&pki, 0, None))
        .expect("the receiver starts");
    let config_path = dir.join("linegate.toml");
    std::fs::write(&config_path, config(&dir, &receiver.url(), &pki.ca_file)).expect("config");

    let t = Instant::now();
    let out = Command::new(BIN)
        .args([
            "bench",
            "backlog",
            "--json",
            "--events",
            &events.to_string(),
        ])
        .args(["--events-per-document", &per_doc.to_string()])
        .args(["--groups", &groups.to_string(), "--config"])
        .arg(&config_path)
        .stderr(Stdio::inherit())
        .output()
        .expect("linegate bench backlog runs");
    assert!(out.status.success(), "bench backlog failed");
    let filled = t.elapsed().as_secs_f64();
    let db = open_db(&dir);
    let docs = documents(&db);
    let bytes: u64 = docs.iter().map(|d| d.3).sum();
    eprintln!(
        "outbox_drain: backlog of {events} events in {} documents ({:.1} MB) filled in {filled:.1} s (not timed); {}",
        docs.len(),
        bytes as f64 / 1e6,
        dir.display()
    );

    let log = std::fs::File::create(dir.join("daemon.log")).expect("log");
    let start = Instant::now();
    let daemon = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config_path)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("the daemon starts");
    let pid = daemon.id();
    let deadline = Duration::from_secs(1800);
    while undelivered(&db) > 0 {
        if start.elapsed() > deadline {
            stop(daemon);
            panic!("not drained after {deadline:?}; see {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = start.elapsed().as_secs_f64();
    let (cpu, rss) = usage(pid);
    stop(daemon);

    let arrivals = receiver.arrivals();
    let first = arrivals.first().map(|a| a.at);
    let last = arrivals.last().map(|a| a.at);
    let sending = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    let mut first_seen = std::collections::HashMap::new();
    for (i, a) in arrivals.iter().enumerate() {
        first_seen.entry(a.key.as_str()).or_insert(i);
    }
    let missing = docs
        .iter()
        .filter(|d| !first_seen.contains_key(d.0.as_str()))
        .count();
    let mut last_in_group = std::collections::HashMap::new();
    let mut out_of_order = 0;
    for (id, group, _, _) in &docs {
        let Some(&at) = first_seen.get(id.as_str()) else {
            continue;
        };
        if let Some(prev) = last_in_group.insert(group.as_str(), at)
            && prev > at
        {
            out_of_order += 1;
        }
    }
    let n = docs.len() as f64;
    let verdict = if secs <= TARGET_SECONDS {
        "meets"
    } else {
        "MISSES"
    };
    println!(
        "outbox_drain: {events} events in {} documents of {per_doc} event(s), {groups} group(s), {:.1} MB: drained in {secs:.2} s from daemon start ({:.0} docs/s, {:.0} events/s, {:.1} MB/s; first to last arrival {sending:.2} s); {} arrivals ({} repeated), daemon CPU {cpu:.1} s, peak RSS {rss:.0} MB ({verdict} the target of {TARGET_SECONDS} s)",
        docs.len(),
        bytes as f64 / 1e6,
        n / secs,
        events as f64 / secs,
        bytes as f64 / 1e6 / secs,
        arrivals.len(),
        arrivals.len() - first_seen.len(),
    );
    let ok = missing == 0 && out_of_order == 0 && receiver.bytes() >= bytes;
    if !ok {
        println!(
            "outbox_drain: FAILED: {missing} document(s) never arrived, {out_of_order} out of order, {} of {bytes} bytes received",
            receiver.bytes()
        );
    }
    ok
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let events = list("LINEGATE_BENCH_EVENTS", "500000")[0];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("outbox_drain: load average before: {}", load.trim());
    let mut ok = true;
    for per_doc in list("LINEGATE_BENCH_EVENTS_PER_DOC", "1000,1") {
        for groups in list("LINEGATE_BENCH_GROUPS", "8,1") {
            ok &= scenario(&rt, events, per_doc, groups);
        }
    }
    assert!(ok, "a drain lost or reordered documents");
}
