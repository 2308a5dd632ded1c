//! The keys of an MQTT `[[upstream]]` (`url = "mqtts://host:port"`, `topic`): a plant or cloud
//! broker that gets each document as one QoS 1 PUBLISH.
//!
//! TLS and login are read by the same rules as `[mqtt]` (`mqtt_security`: TLS exactly when the
//! url is `mqtts://`, the server always verified, the password only named by file or variable),
//! so both brokers are configured alike. The topic is a template: `{kind}`, `{batch}` and
//! `{document_id}` are replaced per document, each value kept to one topic level.

use super::reader::{Problems, Table};
use super::upstream_target::MqttTarget;

/// The largest packet MQTT 3.1.1 can carry: a remaining length of 268,435,455 bytes plus the
/// fixed header.
pub const MQTT_MAX_PACKET: u64 = 268_435_455 + 5;

/// The placeholders a topic template may use.
const FIELDS: [&str; 3] = ["kind", "batch", "document_id"];

pub(super) fn read(
    t: &Table<'_>,
    url: &str,
    name: Option<&str>,
    p: &mut Problems,
) -> Option<MqttTarget> {
    let endpoint = endpoint(url);
    if let Err(why) = &endpoint {
        p.add(t.path_of("url"), why.clone());
    }
    let tls = endpoint.as_ref().is_ok_and(|e| e.2);
    // `[mqtt]`'s reader names its own keys (`mqtt.password_file`) in its advice; here they
    // are this upstream's, at the key path the problem already carries.
    let from = p.0.len();
    let (tls, credentials) = super::mqtt_security::read(t, tls, p);
    for problem in &mut p.0[from..] {
        problem.message = problem.message.replace("mqtt.", "");
    }
    let topic = t.string("topic", p).filter(|s| match check_topic(s) {
        Ok(()) => true,
        Err(why) => {
            p.add(t.path_of("topic"), why);
            false
        }
    });
    let client_id = t
        .opt_string("client_id", p)
        .unwrap_or_else(|| format!("linegate-{}", name.unwrap_or("upstream")));
    let keep_alive_secs = t.int_or("keep_alive_secs", 30, 5..=3600, p);
    let max_packet_bytes = t.int_or(
        "max_packet_bytes",
        MQTT_MAX_PACKET,
        1024..=MQTT_MAX_PACKET,
        p,
    ) as usize;
    let (host, port, _) = endpoint.ok()?;
    Some(MqttTarget {
        host,
        port,
        tls,
        credentials,
        topic: topic?,
        client_id,
        keep_alive_secs,
        max_packet_bytes,
    })
}

/// Host, port and TLS of `mqtt://host[:port]` or `mqtts://host[:port]`.
fn endpoint(url: &str) -> Result<(String, u16, bool), String> {
    let parsed = reqwest::Url::parse(url).ok().filter(|x| {
        matches!(x.scheme(), "mqtt" | "mqtts") && x.host_str().is_some_and(|h| !h.is_empty())
    });
    let Some(x) = parsed else {
        // Never echo a URL that may carry a password.
        if url.contains('@') {
            return Err("must not contain credentials: use username and password_file".into());
        }
        return Err(format!(
            "'{url}' must look like mqtt://host:1883 or mqtts://host:8883"
        ));
    };
    if !x.username().is_empty() || x.password().is_some() {
        return Err("must not contain credentials: use username and password_file".into());
    }
    if !matches!(x.path(), "" | "/") || x.query().is_some() || x.fragment().is_some() {
        return Err(format!(
            "'{url}' names a broker only (mqtts://host:8883): the topic goes in topic = \"…\""
        ));
    }
    let tls = x.scheme() == "mqtts";
    let port = x.port().unwrap_or(if tls { 8883 } else { 1883 });
    // `[::1]` arrives bracketed; the socket wants the bare address.
    let host = x.host_str().unwrap_or_default().trim_matches(['[', ']']);
    Ok((host.to_string(), port, tls))
}

/// A topic template a broker accepts for PUBLISH once its placeholders are filled.
fn check_topic(topic: &str) -> Result<(), String> {
    let example = "e.g. topic = \"partner/epcis/{kind}/{document_id}\"";
    if topic.contains(['+', '#', '\0']) {
        return Err(format!(
            "'{topic}' must not contain + or # (wildcards are for subscribing): {example}"
        ));
    }
    if topic.starts_with('$') {
        return Err(format!(
            "'{topic}' must not start with $ (reserved for the broker's own topics): {example}"
        ));
    }
    let mut rest = topic;
    while let Some(open) = rest.find(['{', '}']) {
        let after = &rest[open + 1..];
        let close = after.find('}').filter(|_| rest[open..].starts_with('{'));
        let Some(close) = close else {
            return Err(format!(
                "'{topic}' has an unmatched brace: placeholders are {}: {example}",
                placeholders()
            ));
        };
        let field = &after[..close];
        if !FIELDS.contains(&field) {
            return Err(format!(
                "'{topic}': {{{field}}} is not a placeholder; use {}: {example}",
                placeholders()
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

fn placeholders() -> String {
    FIELDS.map(|f| format!("{{{f}}}")).join(", ")
}

impl MqttTarget {
    /// The topic of one document: the template with `{kind}`, `{batch}` (`none` for a document
    /// of no batch) and `{document_id}` filled in. A value never adds a level or a wildcard:
    /// `/`, `+`, `#` and NUL in it become `_`.
    pub fn topic_for(&self, kind: &str, batch: Option<&str>, document_id: &str) -> String {
        let level = |v: &str| v.replace(['/', '+', '#', '\0'], "_");
        self.topic
            .replace("{kind}", &level(kind))
            .replace("{batch}", &level(batch.unwrap_or("none")))
            .replace("{document_id}", &level(document_id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ParseError, parse};
    use super::*;
    use crate::config::upstream_target::Target;
    use crate::config::{MqttTls, PasswordSource, SYSTEM_CA_BUNDLE};

    const BASE: &str = r#"
[gateway]
data_dir = "/var/lib/linegate"
site_gln = "0361414000001"
[gs1]
company_prefixes = ["0361414"]
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "acme/plant1"
[[line]]
id = "L1"
sgln = "urn:epc:id:sgln:0361414.00001.L1"
[[upstream]]
name = "cloud"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
"#;

    fn read(keys: &str) -> Result<MqttTarget, Vec<String>> {
        match parse(&format!("{BASE}{keys}\n")) {
            Ok(c) => match &c.upstreams[0].target {
                Target::Mqtt(m) => Ok(m.clone()),
                other => panic!("not an MQTT target: {other:?}"),
            },
            Err(ParseError::Invalid(p)) => Err(p.iter().map(|p| p.to_string()).collect()),
            Err(e) => panic!("{e:?}"),
        }
    }

    /// The one problem `keys` cause, at `upstream[0].{path}`, naming every `expected`.
    fn refused(keys: &str, path: &str, expected: &[&str]) {
        let p = read(keys).expect_err(keys);
        assert_eq!(p.len(), 1, "{keys}: {p:#?}");
        assert!(
            p[0].starts_with(&format!("upstream[0].{path}: ")),
            "{keys}: {p:#?}"
        );
        for e in expected {
            assert!(p[0].contains(e), "{keys}: no '{e}' in {}", p[0]);
        }
    }

    #[test]
    fn defaults_of_a_plain_broker() {
        let m = read("url = \"mqtt://broker.plant\"\ntopic = \"epcis/{document_id}\"").unwrap();
        assert_eq!((m.host.as_str(), m.port), ("broker.plant", 1883));
        assert_eq!(m.tls, None);
        assert_eq!(m.credentials, None);
        assert_eq!(m.client_id, "linegate-cloud");
        assert_eq!(m.keep_alive_secs, 30);
        assert_eq!(m.max_packet_bytes as u64, MQTT_MAX_PACKET);
    }

    #[test]
    fn every_key_is_read() {
        let m = read(
            r#"url = "mqtts://[::1]"
topic = "partner/{kind}/{batch}/{document_id}"
client_id = "plant7-gw"
username = "gw"
password_file = "/etc/linegate/upstream.pw"
ca_file = "/etc/linegate/ca.pem"
client_cert_file = "/etc/linegate/c.pem"
client_key_file = "/etc/linegate/k.pem"
keep_alive_secs = 60
max_packet_bytes = 131072"#,
        )
        .unwrap();
        assert_eq!((m.host.as_str(), m.port), ("::1", 8883));
        let tls = m.tls.as_ref().unwrap();
        assert_eq!(tls.ca_file.to_str(), Some("/etc/linegate/ca.pem"));
        assert!(tls.client_auth.is_some());
        let creds = m.credentials.as_ref().unwrap();
        assert_eq!(creds.username, "gw");
        assert_eq!(
            creds.password,
            Some(PasswordSource::File("/etc/linegate/upstream.pw".into()))
        );
        assert_eq!(m.client_id, "plant7-gw");
        assert_eq!((m.keep_alive_secs, m.max_packet_bytes), (60, 131072));
        // Without ca_file, mqtts:// trusts the system's CAs.
        let sys = read("url = \"mqtts://b:9999\"\ntopic = \"t\"").unwrap();
        assert_eq!(
            (sys.port, sys.tls),
            (
                9999,
                Some(MqttTls {
                    ca_file: SYSTEM_CA_BUNDLE.into(),
                    client_auth: None
                })
            )
        );
    }

    #[test]
    fn wrong_values_name_their_key_and_what_to_do() {
        refused("url = \"mqtt://b\"", "topic", &["is required"]);
        refused("url = \"mqtt://b\"\ntopic = \"\"", "topic", &["empty"]);
        refused(
            "url = \"mqtt://b\"\ntopic = \"epcis/#\"",
            "topic",
            &["+ or #", "{document_id}"],
        );
        refused("url = \"mqtt://b\"\ntopic = \"$SYS/x\"", "topic", &["$"]);
        refused(
            "url = \"mqtt://b\"\ntopic = \"epcis/{doc}\"",
            "topic",
            &["{doc}", "{kind}, {batch}, {document_id}"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"epcis/{kind\"",
            "topic",
            &["unmatched"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"epcis/kind}\"",
            "topic",
            &["unmatched"],
        );
        refused(
            "url = \"mqtt://u:secret@b\"\ntopic = \"t\"",
            "url",
            &["credentials", "password_file"],
        );
        let p = read("url = \"mqtt://u:secret@b\"\ntopic = \"t\"").unwrap_err();
        assert!(!p[0].contains("secret"), "{p:?}");
        refused(
            "url = \"mqtt://b/epcis\"\ntopic = \"t\"",
            "url",
            &["topic = "],
        );
        refused(
            "url = \"mqtt://\"\ntopic = \"t\"",
            "url",
            &["mqtt://host:1883"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"t\"\nca_file = \"/ca.pem\"",
            "ca_file",
            &["mqtts://"],
        );
        // [mqtt]'s advice, worded for this upstream's keys.
        refused(
            "url = \"mqtts://b\"\ntopic = \"t\"\nclient_cert_file = \"/c.pem\"",
            "client_key_file",
            &["is required with client_cert_file"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"t\"\npassword_file = \"/pw\"",
            "username",
            &["required"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"t\"\nkeep_alive_secs = 1",
            "keep_alive_secs",
            &["5..=3600"],
        );
        refused(
            "url = \"mqtt://b\"\ntopic = \"t\"\nmax_packet_bytes = 100",
            "max_packet_bytes",
            &["out of range"],
        );
        // A key of another kind of upstream is unknown here.
        refused(
            "url = \"mqtt://b\"\ntopic = \"t\"\nheaders = 1",
            "headers",
            &["unknown key"],
        );
    }

    #[test]
    fn a_topic_is_filled_one_level_per_value() {
        let m = read("url = \"mqtt://b\"\ntopic = \"p/{kind}/{batch}/{document_id}.xml\"").unwrap();
        assert_eq!(
            m.topic_for("end_of_batch", Some("B1"), "d-1"),
            "p/end_of_batch/B1/d-1.xml"
        );
        assert_eq!(
            m.topic_for("shipment", None, "d-2"),
            "p/shipment/none/d-2.xml"
        );
        assert_eq!(m.topic_for("k", Some("A/B+#"), "x"), "p/k/A_B__/x.xml");
    }
}
