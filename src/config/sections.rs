//! The sections of the configuration file and their checks.
//!
//! Each reader takes its table and the shared problem list and returns a value only when its
//! own keys were usable; cross-section rules (unique names, prefixes needed to render SGLNs)
//! are checked in `read` once every section was read.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::Config;
use super::mqtt_security::{MqttCredentials, MqttTls};
use super::reader::{Problems, Table};
use crate::gs1::{self, CompanyPrefixes, EpcUri, Gln};

/// `[gateway]`: where data lives and who this site is.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub data_dir: PathBuf,
    pub site_gln: Gln,
    /// The site's SGLN, derived from `site_gln` (bizLocation of every event).
    pub site_sgln: EpcUri,
    pub shutdown_timeout: Duration,
    /// Below this much free space under `data_dir` (MiB) sources stop taking input (0: never).
    pub min_free_disk_mb: u64,
    /// A fixed `±hh:mm` for eventTimeZoneOffset, or None for the host's time zone.
    pub timezone_offset: Option<String>,
    /// Undelivered documents above this many bytes turn the health red (0: no limit). Nothing
    /// is dropped and lines keep being collected: it is an alarm, not a cut-off.
    pub max_outbox_bytes: u64,
    /// Delivered documents' files are removed after this many days (their delivery rows stay,
    /// for audit); 0 keeps them forever.
    pub outbox_retention_days: u64,
}

/// `[mqtt]`: the broker the lines publish to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mqtt {
    pub host: String,
    pub port: u16,
    /// Some for an `mqtts://` URL: TLS, the server certificate always verified.
    pub tls: Option<MqttTls>,
    /// Some when `mqtt.username` is set. Names where the password is, never holds it.
    pub credentials: Option<MqttCredentials>,
    pub topic_prefix: String,
    pub client_id: String,
    pub keep_alive: Duration,
    pub max_payload_bytes: usize,
    /// Start an in-process broker (rumqttd) on host:port of `url` before connecting to it.
    pub embedded_broker: bool,
}

/// `[[line]]`: a packaging line and its SGLN (readPoint).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: String,
    pub sgln: EpcUri,
    /// Batches of one GTIN that may be open (or running) at once on this line.
    pub open_batches_per_gtin: u32,
    /// Loose units at close refuse the close (true) or are only reported (false).
    pub block_unaggregated: bool,
}

pub(super) fn read(root: &Table<'_>, p: &mut Problems) -> Option<Config> {
    let gs1 = root.table("gs1", p);
    let known = gs1.strings("company_prefixes", p);
    let default_len = gs1
        .opt_int("default_company_prefix_length", 6..=12, p)
        .map(|v| v as usize);
    let prefixes = CompanyPrefixes::new(known, default_len)
        .map_err(|e| p.add(gs1.path_of("company_prefixes"), e.to_string()))
        .ok();
    gs1.finish(p);

    let gateway = gateway(&root.table("gateway", p), prefixes.as_ref(), p);
    let mqtt = mqtt(&root.table("mqtt", p), p);

    let line_tables = root.tables("line", p);
    if line_tables.is_empty() {
        p.add("line", "at least one [[line]] is required");
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for t in &line_tables {
        let id = t.string("id", p).filter(|id| {
            let ok = id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                p.add(t.path_of("id"), format!("'{id}' may only contain letters, digits, '-', '_' and '.' (it is part of MQTT topics)"));
            }
            ok
        });
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            p.add(t.path_of("id"), format!("line id '{id}' is used twice"));
        }
        let sgln = t.string("sgln", p).and_then(|s| {
            let checked = gs1::validate_sgln_uri(&s).and_then(|()| EpcUri::parse(&s));
            checked
                .map_err(|e| p.add(t.path_of("sgln"), e.to_string()))
                .ok()
        });
        let open_batches_per_gtin = t.int_or("open_batches_per_gtin", 1, 1..=100, p) as u32;
        let block_unaggregated =
            t.choice("unaggregated_at_close", &["report", "block"], p) == "block";
        if let (Some(id), Some(sgln)) = (id, sgln) {
            lines.push(Line {
                id,
                sgln,
                open_batches_per_gtin,
                block_unaggregated,
            });
        }
    }
    line_tables.into_iter().for_each(|t| t.finish(p));
    let line_ids = lines.iter().map(|l| l.id.clone()).collect();
    let scanners = super::scanner::read(root, &line_ids, p);

    let up_tables = root.tables("upstream", p);
    if up_tables.is_empty() {
        p.add(
            "upstream",
            "at least one [[upstream]] is required (where documents are sent)",
        );
    }
    let mut names = HashSet::new();
    let mut upstreams = Vec::new();
    for t in &up_tables {
        if let Some(u) = super::upstream::read(t, p) {
            if !names.insert(u.name.clone()) {
                p.add(
                    t.path_of("name"),
                    format!("upstream name '{}' is used twice", u.name),
                );
            }
            upstreams.push(u);
        }
    }
    up_tables.into_iter().for_each(|t| t.finish(p));

    Some(Config {
        gateway: gateway?,
        prefixes: prefixes?,
        mqtt: mqtt?,
        lines,
        upstreams,
        scanners,
        api: None,
        file: None,
        file_sha256: None,
    })
}

pub(super) fn gln(t: &Table<'_>, key: &str, p: &mut Problems) -> Option<Gln> {
    let s = t.string(key, p)?;
    Gln::parse(&s)
        .map_err(|e| p.add(t.path_of(key), e.to_string()))
        .ok()
}

fn gateway(t: &Table<'_>, prefixes: Option<&CompanyPrefixes>, p: &mut Problems) -> Option<Gateway> {
    let data_dir = t.string("data_dir", p).map(PathBuf::from);
    let site_gln = gln(t, "site_gln", p);
    let shutdown_timeout = Duration::from_secs(t.int_or("shutdown_timeout_secs", 20, 1..=600, p));
    let min_free_disk_mb = t.int_or("min_free_disk_mb", 512, 0..=1 << 30, p);
    let max_outbox_bytes = t.int_or("max_outbox_bytes", 10 << 30, 0..=1 << 50, p);
    let outbox_retention_days = t.int_or("outbox_retention_days", 90, 0..=36_500, p);
    let timezone_offset = t.opt_string("timezone_offset", p).filter(|z| {
        let b = z.as_bytes();
        let ok = b.len() == 6
            && (b[0] == b'+' || b[0] == b'-')
            && b[3] == b':'
            && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit());
        if !ok {
            p.add(
                t.path_of("timezone_offset"),
                format!("'{z}' must look like +01:00 or -05:00"),
            );
        }
        ok
    });
    t.finish(p);
    let site_gln = site_gln?;
    let site_sgln = prefixes?
        .len_for_gln(&site_gln)
        .and_then(|len| EpcUri::sgln(&site_gln, len, None))
        .map_err(|e| p.add("gateway.site_gln", e.to_string()))
        .ok()?;
    Some(Gateway {
        data_dir: data_dir?,
        site_gln,
        site_sgln,
        shutdown_timeout,
        min_free_disk_mb,
        timezone_offset,
        max_outbox_bytes,
        outbox_retention_days,
    })
}

fn mqtt(t: &Table<'_>, p: &mut Problems) -> Option<Mqtt> {
    let endpoint = t.string("url", p).and_then(|u| {
        let parsed = reqwest::Url::parse(&u).ok().filter(|x| {
            matches!(x.scheme(), "mqtt" | "mqtts")
                && x.host_str().is_some()
                && x.username().is_empty()
                && x.password().is_none()
        });
        match parsed {
            Some(x) => {
                let tls = x.scheme() == "mqtts";
                let port = x.port().unwrap_or(if tls { 8883 } else { 1883 });
                // `[::1]` arrives bracketed; the socket wants the bare address.
                let host = x.host_str().unwrap_or_default().trim_matches(['[', ']']);
                Some((host.to_string(), port, tls))
            }
            // Never echo a URL that may carry a password.
            None if u.contains('@') => {
                p.add(
                    t.path_of("url"),
                    "must not contain credentials: use mqtt.username and mqtt.password_file",
                );
                None
            }
            None => {
                p.add(
                    t.path_of("url"),
                    format!("'{u}' must look like mqtt://host:1883 or mqtts://host:8883"),
                );
                None
            }
        }
    });
    let (tls, credentials) =
        super::mqtt_security::read(t, endpoint.as_ref().is_some_and(|e| e.2), p);
    let topic_prefix = t.string("topic_prefix", p).filter(|s| {
        let ok = !s.contains(['+', '#']) && !s.starts_with('/') && !s.ends_with('/');
        if !ok {
            p.add(
                t.path_of("topic_prefix"),
                format!("'{s}' must not contain + or # nor start or end with /"),
            );
        }
        ok
    });
    let client_id = t
        .opt_string("client_id", p)
        .unwrap_or_else(|| "linegate".into());
    let keep_alive = Duration::from_secs(t.int_or("keep_alive_secs", 30, 5..=3600, p));
    let max_payload_bytes =
        t.int_or("max_payload_bytes", 1024 * 1024, 1024..=64 * 1024 * 1024, p) as usize;
    let embedded_broker = t.bool_or("embedded_broker", false, p);
    if embedded_broker && endpoint.as_ref().is_some_and(|e| e.2) {
        p.add(
            t.path_of("embedded_broker"),
            "the embedded broker speaks plain MQTT only (no TLS, for loopback use): with embedded_broker = true use an mqtt:// url such as mqtt://127.0.0.1:1883; to connect over TLS, set embedded_broker = false and point url at a broker that serves mqtts://",
        );
    }
    t.finish(p);
    let (host, port, _) = endpoint?;
    Some(Mqtt {
        host,
        port,
        tls,
        credentials,
        topic_prefix: topic_prefix?,
        client_id,
        keep_alive,
        max_payload_bytes,
        embedded_broker,
    })
}
