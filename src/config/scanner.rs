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
use super::scanner_station::station;
pub use super::scanner_station::{Aggregation, Order, ParentRule, RejectAction};

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

/// An optional byte string written as a TOML string (`"\u0006"`, `"OK\r\n"`).
fn bytes(t: &Table<'_>, key: &str, p: &mut Problems) -> Option<Vec<u8>> {
    t.opt_string(key, p).map(String::into_bytes)
}

#[cfg(test)]
#[path = "scanner_tests.rs"]
mod tests;
