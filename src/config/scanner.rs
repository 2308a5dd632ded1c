//! `[[scanner]]`: barcode scanners and cameras wired to a line over a serial port.
//!
//! A plant engineer wires a scanner from this section alone (docs/scanners.md), so every key is
//! checked here with its key path: the station kind and the keys only that kind uses, the port
//! settings a scanner's manual lists (baud, data bits, parity, stop bits, flow control), how
//! frames end, and the bytes written back to drive a light stack or a reject gate. Byte strings
//! (`terminator`, `reply_ok`, …) are TOML strings, so `"\u0006"` is the ASCII ACK byte.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::reader::{Problems, Table};

/// One `[[scanner]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Scanner {
    /// Unique; part of every message id the station creates (`{id}-{session}-{seq}`).
    pub id: String,
    /// The `[[line]] id` whose open batch the reads belong to.
    pub line: String,
    pub station: Station,
    /// Usually a `/dev/serial/by-id/…` symlink, so a replugged scanner is found again.
    pub device: PathBuf,
    pub port: PortSettings,
    pub framing: Framing,
    pub strip_prefix: Option<Vec<u8>>,
    pub strip_suffix: Option<Vec<u8>>,
    /// A camera frame carrying many codes has them separated by these bytes.
    pub multi_code_separator: Option<Vec<u8>>,
    /// Written to the port after a read was committed / refused.
    pub reply_ok: Option<Vec<u8>>,
    pub reply_reject: Option<Vec<u8>>,
    /// Warn when the line has an open batch and this scanner read nothing for this long.
    pub idle_alarm: Option<Duration>,
}

/// What a read at this station means.
#[derive(Debug, Clone, PartialEq)]
pub enum Station {
    Commission,
    Aggregate(Aggregation),
    Reject(RejectAction),
    Sample,
}

impl Station {
    pub fn name(&self) -> &'static str {
        match self {
            Station::Commission => "commission",
            Station::Aggregate(_) => "aggregate",
            Station::Reject(_) => "reject",
            Station::Sample => "sample",
        }
    }
}

/// How an aggregation station groups what it reads into cases or pallets.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub order: Order,
    /// parent_first: the group closes by itself after this many children.
    pub children_per_parent: Option<usize>,
    /// parent_first: reading exactly this text closes the group.
    pub close_code: Option<String>,
    /// Which codes are parents (the rest are children).
    pub parents: ParentRule,
}

/// How an aggregation station tells a parent label from a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentRule {
    /// An SSCC, or an SGTIN whose GTIN is in an open batch's `pack_gtins` (a case packer).
    PackGtinsOrSscc,
    /// Only an SSCC; cases are children (a palletiser).
    Sscc,
    /// Only an SGTIN of a `pack_gtins` GTIN (a bundler or case packer without pallets).
    PackGtins,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The case label first, then its units; the next case label closes the group.
    ParentFirst,
    /// The units first; the case label closes the group.
    ChildrenFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectAction {
    Decommission,
    Destroy,
}

/// Serial line settings, as the scanner's manual states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSettings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
    pub flow_control: FlowControl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    None,
    Software,
    Hardware,
}

/// Where one read ends in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    Cr,
    Lf,
    CrLf,
    /// STX (0x02) … ETX (0x03); bytes outside a frame are ignored.
    StxEtx,
    Terminator(Vec<u8>),
}

const FRAMINGS: [&str; 5] = ["cr", "lf", "crlf", "stx_etx", "custom"];

/// Reads every `[[scanner]]`; `lines` are the configured line ids.
pub(super) fn read(root: &Table<'_>, lines: &HashSet<String>, p: &mut Problems) -> Vec<Scanner> {
    let tables = root.tables("scanner", p);
    let mut ids = HashSet::new();
    let mut devices = HashSet::new();
    let mut out = Vec::new();
    for t in &tables {
        if let Some(s) = scanner(t, lines, p) {
            if !ids.insert(s.id.clone()) {
                p.add(
                    t.path_of("id"),
                    format!("scanner id '{}' is used twice", s.id),
                );
            }
            if !devices.insert(s.device.clone()) {
                p.add(
                    t.path_of("device"),
                    format!("{} is used by two scanners", s.device.display()),
                );
            }
            out.push(s);
        }
        t.finish(p);
    }
    out
}

fn scanner(t: &Table<'_>, lines: &HashSet<String>, p: &mut Problems) -> Option<Scanner> {
    let id = t.string("id", p).filter(|id| {
        let ok = id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            p.add(t.path_of("id"), format!("'{id}' must be at most 64 letters, digits, '-', '_' or '.' (it is part of message ids)"));
        }
        ok
    });
    let line = t.string("line", p).filter(|l| {
        let ok = lines.contains(l);
        if !ok {
            p.add(
                t.path_of("line"),
                format!("'{l}' is not a configured [[line]] id"),
            );
        }
        ok
    });
    let device = t.string("device", p).map(PathBuf::from);
    let kind = t.opt_string("station", p);
    let port = PortSettings {
        baud: t.int_or("baud", 9600, 50..=4_000_000, p) as u32,
        data_bits: t.int_or("data_bits", 8, 5..=8, p) as u8,
        parity: match t.choice("parity", &["none", "odd", "even"], p) {
            "odd" => Parity::Odd,
            "even" => Parity::Even,
            _ => Parity::None,
        },
        stop_bits: t.int_or("stop_bits", 1, 1..=2, p) as u8,
        flow_control: match t.choice("flow_control", &["none", "software", "hardware"], p) {
            "software" => FlowControl::Software,
            "hardware" => FlowControl::Hardware,
            _ => FlowControl::None,
        },
    };
    let framing_name = t.choice("framing", &FRAMINGS, p);
    let terminator = bytes(t, "terminator", p);
    let framing = match (framing_name, terminator) {
        ("custom", Some(term)) => Some(Framing::Terminator(term)),
        ("custom", None) => {
            p.add(t.path_of("terminator"), "is required with framing = \"custom\" (the bytes that end a read, e.g. \"\\u0004\")");
            None
        }
        (_, Some(_)) => {
            p.add(
                t.path_of("terminator"),
                "only applies to framing = \"custom\"",
            );
            None
        }
        ("lf", None) => Some(Framing::Lf),
        ("crlf", None) => Some(Framing::CrLf),
        ("stx_etx", None) => Some(Framing::StxEtx),
        _ => Some(Framing::Cr),
    };
    let strip_prefix = bytes(t, "strip_prefix", p);
    let strip_suffix = bytes(t, "strip_suffix", p);
    let multi_code_separator = bytes(t, "multi_code_separator", p);
    let reply_ok = bytes(t, "reply_ok", p);
    let reply_reject = bytes(t, "reply_reject", p);
    let idle_alarm = t
        .opt_int("idle_alarm_secs", 1..=86_400, p)
        .map(Duration::from_secs);
    if let (Some(Framing::Terminator(term)), Some(sep)) = (&framing, &multi_code_separator)
        && term == sep
    {
        p.add(
            t.path_of("multi_code_separator"),
            "must differ from the terminator",
        );
    }
    let station = station(t, kind.as_deref(), p);
    Some(Scanner {
        id: id?,
        line: line?,
        station: station?,
        device: device?,
        port,
        framing: framing?,
        strip_prefix,
        strip_suffix,
        multi_code_separator,
        reply_ok,
        reply_reject,
        idle_alarm,
    })
}

/// The station kind and the keys only some kinds use (each is read, so none is "unknown").
fn station(t: &Table<'_>, kind: Option<&str>, p: &mut Problems) -> Option<Station> {
    let order = t.opt_string("order", p);
    let per_parent = t.opt_int("children_per_parent", 1..=100_000, p);
    let close_code = t.opt_string("close_code", p);
    let action = t.opt_string("reject_action", p);
    let parents = t.opt_string("parents", p);
    let only = |p: &mut Problems, key: &str, present: bool, kind_needed: &str| {
        if present {
            p.add(
                t.path_of(key),
                format!("only applies to station = \"{kind_needed}\""),
            );
        }
    };
    let kind = match kind {
        None => {
            p.add(
                t.path_of("station"),
                "is required: commission, aggregate, reject or sample",
            );
            return None;
        }
        Some(k) => k,
    };
    if kind != "aggregate" {
        only(p, "order", order.is_some(), "aggregate");
        only(p, "children_per_parent", per_parent.is_some(), "aggregate");
        only(p, "close_code", close_code.is_some(), "aggregate");
        only(p, "parents", parents.is_some(), "aggregate");
    }
    if kind != "reject" {
        only(p, "reject_action", action.is_some(), "reject");
    }
    match kind {
        "commission" => Some(Station::Commission),
        "sample" => Some(Station::Sample),
        "reject" => match action.as_deref() {
            None | Some("decommission") => Some(Station::Reject(RejectAction::Decommission)),
            Some("destroy") => Some(Station::Reject(RejectAction::Destroy)),
            Some(other) => {
                p.add(
                    t.path_of("reject_action"),
                    format!("'{other}' must be one of: decommission, destroy"),
                );
                None
            }
        },
        "aggregate" => {
            let order = match order.as_deref() {
                None | Some("parent_first") => Order::ParentFirst,
                Some("children_first") => Order::ChildrenFirst,
                Some(other) => {
                    p.add(
                        t.path_of("order"),
                        format!("'{other}' must be one of: parent_first, children_first"),
                    );
                    return None;
                }
            };
            if order == Order::ChildrenFirst {
                only(
                    p,
                    "children_per_parent",
                    per_parent.is_some(),
                    "aggregate\" with order = \"parent_first",
                );
                only(
                    p,
                    "close_code",
                    close_code.is_some(),
                    "aggregate\" with order = \"parent_first",
                );
            }
            let parents = match parents.as_deref() {
                None | Some("pack_gtins_or_sscc") => ParentRule::PackGtinsOrSscc,
                Some("sscc") => ParentRule::Sscc,
                Some("pack_gtins") => ParentRule::PackGtins,
                Some(other) => {
                    p.add(
                        t.path_of("parents"),
                        format!("'{other}' must be one of: pack_gtins_or_sscc, sscc, pack_gtins"),
                    );
                    return None;
                }
            };
            Some(Station::Aggregate(Aggregation {
                order,
                children_per_parent: per_parent.map(|n| n as usize),
                close_code,
                parents,
            }))
        }
        other => {
            p.add(
                t.path_of("station"),
                format!("'{other}' must be one of: commission, aggregate, reject, sample"),
            );
            None
        }
    }
}

/// An optional byte string written as a TOML string (`"\u0006"`, `"OK\r\n"`).
fn bytes(t: &Table<'_>, key: &str, p: &mut Problems) -> Option<Vec<u8>> {
    t.opt_string(key, p).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::super::{ParseError, parse};
    use super::*;

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
        assert!(
            matches!(&s[1].station, Station::Aggregate(a) if a.children_per_parent == Some(10))
        );
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
}
