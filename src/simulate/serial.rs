//! The simulator's serial transport: virtual scanners on pty pairs, plugged in behind the
//! `device` paths of the line's `[[scanner]]` stations, reading what the plan says each reads.
//!
//! For each of the line's scanners the simulator opens a pseudo-terminal, puts its slave end in
//! raw mode and points the configured `device` at it, as udev points a `/dev/serial/by-id/…`
//! link at a scanner that was plugged in; the running gateway opens it within 2 s. The
//! simulator is the scanner: it writes each code as a GS1 scanner sends it (`]d2…` with GS
//! separators, `]C1…` for an SSCC) between the station's `strip_prefix`/`strip_suffix`, framed
//! by its `framing`, to the pty master, and reads (and discards) the station's reply bytes.
//! `stations` decides which station reads what; the batch's open and close, and whatever the
//! line has no station for, go through the store as `linegate batch close` sends a decision —
//! so the simulator must run on the gateway's machine, as the gateway's user.
//!
//! Stations work in parallel, but a line's events depend on each other (a unit is packed only
//! once commissioned, the batch closes only after everything is in). So before writing to
//! another station than the last one, and before anything goes through the store, the
//! simulator waits until every station has committed what it was sent: it counts each
//! station's messages in the store's message log (their ids are `{scanner}-{session}-{n}`).
//! A station that commits nothing for 30 s ends the run with its counts.
//!
//! The simulator refuses to touch a `device` under `/dev` or one that is a real port (not a
//! link, or a link to a device that is not a pty): point the scanners of a test configuration
//! at paths of their own, e.g. `/run/linegate-sim/packer`. Its links are removed at the end.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::ProgressBar;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::stations::{Action, route};
use super::summary::Delivered;
use super::{Expected, Plan, SimulateError};
use crate::config::{Config, Framing, Scanner};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store};

/// How often a station's committed count is looked up while waiting for it.
const POLL: Duration = Duration::from_millis(2);
/// A station that commits nothing for this long while it has reads pending ends the run.
const STALL: Duration = Duration::from_secs(30);

/// One virtual scanner: a pty pair whose slave the station's `device` link points at.
struct VirtualScanner {
    scanner: Scanner,
    master: Arc<AsyncFd<OwnedFd>>,
    /// Held open, so the slave keeps its raw mode and buffers reads until the station opens it.
    _slave: OwnedFd,
    slave_path: PathBuf,
    /// Reads the replies the station writes back, so it never blocks on a full pty.
    _drain: AbortOnDropHandle<()>,
    /// Messages of this station in the store before the run, and sent since.
    baseline: u64,
    sent: u64,
}

impl VirtualScanner {
    fn plug(scanner: &Scanner) -> Result<VirtualScanner, SimulateError> {
        let io = |what: &str, e: std::io::Error| SimulateError::Device {
            scanner: scanner.id.clone(),
            device: scanner.device.clone(),
            why: format!("{what}: {e}"),
        };
        let pair = nix::pty::openpty(None, None).map_err(|e| io("openpty", e.into()))?;
        let mut t = tcgetattr(pair.slave.as_fd()).map_err(|e| io("tcgetattr", e.into()))?;
        cfmakeraw(&mut t);
        tcsetattr(pair.slave.as_fd(), SetArg::TCSANOW, &t).map_err(|e| io("raw mode", e.into()))?;
        let slave_path =
            nix::unistd::ttyname(pair.slave.as_fd()).map_err(|e| io("ttyname", e.into()))?;
        fcntl(pair.master.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|e| io("O_NONBLOCK", e.into()))?;
        // Deprecated because an arbitrary `AsRawFd` could be closed behind the reactor's back;
        // here the `OwnedFd` moves into the `AsyncFd`, which alone closes it.
        #[allow(deprecated)]
        let master = Arc::new(AsyncFd::new(pair.master).map_err(|e| io("epoll", e))?);
        link(&scanner.device, &slave_path).map_err(|why| SimulateError::Device {
            scanner: scanner.id.clone(),
            device: scanner.device.clone(),
            why,
        })?;
        let drain = AbortOnDropHandle::new(tokio::spawn(drain(master.clone())));
        Ok(VirtualScanner {
            scanner: scanner.clone(),
            master,
            _slave: pair.slave,
            slave_path,
            _drain: drain,
            baseline: 0,
            sent: 0,
        })
    }

    /// Writes all of `bytes` to the master: what the scanner sends down the cable.
    async fn send(&self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let mut guard = self.master.writable().await?;
            if let Ok(n) = guard.try_io(|fd| Ok(nix::unistd::write(fd.get_ref(), bytes)?)) {
                bytes = &bytes[n?..];
            }
        }
        Ok(())
    }

    /// One read as this scanner frames it.
    fn frame(&self, code: &str) -> Vec<u8> {
        let s = &self.scanner;
        let body = [
            s.strip_prefix.as_deref().unwrap_or_default(),
            code.as_bytes(),
            s.strip_suffix.as_deref().unwrap_or_default(),
        ]
        .concat();
        match &s.framing {
            Framing::Cr => [&body[..], b"\r"].concat(),
            Framing::Lf => [&body[..], b"\n"].concat(),
            Framing::CrLf => [&body[..], b"\r\n"].concat(),
            Framing::StxEtx => [&[0x02][..], &body, &[0x03]].concat(),
            Framing::Terminator(t) => [&body[..], t].concat(),
        }
    }
}

impl Drop for VirtualScanner {
    /// Unplugs: the link goes (if it is still ours), so the station does not open a pty that
    /// the kernel hands to someone else next.
    fn drop(&mut self) {
        if std::fs::read_link(&self.scanner.device).is_ok_and(|t| t == self.slave_path) {
            let _ = std::fs::remove_file(&self.scanner.device);
        }
    }
}

/// Points `device` at `slave`, atomically; refuses anything that may be a real scanner's.
fn link(device: &Path, slave: &Path) -> Result<(), String> {
    if device.starts_with("/dev") {
        return Err("is under /dev: simulate plugs virtual scanners in only behind paths of their own (a test configuration with e.g. device = \"/run/linegate-sim/packer\")".into());
    }
    match std::fs::symlink_metadata(device) {
        Ok(m) if !m.file_type().is_symlink() => {
            return Err("exists and is not a link; simulate replaces only links".into());
        }
        Ok(_) => match std::fs::canonicalize(device) {
            Ok(to) if !to.starts_with("/dev/pts") => {
                return Err(format!("is a link to {}, which is not a pty", to.display()));
            }
            _ => {} // a pty of an earlier run, or dangling
        },
        Err(_) => {
            if let Some(dir) = device.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
        }
    }
    let name = device.file_name().unwrap_or_default().to_string_lossy();
    let tmp = device.with_file_name(format!(".{name}.linegate-sim"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(slave, &tmp).map_err(|e| format!("creating the link: {e}"))?;
    std::fs::rename(&tmp, device).map_err(|e| format!("placing the link: {e}"))
}

/// Reads and drops whatever the station writes back (its `reply_ok` / `reply_reject` bytes).
async fn drain(master: Arc<AsyncFd<OwnedFd>>) {
    let mut buf = [0u8; 1024];
    loop {
        let Ok(mut guard) = master.readable().await else {
            return;
        };
        match guard.try_io(|fd| Ok(nix::unistd::read(fd.get_ref(), &mut buf)?)) {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            _ => {}
        }
    }
}

/// Plays `plan` on `line`'s scanner stations against the running gateway. Returns what was
/// delivered and what the batch must look like as the stations made it (`stations::route`).
pub async fn play(
    config: &Config,
    line: &str,
    plan: &Plan,
    rate: Option<f64>,
    progress: &ProgressBar,
) -> Result<(Delivered, Expected), SimulateError> {
    let scanners: Vec<Scanner> = config
        .scanners
        .iter()
        .filter(|s| s.line == line)
        .cloned()
        .collect();
    let stations = |problem| SimulateError::Stations {
        line: line.to_string(),
        problem,
    };
    if scanners.is_empty() {
        return Err(stations(
            "it has none; --transport serial plays a line's [[scanner]] stations".into(),
        ));
    }
    let route = route(plan, &scanners).map_err(stations)?;
    progress.set_message("committed by the gateway");
    let data_dir = &config.gateway.data_dir;
    let log = ReadOnlyStore::open(data_dir)?;
    let mut virt = Vec::with_capacity(scanners.len());
    for s in &scanners {
        let mut v = VirtualScanner::plug(s)?;
        v.baseline = log.scanner_messages(line, &s.id)?;
        virt.push(v);
    }
    let (store, writer) = Store::open(data_dir, config.rules_policy())?;
    let units_before: Vec<u64> = plan
        .messages
        .iter()
        .scan(0u64, |acc, m| {
            Some(std::mem::replace(acc, *acc + u64::from(m.units)))
        })
        .collect();
    let start = Instant::now();
    let (mut last, mut reads, mut via_store) = (None, 0u64, 0usize);
    for step in &route.steps {
        if let Some(r) = rate.filter(|r| *r > 0.0) {
            let due = start + Duration::from_secs_f64(units_before[step.first] as f64 / r);
            tokio::time::sleep_until(due).await;
        }
        match &step.action {
            Action::Store => {
                settle(&log, line, &virt).await?;
                let message = &plan.messages[step.first];
                if let IngestOutcome::Rejected(r) =
                    store.ingest(item(config, line, &message.body)).await?
                {
                    if message.body["type"] == "batch_open" {
                        return Err(SimulateError::Refused {
                            id: message.id.clone(),
                            reason: r.reason,
                        });
                    }
                }
                (last, via_store) = (None, via_store + 1);
            }
            Action::Reads {
                station,
                codes,
                closes,
            } => {
                if last != Some(*station) {
                    settle(&log, line, &virt).await?;
                }
                let v = &mut virt[*station];
                let bytes: Vec<u8> = codes.iter().flat_map(|c| v.frame(c)).collect();
                v.send(&bytes).await.map_err(|e| SimulateError::Device {
                    scanner: v.scanner.id.clone(),
                    device: v.scanner.device.clone(),
                    why: format!("writing to the pty: {e}"),
                })?;
                v.sent += closes;
                (last, reads) = (Some(*station), reads + codes.len() as u64);
            }
        }
        progress.inc(step.messages as u64);
    }
    settle(&log, line, &virt).await?;
    let elapsed = start.elapsed();
    drop(store);
    writer.join();
    let delivered = Delivered {
        transport: "serial",
        messages: plan.messages.len(),
        units: plan.messages.iter().map(|m| u64::from(m.units)).sum(),
        elapsed,
        acked: Vec::new(),
        reconnects: 0,
        reads,
        via_store,
    };
    Ok((delivered, route.expected))
}

/// Waits until every station has committed everything it was sent.
async fn settle(
    log: &ReadOnlyStore,
    line: &str,
    virt: &[VirtualScanner],
) -> Result<(), SimulateError> {
    for v in virt.iter() {
        let (mut seen, mut since) = (u64::MAX, Instant::now());
        loop {
            let done = log
                .scanner_messages(line, &v.scanner.id)?
                .saturating_sub(v.baseline);
            if done >= v.sent {
                break;
            }
            if done != seen {
                (seen, since) = (done, Instant::now());
            } else if since.elapsed() > STALL {
                return Err(SimulateError::Stalled {
                    scanner: v.scanner.id.clone(),
                    device: v.scanner.device.clone(),
                    committed: done,
                    sent: v.sent,
                    secs: STALL.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

/// A plan message as the store takes it from the simulator (topic `simulate`).
fn item(config: &Config, line: &str, body: &serde_json::Value) -> IngestItem {
    let now = Utc::now();
    let mut body = body.clone();
    body["time"] = now.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    let payload = body.to_string().into_bytes();
    let ctx = DecodeContext {
        line,
        received_at: now,
        max_payload_bytes: config.mqtt.max_payload_bytes.max(payload.len()),
        prefixes: &config.prefixes,
    };
    let decoded = match protocol::decode(&payload, &ctx) {
        Ok(m) => Decoded::Accepted(m),
        Err(r) => Decoded::Refused {
            message_id: r.message_id,
            rejection: r.rejection,
        },
    };
    IngestItem {
        topic: "simulate".into(),
        line: Some(line.to_string()),
        received_at: now,
        payload,
        decoded,
    }
}
