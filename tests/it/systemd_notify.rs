//! systemd's notify protocol as the daemon speaks it, heard on a `NOTIFY_SOCKET` the test owns.
//!
//! The unit is `Type=notify` with `WatchdogSec=`: systemd waits for `READY=1`, shows the
//! `STATUS=` lines, and restarts linegate when `WATCHDOG=1` stops. The pings must mean "the
//! store still commits", so this test holds up the real store writer the way a stuck disk or a
//! stray `sqlite3` session would — another connection holding the database's write lock while
//! a line message waits to be committed — and checks the pings stop (with a STATUS line and an
//! ERROR saying why), and come back, with the held-up message committed, once the
//! lock is released. The socket is a plain datagram socket, exactly what systemd provides.
//! The local API's `GET /health` says the same: red for `store:writer` during the stall, green
//! after it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tokio::net::UnixDatagram;
use tokio::process::Command;

use crate::api_client::ApiClient;
use crate::support::daemon::BIN;
use crate::support::{
    Gateway, LINE, batch_open, cli_json, code, commission, events_topic, log_tail, pace,
    poll_until, run_tag,
};

/// What systemd would pass for `WatchdogSec=1`.
const WATCHDOG_USEC: &str = "1000000";
const DEADLINE: Duration = Duration::from_secs(30);

/// Every datagram the daemon sent, with when it arrived.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<(Instant, String)>>>);

impl Heard {
    fn listen(sock: UnixDatagram) -> (Heard, tokio::task::JoinHandle<()>) {
        let heard = Heard::default();
        let sink = heard.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut all = sink.0.lock().unwrap();
                for line in text.lines() {
                    all.push((Instant::now(), line.to_string()));
                }
            }
        });
        (heard, task)
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn lines_since(&self, from: usize) -> Vec<String> {
        self.0.lock().unwrap()[from..]
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Waits until a line from index `from` on satisfies `pred`; returns the index after it.
    async fn wait_for(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<usize> {
        let deadline = Instant::now() + DEADLINE;
        let mut tick = pace(Duration::from_millis(50));
        loop {
            {
                let all = self.0.lock().unwrap();
                if let Some(i) = (from..all.len()).find(|&i| pred(&all[i].1)) {
                    return Ok(i + 1);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no {what} within {DEADLINE:?}; heard {:?}",
                    self.lines_since(0)
                );
            }
            tick.tick().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_status_and_watchdog_pings_follow_the_store_writer() -> Result<()> {
    let gw = Gateway::start(&[200]).await?;
    // The local API, to see the stall in `GET /health` as plant IT would.
    let api = ApiClient::new(gw.dir.path(), "ops")?;
    api.enable(&gw.config)?;
    let sock_path = gw.dir.path().join("notify.sock");
    let (heard, listener) = Heard::listen(UnixDatagram::bind(&sock_path)?);
    let log_path = gw.dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&gw.config)
        .env("RUST_LOG", "info,linegate=debug")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    let result = scenario(&gw, &api, &heard, &log_path).await;
    if result.is_err() {
        eprintln!("---- daemon log ----\n{}", log_tail(&log_path, 80));
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    listener.abort();
    result
}

async fn scenario(
    gw: &Gateway,
    api: &ApiClient,
    heard: &Heard,
    log_path: &std::path::Path,
) -> Result<()> {
    // READY once the MQTT source is subscribed; STATUS says serving; the pings start.
    let at = heard.wait_for(0, "READY=1", |l| l == "READY=1").await?;
    heard
        .wait_for(0, "a serving STATUS", |l| l.starts_with("STATUS=serving"))
        .await?;
    let mut at = at;
    for n in 0..3 {
        at = (heard.wait_for(at, &format!("WATCHDOG=1 #{n}"), |l| l == "WATCHDOG=1")).await?;
    }

    // A batch opens: the STATUS line counts it.
    let client = gw.line_client("notify-test").await?;
    let tag = run_tag();
    let batch = format!("N{tag}");
    let topic = events_topic(LINE);
    client
        .publish(&topic, batch_open("open", &batch), "open")
        .await?;
    client.wait_acked(1, DEADLINE).await?;
    heard
        .wait_for(0, "a STATUS with the open batch", |l| {
            l.starts_with("STATUS=serving") && l.contains("1 open batch")
        })
        .await?;

    // Another process takes the database's write lock; a line message now waits in the
    // writer, which stops answering.
    let db = gw.dir.path().join("data").join("linegate.db");
    let lock = rusqlite::Connection::open(&db).context("open the daemon's database")?;
    lock.busy_timeout(Duration::from_secs(10))?;
    lock.execute_batch("BEGIN IMMEDIATE")?;
    let codes = vec![code(&format!("S{tag}00001"))];
    client
        .publish(&topic, commission("c1", &batch, &codes), "c1")
        .await?;
    let stalled_at = heard
        .wait_for(at, "a STATUS naming the stalled writer", |l| {
            l.starts_with("STATUS=degraded") && l.contains("store writer not answering")
        })
        .await?;
    // From then on no ping for several watchdog periods (1 s each): systemd would restart us.
    let quiet_from = Instant::now();
    let mut tick = pace(Duration::from_millis(100));
    while quiet_from.elapsed() < Duration::from_secs(3) {
        tick.tick().await;
        let pings = heard.lines_since(stalled_at);
        ensure!(
            !pings.iter().any(|l| l == "WATCHDOG=1"),
            "WATCHDOG=1 while the writer was held up: {pings:?}"
        );
    }
    ensure!(
        stored(gw).await? == 0,
        "the held-up message was committed while the lock was held"
    );
    let log = std::fs::read_to_string(log_path)?;
    ensure!(
        log.contains("ERROR") && log.contains("store writer is not answering"),
        "no ERROR about the stalled writer in the log"
    );
    // The health turns red for the store (503 with the reason), and still no ping went out.
    api.wait_red("store:writer", "has not answered").await?;
    let pings = heard.lines_since(stalled_at);
    ensure!(
        !pings.iter().any(|l| l == "WATCHDOG=1"),
        "WATCHDOG=1 while the writer was held up: {pings:?}"
    );

    // The lock goes; the message commits, is acknowledged, and the pings resume.
    let resumed_from = heard.len();
    lock.execute_batch("ROLLBACK")?;
    poll_until("the held-up message committed", DEADLINE, async || {
        Ok((stored(gw).await? == 1).then_some(()))
    })
    .await?;
    heard
        .wait_for(resumed_from, "WATCHDOG=1 after the stall", |l| {
            l == "WATCHDOG=1"
        })
        .await?;
    heard
        .wait_for(resumed_from, "a serving STATUS again", |l| {
            l.starts_with("STATUS=serving")
        })
        .await?;
    ensure!(
        std::fs::read_to_string(log_path)?.contains("store writer answers again"),
        "recovery not logged"
    );
    api.wait_green().await?;
    Ok(())
}

/// Identifiers the store holds, as `linegate batch list --json` counts them.
async fn stored(gw: &Gateway) -> Result<u64> {
    let rows: Vec<serde_json::Value> = cli_json(&["batch", "list"], &gw.config).await?;
    Ok(rows.iter().filter_map(|r| r["serials"].as_u64()).sum())
}
