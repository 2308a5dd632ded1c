//! Tests of the `[[upstream]]` reader: defaults, every key, and a problem with its key path and
//! the allowed values for each wrong value.

use super::super::{ParseError, parse};
use super::*;

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
        .expect("config/linegate.toml")
}

/// The example with `keys` added to its first `[[upstream]]`.
fn with(keys: &str) -> Result<Upstream, Vec<String>> {
    let text = example().replacen("name = \"mah\"", &format!("name = \"mah\"\n{keys}"), 1);
    match parse(&text) {
        Ok(c) => Ok(c.upstreams.into_iter().next().expect("an upstream")),
        Err(ParseError::Invalid(p)) => Err(p.into_iter().map(|p| p.to_string()).collect()),
        Err(e) => panic!("{e:?}"),
    }
}

fn partner(keys: &str) -> Partner {
    with(keys)
        .unwrap_or_else(|p| panic!("{keys}: {p:#?}"))
        .partner
}

fn defaults() -> Partner {
    Partner::new(
        "mah",
        Gln::parse("0361414000001").unwrap(),
        Gln::parse("0614141000005").unwrap(),
    )
}

/// The one problem `keys` cause: at `upstream[0].{path}`, its message naming every `expected`.
fn refused(keys: &str, path: &str, expected: &[&str]) {
    let p = match with(keys) {
        Ok(u) => panic!("{keys}: accepted as {:#?}", u.partner),
        Err(p) => p,
    };
    assert_eq!(p.len(), 1, "{keys}: {p:#?}");
    let prefix = format!("upstream[0].{path}: ");
    assert!(p[0].starts_with(&prefix), "{keys}: {p:#?}");
    for e in expected {
        assert!(p[0].contains(e), "{keys}: no '{e}' in {}", p[0]);
    }
}

#[test]
fn every_setting_has_the_partner_default() {
    let u = with("").expect("example");
    assert_eq!(u.partner, defaults());
    assert_eq!(u.partner.format, Format::Epcis12);
    assert_eq!(
        u.partner.messages,
        [MessageKind::EndOfBatch, MessageKind::Shipment]
    );
    assert_eq!(
        u.partner.eob_variant,
        EobVariant::CommissionAggregationRelease
    );
    assert_eq!(u.partner.eob_trigger, EobTrigger::Close);
    assert_eq!(u.partner.release.action, Action::Observe);
    assert_eq!(
        u.partner.release.biz_step.urn(),
        "urn:epcglobal:cbv:bizstep:inspecting"
    );
    assert_eq!(
        u.partner.release.disposition.urn(),
        "urn:epcglobal:cbv:disp:sellable_not_accessible"
    );
    assert_eq!(u.partner.shipment_variant, ShipmentVariant::ShipmentOnly);
    assert_eq!(
        u.partner.limits,
        Limits {
            max_events_per_document: 0,
            max_bytes_per_document: 0,
            max_epcs_per_event: 10_000
        }
    );
    assert!(!u.partner.tracelink_extensions && !u.partner.dscsa_statement);
    assert_eq!(u.partner.dscsa_legal_notice, None);
    // The forwarder's fields are still there.
    assert_eq!(
        (u.name.as_str(), u.url.as_str()),
        ("mah", "https://epcis.example.com/receive")
    );
}

/// The keys config/linegate.toml shows commented out under `[[upstream]]`, uncommented.
fn documented_keys() -> Vec<String> {
    let text = example();
    let from = text.find("[[upstream]]").expect("[[upstream]]");
    let to = text
        .find("# Serial scanner stations")
        .expect("scanner section");
    text[from..to]
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                k.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !k.is_empty()
            })
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_documented_defaults_are_the_defaults_and_every_key_is_documented() {
    let keys = documented_keys();
    let names: Vec<&str> = keys
        .iter()
        .map(|k| k.split(" = ").next().unwrap())
        .collect();
    for key in [
        "ca_file",
        "tls_verify",
        "client_cert_file",
        "client_key_file",
        "auth",
        "token_file",
        "username",
        "password_file",
        "headers",
        "gzip",
        "max_in_flight",
        "block_on_rejected",
        "format",
        "messages",
        "end_of_batch",
        "end_of_batch_on",
        "release_action",
        "release_biz_step",
        "release_disposition",
        "shipment",
        "max_events_per_document",
        "max_bytes_per_document",
        "max_epcs_per_event",
        "tracelink_extensions",
        "dscsa_statement",
        "dscsa_legal_notice",
    ] {
        assert!(
            names.contains(&key),
            "{key} is not shown in the example: {names:?}"
        );
    }
    // The legal notice goes with the statement only, so the statement is switched on for it;
    // basic auth's username and password_file are shown as the alternative to the token.
    let block = (keys.iter())
        .filter(|k| !k.starts_with("username = ") && !k.starts_with("password_file = "))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
        .replace("dscsa_statement = false", "dscsa_statement = true");
    let p = partner(&block);
    let expected = Partner {
        dscsa_statement: true,
        dscsa_legal_notice: Some("the wording agreed with your partner".into()),
        ..defaults()
    };
    assert_eq!(p, expected);
}

#[test]
fn every_key_is_read() {
    let p = partner(
        r#"format = "epcis-2.0-json"
messages = ["commission", "aggregation", "disaggregation", "decommission", "destroy", "sample", "receive", "void_shipment", "status_update", "shipment", "end_of_batch"]
end_of_batch = "commission-aggregation-rejects-release"
end_of_batch_on = "release"
release_action = "ADD"
release_biz_step = "urn:epcglobal:cbv:bizstep:holding"
release_disposition = "https://partner.example/disp/released"
shipment = "commission-aggregation-shipment"
max_events_per_document = 500
max_bytes_per_document = 10485760
max_epcs_per_event = 2000
dscsa_statement = true
dscsa_legal_notice = "We affirm."
"#,
    );
    assert_eq!(p.format, Format::Epcis20Json);
    assert_eq!(p.messages.len(), MessageKind::ALL.len());
    assert_eq!(p.messages[0], MessageKind::Commission, "kept in order");
    assert!(MessageKind::ALL.iter().all(|k| p.takes(*k)));
    assert_eq!(
        p.eob_variant,
        EobVariant::CommissionAggregationRejectsRelease
    );
    assert_eq!(p.eob_trigger, EobTrigger::Release);
    assert_eq!(
        p.release,
        ReleaseEvent {
            action: Action::Add,
            biz_step: Term::biz_step("holding"),
            disposition: Term::disposition("https://partner.example/disp/released"),
        }
    );
    assert_eq!(p.shipment_variant, ShipmentVariant::CommissionAggregation);
    assert_eq!(
        p.limits,
        Limits {
            max_events_per_document: 500,
            max_bytes_per_document: 10 * 1024 * 1024,
            max_epcs_per_event: 2000
        }
    );
    assert!(p.dscsa_statement && !p.tracelink_extensions);
    assert_eq!(p.dscsa_legal_notice.as_deref(), Some("We affirm."));
    assert_eq!(
        (p.upstream.as_str(), p.receiver_gln.as_str()),
        ("mah", "0614141000005")
    );

    // Each variant and format by its name; TraceLink extensions with EPCIS 1.2.
    for f in Format::ALL {
        assert_eq!(partner(&format!("format = \"{}\"", f.as_str())).format, f);
    }
    for v in EobVariant::ALL {
        let keys = format!("end_of_batch = \"{}\"", v.as_str());
        assert_eq!(partner(&keys).eob_variant, v);
    }
    for v in ShipmentVariant::ALL {
        let keys = format!("shipment = \"{}\"", v.as_str());
        assert_eq!(partner(&keys).shipment_variant, v);
    }
    for (name, action) in [("ADD", Action::Add), ("DELETE", Action::Delete)] {
        let keys = format!("release_action = \"{name}\"");
        assert_eq!(partner(&keys).release.action, action);
    }
    let tl = partner("format = \"epcis-1.2\"\ntracelink_extensions = true");
    assert!(tl.tracelink_extensions);
    let one = partner("messages = [\"status_update\"]");
    assert_eq!(one.messages, [MessageKind::StatusUpdate]);
    let small = partner("max_bytes_per_document = 65536\nmax_epcs_per_event = 2048");
    assert_eq!(small.limits.max_bytes_per_document, 65536);
}

#[test]
fn a_cbv_term_is_a_word_its_urn_its_gs1_uri_or_a_partner_uri() {
    for form in [
        "inspecting",
        "urn:epcglobal:cbv:bizstep:inspecting",
        "https://ns.gs1.org/cbv/BizStep-inspecting",
    ] {
        let p = partner(&format!("release_biz_step = \"{form}\""));
        assert_eq!(p.release.biz_step, Term::biz_step("inspecting"), "{form}");
    }
    for form in [
        "conformant",
        "urn:epcglobal:cbv:disp:conformant",
        "https://ns.gs1.org/cbv/Disp-conformant",
    ] {
        let p = partner(&format!("release_disposition = \"{form}\""));
        assert_eq!(
            p.release.disposition,
            Term::disposition("conformant"),
            "{form}"
        );
    }
    for own in [
        "urn:tracelink:bizstep:product_release",
        "https://partner.example/voc/released",
    ] {
        let p = partner(&format!(
            "release_biz_step = \"{own}\"\nrelease_disposition = \"{own}\""
        ));
        assert_eq!(p.release.biz_step.urn(), own);
        assert!(!p.release.biz_step.is_standard());
        assert_eq!(p.release.disposition.bare(), own);
    }
    // CBV 2.0 words are words too.
    let p = partner("release_biz_step = \"sampling\"\nrelease_disposition = \"available\"");
    assert!(p.release.biz_step.is_standard() && p.release.disposition.is_standard());
}

#[test]
fn each_wrong_value_is_a_problem_naming_its_key_and_the_allowed_values() {
    let formats = ["epcis-1.2", "epcis-2.0-json", "epcis-2.0-xml"];
    refused("format = \"epcis-2.0\"", "format", &formats);
    refused("format = \"EPCIS-1.2\"", "format", &formats);
    refused("format = 2", "format", &["must be a string"]);

    let all_messages = MessageKind::ALL.map(MessageKind::as_str);
    refused(
        "messages = [\"end_of_batch\", \"invoice\"]",
        "messages",
        &[&["'invoice'"][..], &all_messages[..]].concat(),
    );
    refused(
        "messages = [\"shipment\", \"end_of_batch\", \"shipment\"]",
        "messages",
        &["'shipment'", "twice"],
    );
    refused(
        "messages = []",
        "messages",
        &[&["at least one"][..], &all_messages[..]].concat(),
    );
    refused("messages = \"shipment\"", "messages", &["list of strings"]);
    refused("messages = [1]", "messages[0]", &["must be a string"]);

    refused(
        "end_of_batch = \"commission\"",
        "end_of_batch",
        &EobVariant::ALL.map(EobVariant::as_str),
    );
    refused(
        "end_of_batch_on = \"ship\"",
        "end_of_batch_on",
        &["close", "release"],
    );
    refused(
        "release_action = \"observe\"",
        "release_action",
        &["OBSERVE", "ADD", "DELETE"],
    );
    refused(
        "shipment = \"shipment-only\"",
        "shipment",
        &ShipmentVariant::ALL.map(ShipmentVariant::as_str),
    );

    refused(
        "release_biz_step = \"\"",
        "release_biz_step",
        &["must not be empty"],
    );
    refused(
        "release_biz_step = \"  \"",
        "release_biz_step",
        &["must not be empty"],
    );
    refused(
        "release_biz_step = \"quality release\"",
        "release_biz_step",
        &["spaces"],
    );
    refused(
        "release_disposition = \" conformant\"",
        "release_disposition",
        &["spaces"],
    );
    refused(
        "release_biz_step = \"inspectng\"",
        "release_biz_step",
        &[
            "'inspectng'",
            "not a CBV bizStep",
            "inspecting",
            "shipping",
            "urn:epcglobal:cbv:bizstep:",
        ],
    );
    refused(
        "release_disposition = \"urn:epcglobal:cbv:disp:conform\"",
        "release_disposition",
        &["not a CBV disposition", "conformant", "non_conformant"],
    );
    refused(
        "release_biz_step = \"urn:epcglobal:cbv:disp:conformant\"",
        "release_biz_step",
        &["not a bizStep", "urn:epcglobal:cbv:bizstep:"],
    );
    refused(
        "release_disposition = \"1:x\"",
        "release_disposition",
        &["neither a CBV disposition word nor a URI"],
    );
    refused(
        "release_disposition = \"urn:\"",
        "release_disposition",
        &["nor a URI"],
    );

    refused(
        "max_events_per_document = -1",
        "max_events_per_document",
        &["out of range 0..="],
    );
    refused(
        "max_bytes_per_document = 65535",
        "max_bytes_per_document",
        &["0 (no limit)", "at least 65536"],
    );
    refused(
        "max_epcs_per_event = 0",
        "max_epcs_per_event",
        &["out of range 1..=1000000"],
    );
    refused(
        "max_epcs_per_event = 1000001",
        "max_epcs_per_event",
        &["out of range 1..=1000000"],
    );
    // A full event could never fit the byte limit: the key that was set is named.
    refused(
        "max_bytes_per_document = 65536",
        "max_bytes_per_document",
        &["max_epcs_per_event = 10000", "at most 2048"],
    );
    refused(
        "max_bytes_per_document = 65536\nmax_epcs_per_event = 2049",
        "max_epcs_per_event",
        &["at most 2048"],
    );

    refused(
        "tracelink_extensions = \"yes\"",
        "tracelink_extensions",
        &["true or false"],
    );
    refused(
        "dscsa_legal_notice = \"We affirm.\"",
        "dscsa_legal_notice",
        &["dscsa_statement = true"],
    );
    refused(
        "dscsa_statement = true\ndscsa_legal_notice = \"\"",
        "dscsa_legal_notice",
        &["must not be empty"],
    );
    refused(
        "end_of_batch_trigger = \"close\"",
        "end_of_batch_trigger",
        &["unknown key"],
    );
}

#[test]
fn tracelink_extensions_are_refused_with_a_2_0_format() {
    for f in ["epcis-2.0-json", "epcis-2.0-xml"] {
        refused(
            &format!("format = \"{f}\"\ntracelink_extensions = true"),
            "tracelink_extensions",
            &[
                f,
                "EPCIS 1.2 only",
                "format = \"epcis-1.2\"",
                "tracelink_extensions = false",
            ],
        );
    }
}

#[test]
fn every_upstream_is_read_with_its_own_path() {
    let text = format!(
        "{}\n[[upstream]]\nname = \"cmo-archive\"\nurl = \"https://archive.example/epcis\"\n\
         sender_gln = \"0361414000001\"\nreceiver_gln = \"0361414000001\"\n\
         format = \"epcis-2.0-xml\"\nmessages = [\"commission\", \"destroy\"]\n",
        example()
    );
    let c = parse(&text).expect("two upstreams");
    assert_eq!(c.upstreams[0].partner, defaults());
    let archive = &c.upstreams[1].partner;
    assert_eq!(
        (archive.upstream.as_str(), archive.format),
        ("cmo-archive", Format::Epcis20Xml)
    );
    assert_eq!(
        archive.messages,
        [MessageKind::Commission, MessageKind::Destroy]
    );

    let bad = text.replace("format = \"epcis-2.0-xml\"", "format = \"xml\"");
    match parse(&bad) {
        Err(ParseError::Invalid(p)) => {
            assert_eq!(p.len(), 1, "{p:#?}");
            assert_eq!(p[0].path, "upstream[1].format");
        }
        other => panic!("{other:?}"),
    }
}

/// The MQTT keys are shown indented under "MQTT upstreams" (they are not the example
/// upstream's keys), each with its default; the pickup folder's url form is shown below them.
#[test]
fn the_mqtt_and_directory_upstreams_are_documented_with_their_defaults() {
    use crate::config::upstream_target::{DirectoryTarget, Target};
    let text = example();
    let from = text
        .find("# MQTT upstreams")
        .expect("MQTT upstreams documented");
    let to = from
        + text[from..]
            .find("# Pickup folders")
            .expect("pickup folders");
    let keys: Vec<&str> = text[from..to]
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .filter(|l| l.contains(" = "))
        .collect();
    let names: Vec<&str> = keys.iter().filter_map(|k| k.split(" = ").next()).collect();
    assert_eq!(
        names,
        ["topic", "client_id", "keep_alive_secs", "max_packet_bytes"]
    );
    let https = "url = \"https://epcis.example.com/receive\"";
    let mqtt = |keys: &str| {
        let url = format!("url = \"mqtt://broker.plant:1883\"\n{keys}");
        match parse(&text.replacen(https, &url, 1)) {
            Ok(c) => match &c.upstreams[0].target {
                Target::Mqtt(m) => m.clone(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{keys}: {e:?}"),
        }
    };
    let documented = mqtt(&keys.join("\n"));
    assert_eq!(
        documented,
        mqtt(keys[0]),
        "every documented value is the default"
    );
    assert_eq!(
        documented.topic,
        "partner/epcis/{kind}/{batch}/{document_id}"
    );

    let folder = "file:///var/spool/linegate/outgoing";
    assert!(text[to..].contains(folder));
    let c = parse(&text.replacen(https, &format!("url = \"{folder}\""), 1)).expect("a folder");
    assert_eq!(
        c.upstreams[0].target,
        Target::Directory(DirectoryTarget {
            path: "/var/spool/linegate/outgoing".into()
        })
    );
}
