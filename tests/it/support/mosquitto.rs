//! A real `mosquitto` broker owned by one test.
//!
//! The daemon's durability promise ("acked only after commit", persistent
//! session) can only be checked against a real broker that queues QoS1
//! messages for an offline client, so every test starts its own broker on an
//! ephemeral port with persistence in the test's temp dir. The harness owns
//! the process: it can SIGKILL it and start it again on the same port with the
//! same persistence directory.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use super::{log_tail, log_tail_without, pace};

const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Entry point: `Mosquitto::start(dir)`.
pub struct Mosquitto;

/// How a broker is set up beyond the default (anonymous, persistent).
#[derive(Debug, Clone)]
pub struct Setup {
    /// `persistence true` (the default): sessions and messages survive a restart.
    pub persistence: bool,
    /// Settings of a second listener (on `Broker::secure_port`) for the daemon, e.g. TLS with
    /// `require_certificate true` or `allow_anonymous false` with a `password_file`. The first
    /// listener stays anonymous and plain, for the test's own line client.
    pub secured: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            persistence: true,
            secured: None,
        }
    }
}

/// A running (or killed, restartable) broker process.
pub struct Broker {
    port: u16,
    secure_port: Option<u16>,
    conf: PathBuf,
    db_file: PathBuf,
    log: PathBuf,
    stderr: PathBuf,
    child: Option<Child>,
}

/// Picks a port the kernel considers free right now (bind :0, read it, drop).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Mosquitto {
    /// Writes `DIR/mosquitto.conf`, spawns the broker and waits until it
    /// accepts TCP connections.
    pub async fn start(dir: &Path) -> Result<Broker> {
        Self::start_with(dir, &Setup::default()).await
    }

    /// Like `start`, with a `Setup`.
    pub async fn start_with(dir: &Path, setup: &Setup) -> Result<Broker> {
        // The port is only known free when picked; another test may grab it
        // before mosquitto binds it. Such a start fails fast: pick another.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_on(dir, free_port()?, setup).await {
                Err(e) if attempt < 3 => eprintln!("mosquitto start failed, retrying: {e:#}"),
                other => return other,
            }
        }
    }

    async fn start_on(dir: &Path, port: u16, setup: &Setup) -> Result<Broker> {
        let persist_dir = dir.join("mosquitto-data");
        std::fs::create_dir_all(&persist_dir)?;
        let conf = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        let secure_port = match setup.secured {
            Some(_) => Some(free_port()?),
            None => None,
        };
        // With a second listener each one carries its own security settings.
        let listeners = match (&setup.secured, secure_port) {
            (Some(secured), Some(sp)) => format!(
                "per_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
                 listener {sp} 127.0.0.1\n{secured}\n"
            ),
            _ => format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        };
        // `user root`: when the suite runs as root, mosquitto would otherwise
        // drop to the `mosquitto` user and lose access to the 0700 temp dir.
        // It has no effect for non-root users.
        let text = format!(
            "{listeners}\
             persistence {persistence}\n\
             persistence_location {persist}/\n\
             autosave_interval 1\n\
             max_queued_messages 0\n\
             user root\n\
             log_dest file {log}\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             connection_messages true\n\
             log_timestamp_format %H:%M:%S\n",
            persist = persist_dir.display(),
            log = log.display(),
            persistence = setup.persistence,
        );
        std::fs::write(&conf, text).context("write mosquitto.conf")?;
        let mut broker = Broker {
            port,
            secure_port,
            conf,
            db_file: persist_dir.join("mosquitto.db"),
            log,
            stderr: dir.join("mosquitto.stderr"),
            child: None,
        };
        broker.spawn().await?;
        Ok(broker)
    }
}

impl Broker {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The second listener's port (`Setup::secured`).
    pub fn secure_port(&self) -> Option<u16> {
        self.secure_port
    }

    /// SIGKILL: no chance to flush anything that was not autosaved.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().context("kill mosquitto")?;
            child.wait().await?;
        }
        Ok(())
    }

    /// SIGTERM: mosquitto saves its persistence file and exits; as for a daemon connected to
    /// it, the connection just drops. Used where a SIGKILL's lost autosave window (up to
    /// `autosave_interval`, 1 s, of messages it had already acknowledged) is not under test.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().context("mosquitto pid")?;
            let sent = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
            if !sent.success() {
                bail!("kill -TERM {pid} failed: {sent}");
            }
            tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .context("mosquitto still running 30 s after SIGTERM")??;
        }
        Ok(())
    }

    /// Stop (SIGTERM) and start again on the same port and persistence dir.
    pub async fn restart_graceful(&mut self) -> Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    /// Starts a stopped (or killed) broker again on the same port and persistence dir.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("mosquitto on port {} is still running", self.port);
        }
        self.spawn().await
    }

    /// Kill (if running) and start again on the same port and persistence dir.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.spawn().await
    }

    /// Waits (polled, bounded) until the broker has written its persistence
    /// file at or after `since`, i.e. an autosave that includes everything the
    /// broker had accepted before `since`.
    pub async fn wait_persisted_since(&self, since: SystemTime) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut tick = pace(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if let Ok(mtime) = std::fs::metadata(&self.db_file).and_then(|m| m.modified()) {
                if mtime > since {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "mosquitto did not autosave {} in time",
                    self.db_file.display()
                );
            }
        }
    }

    /// How many times the log says a broker came up (the log is appended to
    /// across restarts).
    fn running_lines(&self) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("mosquitto version") && l.ends_with(" running"))
            .count()
    }

    async fn spawn(&mut self) -> Result<()> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)?;
        let mut child = Command::new(MOSQUITTO_BIN)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {MOSQUITTO_BIN}"))?;
        let deadline = Instant::now() + START_DEADLINE;
        let before = self.running_lines();
        let mut tick = pace(Duration::from_millis(25));
        loop {
            tick.tick().await;
            if let Some(status) = child.try_wait()? {
                bail!(
                    "mosquitto exited during startup ({status})\n{}\n{}",
                    log_tail(&self.stderr, 20),
                    log_tail(&self.log, 20)
                );
            }
            // The log line proves it is *our* mosquitto that owns the port.
            if self.running_lines() > before && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("mosquitto not accepting connections on port {}", self.port);
            }
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Shown by libtest only for failing tests (see `Daemon`'s Drop).
        eprintln!(
            "---- mosquitto log, last lines other than autosaves ({}) ----\n{}",
            self.log.display(),
            log_tail_without(&self.log, 20, &["Saving in-memory database"])
        );
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}
