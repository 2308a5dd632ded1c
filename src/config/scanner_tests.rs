//! Tests of the `[[scanner]]` reader: the commented example, defaults, and problems with key paths.

use super::super::{ParseError, parse};
use super::*;
use crate::config::{RejectAction, Station};

fn with(scanners: &str) -> Result<Vec<Scanner>, Vec<String>> {
    let base =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
            .expect("example");
    let base: String = base
        .split("[[scanner]]")
        .next()
        .unwrap_or_default()
        .to_string();
    match parse(&format!("{base}\n{scanners}")) {
        Ok(c) => Ok(c.scanners),
        Err(ParseError::Invalid(p)) => Err(p.into_iter().map(|p| p.to_string()).collect()),
        Err(e) => panic!("{e:?}"),
    }
}

/// The commented-out example in config/linegate.toml, uncommented, is valid.
#[test]
fn the_commented_example_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
            .expect("example");
    let at = text.find("# [[scanner]]").expect("a [[scanner]] example");
    let example: String = text[at..]
        .lines()
        .map(|l| {
            format!(
                "{}\n",
                l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))
            )
        })
        .collect();
    let s = with(&example).expect("the example is valid");
    assert_eq!(s.len(), 3);
    assert!(matches!(&s[1].station, Station::Aggregate(a) if a.children_per_parent == Some(10)));
    assert_eq!(s[2].station, Station::Reject(RejectAction::Destroy));
}

#[test]
fn a_full_scanner_reads_with_defaults() {
    let s = with("[[scanner]]\nid = \"S1\"\nline = \"L1\"\nstation = \"commission\"\ndevice = \"/dev/ttyUSB0\"\nreply_ok = \"\\u0006\"\nframing = \"custom\"\nterminator = \"\\u0004\"\n")
        .expect("valid");
    assert_eq!(s[0].framing, Framing::Terminator(vec![4]));
    assert_eq!(s[0].reply_ok, Some(vec![6]));
    assert_eq!(
        (s[0].port.baud, s[0].port.data_bits, s[0].port.stop_bits),
        (9600, 8, 1)
    );
    assert_eq!(s[0].station, Station::Commission);
}

#[test]
fn scanner_problems_carry_their_key_paths() {
    let p = with(concat!(
        "[[scanner]]\nid = \"S 1\"\nline = \"L9\"\nstation = \"commission\"\ndevice = \"/dev/a\"\nframing = \"custom\"\nclose_code = \"X\"\nparity = \"mark\"\n",
        "[[scanner]]\nid = \"S2\"\nline = \"L1\"\nstation = \"aggregate\"\norder = \"children_first\"\nchildren_per_parent = 5\ndevice = \"/dev/a\"\nbaud = 0\n",
        "[[scanner]]\nid = \"S2\"\nline = \"L1\"\nstation = \"reject\"\nreject_action = \"burn\"\ndevice = \"/dev/b\"\nsurprise = 1\n",
    ))
    .expect_err("invalid");
    for path in [
        "scanner[0].id",
        "scanner[0].line",
        "scanner[0].terminator",
        "scanner[0].close_code",
        "scanner[0].parity",
        "scanner[1].children_per_parent",
        "scanner[1].baud",
        "scanner[2].reject_action",
        "scanner[2].surprise",
    ] {
        assert!(
            p.iter().any(|x| x.starts_with(&format!("{path}:"))),
            "no {path} in {p:#?}"
        );
    }
    let dup = with(concat!(
        "[[scanner]]\nid = \"S1\"\nline = \"L1\"\nstation = \"sample\"\ndevice = \"/dev/a\"\n",
        "[[scanner]]\nid = \"S1\"\nline = \"L1\"\nstation = \"sample\"\ndevice = \"/dev/a\"\n",
    ))
    .expect_err("duplicates");
    assert!(
        dup.iter().any(|x| x.starts_with("scanner[1].id:")),
        "{dup:?}"
    );
    assert!(
        dup.iter().any(|x| x.starts_with("scanner[1].device:")),
        "{dup:?}"
    );
}
