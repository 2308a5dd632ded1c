//! Opening a scanner's serial port, and noticing that it is gone.
//!
//! A USB scanner that is unplugged makes reads fail (EIO, ENODEV) or end (EOF), and udev removes
//! its `/dev/serial/by-id/…` link; replugged, it may come back under another `/dev/ttyUSBn`.
//! Some adapters instead leave a dead descriptor that never fails and never delivers. So
//! besides read errors, an open port is checked every second: the configured path must still
//! resolve to the device we opened (same device number). Either way the station closes the port
//! and reopens the path with backoff — 100 ms doubling to 2 s — so a returning scanner is read
//! again within 2 s.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::config::{FlowControl, Parity, PortSettings};

/// First wait before reopening a port that went away.
pub const REOPEN_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between reopen attempts.
pub const REOPEN_MAX: Duration = Duration::from_secs(2);
/// A reply that cannot be written within this time means the port is stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors at the serial-port boundary.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    #[error("cannot open {device}: {source}")]
    Open {
        device: PathBuf,
        source: tokio_serial::Error,
    },
    #[error("{device} is not there: {source}")]
    Missing {
        device: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {device}: {source}")]
    Read {
        device: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the reply to {device}: {source}")]
    Write {
        device: PathBuf,
        source: std::io::Error,
    },
    #[error("{device} reached end of file (the device was unplugged)")]
    Eof { device: PathBuf },
    #[error("{device} now points to another device or is gone (unplugged or replugged)")]
    Replaced { device: PathBuf },
}

/// An open port and the identity of the device behind the configured path when it was opened.
pub struct OpenPort {
    pub stream: SerialStream,
    device_number: u64,
    /// Where the configured path led (e.g. /dev/ttyUSB0), for the log.
    pub target: PathBuf,
}

/// Opens `device` with the configured line settings.
pub fn open(device: &Path, s: &PortSettings) -> Result<OpenPort, SerialError> {
    let missing = |source| SerialError::Missing {
        device: device.to_path_buf(),
        source,
    };
    let target = std::fs::canonicalize(device).map_err(missing)?;
    let device_number = std::fs::metadata(&target).map_err(missing)?.rdev();
    let builder = tokio_serial::new(target.to_string_lossy(), s.baud)
        .data_bits(match s.data_bits {
            5 => tokio_serial::DataBits::Five,
            6 => tokio_serial::DataBits::Six,
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        })
        .parity(match s.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        })
        .stop_bits(if s.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        })
        .flow_control(match s.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Software => tokio_serial::FlowControl::Software,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        });
    let stream = builder
        .open_native_async()
        .map_err(|source| SerialError::Open {
            device: device.to_path_buf(),
            source,
        })?;
    Ok(OpenPort {
        stream,
        device_number,
        target,
    })
}

impl OpenPort {
    /// Whether the configured path still leads to the device that is open.
    pub fn still_there(&self, device: &Path) -> bool {
        std::fs::metadata(device).is_ok_and(|m| m.rdev() == self.device_number)
    }
}

impl OpenPort {
    /// Writes a reply (`reply_ok` / `reply_reject`); a port that takes no bytes for
    /// `WRITE_TIMEOUT` (hardware flow control held by a dead peer) counts as lost.
    pub async fn write_reply(&mut self, device: &Path, reply: &[u8]) -> Result<(), SerialError> {
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            self.stream.write_all(reply).await?;
            self.stream.flush().await
        })
        .await;
        let source = match written {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the port took no bytes for 2 s",
            ),
        };
        Err(SerialError::Write {
            device: device.to_path_buf(),
            source,
        })
    }
}

/// The next reopen delay after `current`.
pub fn next_delay(current: Duration) -> Duration {
    (current * 2).min(REOPEN_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_delays_double_to_two_seconds() {
        let mut d = REOPEN_FIRST;
        let mut seen = vec![d];
        for _ in 0..6 {
            d = next_delay(d);
            seen.push(d);
        }
        let ms: Vec<u128> = seen.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let err = open(
            Path::new("/nonexistent/serial/by-id/usb-scanner"),
            &PortSettings {
                baud: 9600,
                data_bits: 8,
                parity: Parity::None,
                stop_bits: 1,
                flow_control: FlowControl::None,
            },
        )
        .err()
        .expect("no such device");
        assert!(matches!(err, SerialError::Missing { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("/nonexistent/serial/by-id/usb-scanner")
        );
    }
}
