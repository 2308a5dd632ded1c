//! `[mqtt]`'s security keys: TLS (CA, client certificate) and username/password.
//!
//! Only where the secrets are is configured here, never the secrets themselves: the password
//! comes from a file (`mqtt.password_file`) or an environment variable named by
//! `mqtt.password_env`, and is read by the MQTT source when it connects (so a rotated password
//! is picked up on the next reconnect, and the CLI, which loads the same file, never needs to
//! read it). The files are not opened here either: `linegate batch show` run by an operator
//! must not fail because the broker's key is readable by the service user only. TLS is on
//! exactly when the URL is `mqtts://`; there is no switch to skip verifying the server.

use std::path::PathBuf;

use super::reader::{Problems, Table};

/// Debian's system CA bundle, trusted when `mqtt.ca_file` is not set.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// TLS to the broker (`mqtts://`). The server certificate is always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTls {
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// Client certificate and key (PEM) for brokers that require them (mutual TLS).
    pub client_auth: Option<ClientAuth>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Username and where its password is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttCredentials {
    pub username: String,
    /// None: the broker gets the username alone.
    pub password: Option<PasswordSource>,
}

/// Where the MQTT password is kept. Holds a path or a variable name, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Env(String),
}

/// Reads the security keys of `[mqtt]`; `tls` says whether the URL was `mqtts://`.
pub(super) fn read(
    t: &Table<'_>,
    tls: bool,
    p: &mut Problems,
) -> (Option<MqttTls>, Option<MqttCredentials>) {
    let ca_file = t.opt_string("ca_file", p).map(PathBuf::from);
    let client_auth = client_auth(t, p);
    let tls_settings = if tls {
        Some(MqttTls {
            ca_file: ca_file.unwrap_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE)),
            client_auth,
        })
    } else {
        let named = [
            ("ca_file", ca_file.is_some()),
            ("client_cert_file", client_auth.is_some()),
        ];
        for (key, set) in named {
            if set {
                p.add(
                    t.path_of(key),
                    "is a TLS setting: use an mqtts://host:8883 url (or remove it)",
                );
            }
        }
        None
    };

    let username = t.opt_string("username", p);
    let file = t.opt_string("password_file", p).map(PathBuf::from);
    let env = t.opt_string("password_env", p).filter(|name| {
        let ok = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            p.add(
                t.path_of("password_env"),
                format!("'{name}' must be an environment variable name (letters, digits, _)"),
            );
        }
        ok
    });
    let any_password = file.is_some() || env.is_some();
    let password = match (file, env) {
        (Some(_), Some(_)) => {
            p.add(
                t.path_of("password_env"),
                "set either mqtt.password_file or mqtt.password_env, not both",
            );
            None
        }
        (Some(f), None) => Some(PasswordSource::File(f)),
        (None, Some(e)) => Some(PasswordSource::Env(e)),
        (None, None) => None,
    };
    let credentials = match (username, password) {
        (Some(username), password) => Some(MqttCredentials { username, password }),
        (None, _) if any_password => {
            p.add(
                t.path_of("username"),
                "is required when a password is configured",
            );
            None
        }
        (None, _) => None,
    };
    (tls_settings, credentials)
}

/// `client_cert_file` and `client_key_file` of `t`: both or neither (`[mqtt]` and each
/// `[[upstream]]` that speaks TLS).
pub(super) fn client_auth(t: &Table<'_>, p: &mut Problems) -> Option<ClientAuth> {
    let cert_file = t.opt_string("client_cert_file", p).map(PathBuf::from);
    let key_file = t.opt_string("client_key_file", p).map(PathBuf::from);
    match (cert_file, key_file) {
        (Some(cert_file), Some(key_file)) => Some(ClientAuth {
            cert_file,
            key_file,
        }),
        (Some(_), None) => {
            p.add(
                t.path_of("client_key_file"),
                "is required with client_cert_file (the certificate's private key, PEM)",
            );
            None
        }
        (None, Some(_)) => {
            p.add(
                t.path_of("client_cert_file"),
                "is required with client_key_file (the client certificate, PEM)",
            );
            None
        }
        (None, None) => None,
    }
}
