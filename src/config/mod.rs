//! The configuration file: read strictly, checked whole, reported all at once.
//!
//! `load` is the one path used by `linegate run` and `linegate validate`, so a file that
//! validates is a file that starts. Every problem — unknown keys, missing keys, wrong types,
//! malformed GLNs, SGLNs and URLs, duplicate names — is collected with its key path before
//! anything is reported. Section types live in `sections`, `upstream` (a partner: where to
//! deliver and what to send) and `scanner`; the walker in `reader`.

mod api;
mod mqtt_security;
mod reader;
mod scanner;
mod scanner_station;
mod sections;
mod upstream;
mod upstream_directory;
mod upstream_http;
mod upstream_mqtt;
pub mod upstream_target;

use std::path::{Path, PathBuf};

pub use api::Api;
pub use mqtt_security::{ClientAuth, MqttCredentials, MqttTls, PasswordSource, SYSTEM_CA_BUNDLE};
pub use reader::Problem;
pub use scanner::{
    Aggregation, FlowControl, Framing, Order, ParentRule, Parity, PortSettings, RejectAction,
    Scanner, Station,
};
pub use sections::{Gateway, Line, Mqtt};
pub use upstream::Upstream;

use crate::gs1::CompanyPrefixes;

/// The default location plant IT installs the file to.
pub const DEFAULT_PATH: &str = "/etc/linegate/linegate.toml";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: Gateway,
    pub prefixes: CompanyPrefixes,
    pub mqtt: Mqtt,
    pub lines: Vec<Line>,
    pub upstreams: Vec<Upstream>,
    /// Serial scanner stations (`[[scanner]]`, docs/scanners.md).
    pub scanners: Vec<Scanner>,
    /// The local HTTP API (`[api]`, docs/local-api.md); `None` without the table: no API.
    pub api: Option<Api>,
    /// The file this was read from (`load`); `None` for text parsed in memory (the demo). The
    /// daemon reads it again on SIGHUP (`reload`).
    pub file: Option<PathBuf>,
    /// SHA-256 (hex) of the file's bytes as loaded: the audit trail records it at every load.
    pub file_sha256: Option<String>,
}

impl Config {
    /// The settings that change the line rules.
    pub fn rules_policy(&self) -> crate::rules::RulesPolicy {
        crate::rules::RulesPolicy {
            // A serial goes to every upstream: all of them must accept a recommissioning.
            allow_recommission: self.upstreams.iter().all(|u| u.allow_recommission),
            lines: self
                .lines
                .iter()
                .map(|l| {
                    let policy = crate::rules::LinePolicy {
                        open_batches_per_gtin: l.open_batches_per_gtin,
                        block_unaggregated: l.block_unaggregated,
                    };
                    (l.id.clone(), policy)
                })
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Reads and validates the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = parse(&text).map_err(|e| match e {
        ParseError::Syntax(message) => ConfigError::Syntax {
            path: path.to_path_buf(),
            message,
        },
        ParseError::Invalid(problems) => ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        },
    })?;
    config.file = Some(path.to_path_buf());
    config.file_sha256 = Some(sha256_hex(text.as_bytes()));
    Ok(config)
}

/// Lower-case hex SHA-256 of `bytes` (a configuration file's identity in the audit trail).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug)]
pub enum ParseError {
    Syntax(String),
    Invalid(Vec<Problem>),
}

/// Parses and validates configuration text.
pub fn parse(text: &str) -> Result<Config, ParseError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ParseError::Syntax(e.to_string()))?;
    let mut p = reader::Problems::default();
    let root = reader::Table::root(&table);
    let config = sections::read(&root, &mut p);
    let api = api::read(&root, table.contains_key("api"), &mut p);
    root.finish(&mut p);
    match config {
        Some(c) if p.0.is_empty() => Ok(Config { api, ..c }),
        _ if p.0.is_empty() => Err(ParseError::Invalid(vec![Problem {
            path: "(file)".into(),
            message: "is incomplete".into(),
        }])),
        _ => Err(ParseError::Invalid(p.0)),
    }
}

#[cfg(test)]
mod tests;
