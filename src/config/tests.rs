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
