//! Tests of the configuration reader: the shipped example, and that problems come all at once.

use super::*;

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
        .expect("config/linegate.toml")
}

#[test]
fn the_annotated_example_is_valid() {
    let c = parse(&example()).expect("example parses");
    assert_eq!(c.lines.len(), 2);
    assert_eq!(c.upstreams[0].receiver_gln.as_str(), "0614141000005");
    assert_eq!(
        c.gateway.site_sgln.as_str(),
        "urn:epc:id:sgln:0361414.00000.0"
    );
    assert_eq!((c.mqtt.host.as_str(), c.mqtt.port), ("127.0.0.1", 1883));
}

fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Err(ParseError::Invalid(p)) => p.into_iter().map(|p| p.to_string()).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

fn has(problems: &[String], path: &str) -> bool {
    problems.iter().any(|p| p.starts_with(&format!("{path}:")))
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let text = example()
        .replace(
            "site_gln = \"0361414000001\"",
            "site_gln = \"0361414000002\"\nsurprise = 1",
        )
        .replace("mqtt://127.0.0.1:1883", "http://broker")
        .replace(
            "receiver_gln = \"0614141000005\"",
            "receiver_gln = 614141000005",
        )
        .replace(
            "sgln = \"urn:epc:id:sgln:0361414.00001.L2\"",
            "sgln = \"urn:epc:id:sgln:0361414.1.L2\"",
        )
        .replace("retry_max_ms = 600000", "retry_max_ms = 5");
    let p = problems(&text);
    for path in [
        "gateway.site_gln",
        "gateway.surprise",
        "mqtt.url",
        "upstream[0].receiver_gln",
        "line[1].sgln",
        "upstream[0].retry_max_ms",
    ] {
        assert!(has(&p, path), "no problem for {path} in {p:#?}");
    }
}

#[test]
fn missing_sections_and_duplicates_are_problems() {
    let p = problems("[gateway]\ndata_dir = \"/x\"\n");
    for path in [
        "gateway.site_gln",
        "mqtt.url",
        "mqtt.topic_prefix",
        "line",
        "upstream",
    ] {
        assert!(has(&p, path), "no problem for {path} in {p:#?}");
    }
    let dup = example().replace("id = \"L2\"", "id = \"L1\"");
    assert!(has(&problems(&dup), "line[1].id"));
}

#[test]
fn syntax_errors_are_not_confused_with_problems() {
    assert!(matches!(parse("[gateway"), Err(ParseError::Syntax(_))));
}

#[test]
fn mqtts_with_client_certificate_and_password_file() {
    let text = example().replace(
        "url = \"mqtt://127.0.0.1:1883\"",
        "url = \"mqtts://broker.plant1\"\nca_file = \"/etc/linegate/ca.pem\"\n\
         client_cert_file = \"/etc/linegate/c.pem\"\nclient_key_file = \"/etc/linegate/c.key\"\n\
         username = \"gw\"\npassword_file = \"/etc/linegate/pw\"",
    );
    let c = parse(&text).expect("parses");
    assert_eq!((c.mqtt.host.as_str(), c.mqtt.port), ("broker.plant1", 8883));
    let tls = c.mqtt.tls.expect("tls");
    assert_eq!(tls.ca_file, std::path::Path::new("/etc/linegate/ca.pem"));
    assert!(tls.client_auth.is_some());
    let creds = c.mqtt.credentials.expect("credentials");
    assert_eq!(creds.username, "gw");
    assert_eq!(
        creds.password,
        Some(PasswordSource::File("/etc/linegate/pw".into()))
    );
    assert_eq!(c.gateway.min_free_disk_mb, 512);
    // Without ca_file, TLS trusts the system bundle; plain mqtt:// has no TLS.
    let system = example().replace("mqtt://127.0.0.1:1883", "mqtts://b:1884");
    let tls = parse(&system).expect("parses").mqtt.tls.expect("tls");
    assert_eq!(tls.ca_file, std::path::Path::new(SYSTEM_CA_BUNDLE));
    assert!(parse(&example()).expect("parses").mqtt.tls.is_none());
}

#[test]
fn inconsistent_mqtt_security_settings_are_problems() {
    let text = example().replace(
        "url = \"mqtt://127.0.0.1:1883\"",
        "url = \"mqtt://127.0.0.1:1883\"\nca_file = \"/ca.pem\"\nclient_cert_file = \"/c.pem\"\n\
         password_file = \"/pw\"\npassword_env = \"PW\"",
    );
    let p = problems(&text);
    for path in [
        "mqtt.ca_file",
        "mqtt.client_key_file",
        "mqtt.password_env",
        "mqtt.username",
    ] {
        assert!(has(&p, path), "no problem for {path} in {p:#?}");
    }
    let in_url = example().replace("mqtt://127.0.0.1:1883", "mqtt://gw:secret@127.0.0.1:1883");
    let p = problems(&in_url);
    assert!(has(&p, "mqtt.url"), "{p:#?}");
    assert!(
        p.iter().all(|x| !x.contains("secret")),
        "echoes the password: {p:#?}"
    );
}

#[test]
fn the_embedded_broker_is_refused_with_an_mqtts_url_saying_what_to_do() {
    let tls = example().replace(
        "url = \"mqtt://127.0.0.1:1883\"",
        "url = \"mqtts://127.0.0.1:8883\"\nembedded_broker = true",
    );
    let p = problems(&tls);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(has(&p, "mqtt.embedded_broker"), "{p:#?}");
    assert!(
        p[0].contains("mqtt://127.0.0.1:1883") && p[0].contains("embedded_broker = false"),
        "no way out named: {}",
        p[0]
    );
    // Plain MQTT with the embedded broker, and TLS without it, are both fine.
    let plain = example().replace(
        "url = \"mqtt://127.0.0.1:1883\"",
        "url = \"mqtt://127.0.0.1:1883\"\nembedded_broker = true",
    );
    assert!(parse(&plain).expect("parses").mqtt.embedded_broker);
    let external = example().replace("mqtt://127.0.0.1:1883", "mqtts://broker.plant1");
    assert!(!parse(&external).expect("parses").mqtt.embedded_broker);
}
