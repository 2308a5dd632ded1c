//! Real serial ports for the scanner tests: pseudo-terminals behind a by-id style symlink.
//!
//! A pty pair behaves like a USB serial adapter from the daemon's side: the daemon opens the
//! slave (`/dev/pts/N`) through the configured device path, which is a symlink in the test's
//! temp dir (like `/dev/serial/by-id/usb-…`). The test is the scanner: it writes frames to the
//! master and reads the daemon's replies there. Closing the master is unplugging the scanner
//! (the daemon's reads fail with EIO); re-pointing the symlink at a new pty is plugging it back
//! in. The slave is put in raw mode at once, so bytes written before the daemon opens the port
//! wait in its input queue unchanged (no echo, no CR→LF translation) — a read made while the
//! port is being reopened is not lost, as with a real adapter's buffer.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// One pseudo-terminal: the master end for the test, the slave path for the daemon.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held open so the slave keeps its raw settings and buffered input between the daemon's
    /// close and reopen.
    _slave: OwnedFd,
    pub slave_path: PathBuf,
}

impl Pty {
    pub fn open() -> Result<Pty> {
        let pair = nix::pty::openpty(None, None).context("openpty")?;
        let mut t = tcgetattr(pair.slave.as_fd()).context("tcgetattr")?;
        cfmakeraw(&mut t);
        tcsetattr(pair.slave.as_fd(), SetArg::TCSANOW, &t).context("tcsetattr raw")?;
        let slave_path = nix::unistd::ttyname(pair.slave.as_fd()).context("ttyname")?;
        fcntl(pair.master.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("O_NONBLOCK")?;
        // `with_interest` is deprecated because an arbitrary `AsRawFd` may be closed behind the
        // reactor's back; here the `OwnedFd` moves into the `AsyncFd`, which alone can close it.
        #[allow(deprecated)]
        let master = AsyncFd::with_interest(pair.master, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Pty {
            master,
            _slave: pair.slave,
            slave_path,
        })
    }

    /// Writes all of `bytes` to the master: what the scanner sends.
    pub async fn send(&self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref(), bytes).map_err(std::io::Error::from))
            {
                Ok(n) => bytes = &bytes[n?..],
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes the daemon wrote to the port, within `timeout`.
    pub async fn receive(&self, n: usize, timeout: Duration) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        let read = async {
            while out.len() < n {
                let mut guard = self.master.readable().await?;
                let mut buf = vec![0u8; n - out.len()];
                match guard.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut buf).map_err(std::io::Error::from)
                }) {
                    Ok(Ok(0)) => bail!("the pty closed"),
                    Ok(Ok(got)) => out.extend_from_slice(&buf[..got]),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_would_block) => continue,
                }
            }
            Ok(())
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(r) => r.map(|()| out.clone()),
            Err(_) => bail!(
                "no reply within {timeout:?} (got {:?} of {n} bytes)",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// A stable device path (like `/dev/serial/by-id/usb-Scanner-if00`) pointing at a pty.
pub struct DeviceLink {
    pub path: PathBuf,
}

impl DeviceLink {
    pub fn new(dir: &Path, name: &str) -> DeviceLink {
        DeviceLink {
            path: dir.join(format!("usb-{name}-if00")),
        }
    }

    /// Points the link at `pty`, atomically (rename over the old link), as udev does on plug-in.
    pub fn plug(&self, pty: &Pty) -> Result<()> {
        let tmp = self.path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.slave_path, &tmp).context("symlink")?;
        std::fs::rename(&tmp, &self.path).context("rename symlink")?;
        Ok(())
    }
}

/// One simulated scanner: its current pty and the device link the daemon is configured with.
pub struct Scanner {
    pub id: String,
    pub pty: Pty,
    pub link: DeviceLink,
}

/// ACK and NAK: the replies every test scanner is configured with.
pub const ACK: u8 = 0x06;
pub const NAK: u8 = 0x15;

impl Scanner {
    /// A pty plugged in behind `dir/usb-{id}-if00`.
    pub fn plugged(dir: &Path, id: &str) -> Result<Scanner> {
        let pty = Pty::open()?;
        let link = DeviceLink::new(dir, id);
        link.plug(&pty)?;
        Ok(Scanner {
            id: id.to_string(),
            pty,
            link,
        })
    }

    /// The `[[scanner]]` table for this scanner; `extra` holds station and framing keys.
    pub fn toml(&self, extra: &str) -> String {
        format!(
            "\n[[scanner]]\nid = \"{}\"\nline = \"{}\"\ndevice = \"{}\"\nbaud = 115200\nreply_ok = \"\\u0006\"\nreply_reject = \"\\u0015\"\n{extra}\n",
            self.id,
            super::LINE,
            self.link.path.display()
        )
    }

    /// Sends one frame and returns the one-byte reply (ACK or NAK).
    pub async fn read(&self, frame: &[u8]) -> Result<u8> {
        self.pty.send(frame).await?;
        let reply = self
            .pty
            .receive(1, Duration::from_secs(60))
            .await
            .with_context(|| {
                format!(
                    "scanner {}: reply to {:?}",
                    self.id,
                    String::from_utf8_lossy(frame)
                )
            })?;
        Ok(reply[0])
    }

    /// Unplugs the scanner (closes the pty) and plugs a new one in behind the same link.
    pub fn replug(&mut self) -> Result<()> {
        let next = Pty::open()?;
        let old = std::mem::replace(&mut self.pty, next);
        drop(old);
        self.link.plug(&self.pty)
    }
}
