//! How the MQTT source connects: `MqttOptions` built fresh for every connection attempt.
//!
//! The TLS files and the password are read at each attempt, not once at start, so a rotated
//! certificate or password is used on the next reconnect without a restart. The password goes
//! from its file or variable straight into rumqttc and is never logged: `Password` has no
//! useful `Debug`, and `MqttOptions` (whose `Debug` prints credentials) is never formatted.
//! Failures are explained in words that name the setting to check (`explain`), because "I/O:
//! connection reset" does not tell plant IT that the broker wants a client certificate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rumqttc::{
    ConnectReturnCode, ConnectionError, MqttOptions, NetworkOptions, TlsConfiguration, Transport,
};

use super::MqttSourceConfig;
use crate::config::{Mqtt, PasswordSource};

/// Largest packet we read off the wire. Bigger than any sane payload so that an oversized
/// message reaches the decoder and is quarantined, instead of killing the connection (which
/// would make the broker redeliver it forever).
const MAX_INCOMING_PACKET: usize = 256 * 1024 * 1024;
/// Largest packet we send (reject notices, line state).
const MAX_OUTGOING_PACKET: usize = 1024 * 1024;
/// TCP connect + TLS handshake + CONNACK must finish within this.
const CONNECT_TIMEOUT_SECS: u64 = 10;

/// Why the options for a connection could not be built. Nothing was sent to the broker.
#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    #[error("cannot read {what} {path} ({key}): {source}")]
    Read {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} ({key}) contains no PEM {what}")]
    NotPem {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
    },
    #[error("the MQTT password file {path} (mqtt.password_file) is empty")]
    EmptyPasswordFile { path: PathBuf },
    #[error("environment variable {name} (named by mqtt.password_env) is not set or empty")]
    MissingPasswordEnv { name: String },
}

/// The broker password. Deliberately not `Debug`/`Display`: it only goes into rumqttc.
struct Password(String);

/// Builds the options for one connection attempt.
pub fn build(cfg: &MqttSourceConfig) -> Result<MqttOptions, MqttSetupError> {
    let mut opts = for_broker(&cfg.mqtt, &cfg.mqtt.client_id)?;
    // The persistent session is what keeps messages at the broker while we are away.
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    Ok(opts)
}

/// Options to reach the broker of an `[mqtt]` section as `client_id`: address, keep-alive, TLS
/// (CA, client certificate) and login — what every client of that broker needs, the gateway's
/// source and `linegate simulate` alike. Files are read now, so a rotated password or
/// certificate is used on the next connection.
pub fn for_broker(mqtt: &Mqtt, client_id: &str) -> Result<MqttOptions, MqttSetupError> {
    let mut opts = MqttOptions::new(client_id, &mqtt.host, mqtt.port);
    opts.set_keep_alive(mqtt.keep_alive);
    if let Some(tls) = &mqtt.tls {
        let ca = read_pem(
            &tls.ca_file,
            "CA certificate file",
            "mqtt.ca_file",
            "CERTIFICATE",
        )?;
        let client_auth = match &tls.client_auth {
            Some(a) => Some((
                read_pem(
                    &a.cert_file,
                    "client certificate",
                    "mqtt.client_cert_file",
                    "CERTIFICATE",
                )?,
                read_pem(
                    &a.key_file,
                    "client key",
                    "mqtt.client_key_file",
                    "PRIVATE KEY",
                )?,
            )),
            None => None,
        };
        opts.set_transport(Transport::Tls(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth,
        }));
    }
    if let Some(creds) = &mqtt.credentials {
        let password = match &creds.password {
            Some(source) => password(source)?,
            None => Password(String::new()),
        };
        opts.set_credentials(creds.username.clone(), password.0);
    }
    Ok(opts)
}

/// Socket settings for the event loop: a bound on connect + TLS handshake.
pub fn network() -> NetworkOptions {
    let mut net = NetworkOptions::new();
    net.set_connection_timeout(CONNECT_TIMEOUT_SECS);
    // Acks and reject notices are small packets sent one by one: with Nagle's algorithm on,
    // each waits for the previous one's TCP ACK (tens of ms with delayed ACKs), which is what
    // a line waiting for its ack would see as latency.
    net.set_tcp_nodelay(true);
    net
}

/// Reads a PEM file and checks it holds at least one `-----BEGIN …{label}-----` block (a key
/// may be `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
fn read_pem(
    path: &Path,
    what: &'static str,
    key: &'static str,
    label: &str,
) -> Result<Vec<u8>, MqttSetupError> {
    let bytes = std::fs::read(path).map_err(|source| MqttSetupError::Read {
        what,
        key,
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.ends_with(&format!("{label}-----")));
    if !found {
        return Err(MqttSetupError::NotPem {
            what,
            key,
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

fn password(source: &PasswordSource) -> Result<Password, MqttSetupError> {
    match source {
        PasswordSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| MqttSetupError::Read {
                what: "password file",
                key: "mqtt.password_file",
                path: path.clone(),
                source,
            })?;
            // Editors and `echo` add a line end; it is never part of the password.
            let pw = text.trim_end_matches(['\n', '\r']);
            if pw.is_empty() {
                return Err(MqttSetupError::EmptyPasswordFile { path: path.clone() });
            }
            Ok(Password(pw.to_string()))
        }
        PasswordSource::Env(name) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(Password(v)),
            _ => Err(MqttSetupError::MissingPasswordEnv { name: name.clone() }),
        },
    }
}

/// A connection failure in words that name its cause and the settings to check.
pub fn explain(cfg: &MqttSourceConfig, e: &ConnectionError) -> String {
    let broker = format!("{}:{}", cfg.mqtt.host, cfg.mqtt.port);
    let user = cfg
        .mqtt
        .credentials
        .as_ref()
        .map(|c| format!("username '{}'", c.username))
        .unwrap_or_else(|| "no username (mqtt.username is not set)".into());
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => format!(
                "broker {broker} refused the login: bad username or password ({user}; check mqtt.username and mqtt.password_file / mqtt.password_env)"
            ),
            ConnectReturnCode::NotAuthorized => format!(
                "broker {broker} refused the login: not authorised ({user}; check mqtt.username, the password in mqtt.password_file / mqtt.password_env, and the broker's ACL for client id '{}')",
                cfg.mqtt.client_id
            ),
            ConnectReturnCode::BadClientId => format!(
                "broker {broker} refused client id '{}' (mqtt.client_id)",
                cfg.mqtt.client_id
            ),
            other => format!("broker {broker} refused the connection: {other:?}"),
        },
        // A handshake refused by the broker (no or wrong client certificate) surfaces as a
        // read error after the TLS layer got an alert; name it as TLS all the same.
        e if cfg.mqtt.tls.is_some() && looks_like_tls(e) => {
            let files = match &cfg.mqtt.tls {
                Some(tls) => format!(
                    "mqtt.ca_file {}{}",
                    tls.ca_file.display(),
                    match &tls.client_auth {
                        Some(a) => format!(", mqtt.client_cert_file {}", a.cert_file.display()),
                        None => ", no client certificate configured (mqtt.client_cert_file)".into(),
                    }
                ),
                None => String::new(),
            };
            format!("TLS with broker {broker} failed: {e} (check {files})")
        }
        ConnectionError::NetworkTimeout => format!(
            "broker {broker} did not answer within {CONNECT_TIMEOUT_SECS} s (host, port, firewall, or a TLS/plain mismatch with the url's mqtt:// / mqtts://)"
        ),
        ConnectionError::Io(io) => format!("broker {broker}: {io}"),
        other => format!("broker {broker}: {other}"),
    }
}

fn looks_like_tls(e: &ConnectionError) -> bool {
    if matches!(e, ConnectionError::Tls(_)) {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    ["certificate", "alert", "handshake", "tls"]
        .iter()
        .any(|w| text.contains(w))
}

/// Exponential backoff with jitter for reconnecting, reset after a successful connection.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const INITIAL: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Self {
        Backoff {
            next: Self::INITIAL,
        }
    }

    pub fn reset(&mut self) {
        self.next = Self::INITIAL;
    }

    /// The wait before the next attempt: the current step ±20 %, then the step doubles.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        step.mul_f64(0.8 + 0.4 * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_come_from_a_file_without_its_line_end_or_from_a_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\r\n").expect("write");
        let pw = password(&PasswordSource::File(file.clone())).expect("read");
        assert_eq!(pw.0, "s3cret");
        std::fs::write(&file, "\n").expect("write");
        let empty = password(&PasswordSource::File(file)).err().expect("empty");
        assert!(empty.to_string().contains("mqtt.password_file"), "{empty}");
        let missing = password(&PasswordSource::Env("LINEGATE_TEST_UNSET_PW".into()))
            .err()
            .expect("unset");
        assert!(missing.to_string().contains("LINEGATE_TEST_UNSET_PW"));
    }

    #[test]
    fn pem_files_must_hold_what_their_key_promises() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").expect("write");
        let e = read_pem(&ca, "CA certificate file", "mqtt.ca_file", "CERTIFICATE")
            .expect_err("refused");
        assert!(e.to_string().contains("mqtt.ca_file"), "{e}");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        assert!(read_pem(&ca, "CA certificate file", "mqtt.ca_file", "CERTIFICATE").is_ok());
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "-----BEGIN EC PRIVATE KEY-----\nx\n").expect("write");
        assert!(read_pem(&key, "client key", "mqtt.client_key_file", "PRIVATE KEY").is_ok());
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_and_resets() {
        let mut b = Backoff::new();
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(400) && first <= Duration::from_millis(600));
        for _ in 0..20 {
            assert!(b.next_delay() <= Backoff::MAX.mul_f64(1.2));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(600));
    }
}
