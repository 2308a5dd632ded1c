//! What one read means at a station: a frame becomes a line message for the store.
//!
//! A frame (one read, possibly a camera frame of many codes) is parsed with the same code
//! reader as MQTT messages (`protocol::code`), then turned into the station's event:
//! `commission` into the line's open batch, `aggregate` through the grouping state machine,
//! `reject` into decommission or destroy, `sample` into sample. Every message gets the id
//! `{scanner}-{session}-{seq}` (the session is random per daemon start, so a restart never
//! reuses an id) and is judged by the same rules as any line message. Anything that cannot
//! become a message — unreadable bytes, a bad code, no open batch, a child without its case —
//! is handed to the store as a refusal with the raw frame, so the quarantine keeps it.

use chrono::{DateTime, Utc};

use super::framing::{self, Frame};
use super::grouping::{Grouper, Input, Output, Read, Role};
use crate::config::{ParentRule, RejectAction, Scanner, Station};
use crate::gs1::CompanyPrefixes;
use crate::model::{CodeRecord, LineEvent, LineMessage, RejectCode, Rejection, UnitAction};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, OpenBatch};

/// Turns frames into store items for one scanner.
pub struct Interpreter {
    scanner: Scanner,
    prefixes: CompanyPrefixes,
    session: String,
    seq: u64,
    grouper: Option<Grouper<CodeRecord>>,
}

impl Interpreter {
    pub fn new(scanner: Scanner, prefixes: CompanyPrefixes, session: String) -> Self {
        let grouper = match &scanner.station {
            Station::Aggregate(a) => Some(Grouper::new(a.order, a.children_per_parent)),
            _ => None,
        };
        Interpreter {
            scanner,
            prefixes,
            session,
            seq: 0,
            grouper,
        }
    }

    pub fn topic(&self) -> String {
        format!("scanner/{}", self.scanner.id)
    }

    fn next_id(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}-{}", self.scanner.id, self.session, self.seq)
    }

    /// The store items one frame produces (none while an aggregation group is still open).
    /// `batches` are the line's open batches, the most recently opened first.
    pub fn frame(
        &mut self,
        frame: Frame,
        batches: &[OpenBatch],
        now: DateTime<Utc>,
    ) -> Vec<IngestItem> {
        let raw = match frame {
            Frame::Read(raw) => raw,
            Frame::TooLong { start, len } => {
                let why = format!(
                    "a read of {len} bytes without the configured terminator (more than {} bytes); check `framing`",
                    framing::MAX_FRAME
                );
                return vec![self.refused(start, RejectCode::PayloadTooLarge, why, now)];
            }
        };
        if let Some(items) = self.close_code_items(&raw, now) {
            return items;
        }
        let codes = match self.parse(&raw, now) {
            Ok(codes) => codes,
            Err(r) => return vec![self.refused(raw, r.code, r.reason, now)],
        };
        let event = match &self.scanner.station {
            Station::Commission => match pick_batch(batches, &codes) {
                Some(b) => LineEvent::Commission {
                    batch: b.batch.clone(),
                    codes,
                },
                None => {
                    let why = format!(
                        "no open batch on line {}; open a batch before commissioning",
                        self.scanner.line
                    );
                    return vec![self.refused(raw, RejectCode::BatchNotOpen, why, now)];
                }
            },
            Station::Reject(action) => self.units(
                match action {
                    RejectAction::Decommission => UnitAction::Decommission,
                    RejectAction::Destroy => UnitAction::Destroy,
                },
                codes,
            ),
            Station::Sample => self.units(UnitAction::Sample, codes),
            Station::Aggregate(_) => return self.aggregate(raw, codes, batches, now),
        };
        vec![self.accepted(raw, event, now)]
    }

    /// The open group's reads as a refusal, so nothing read is lost when the station stops.
    pub fn abandon(&mut self, now: DateTime<Utc>) -> Option<IngestItem> {
        let out = self.grouper.as_mut()?.abandon()?;
        self.outputs(vec![out], now).pop()
    }

    fn units(&self, action: UnitAction, codes: Vec<CodeRecord>) -> LineEvent {
        LineEvent::Units {
            action,
            codes,
            reason: Some(format!(
                "read at {} station {}",
                self.scanner.station.name(),
                self.scanner.id
            )),
        }
    }

    fn aggregate(
        &mut self,
        raw: Vec<u8>,
        codes: Vec<CodeRecord>,
        batches: &[OpenBatch],
        now: DateTime<Utc>,
    ) -> Vec<IngestItem> {
        let Station::Aggregate(a) = &self.scanner.station else {
            return Vec::new();
        };
        let rule = a.parents;
        let reads = codes
            .into_iter()
            .map(|c| Read {
                key: c.key.clone(),
                role: role(&c, batches, rule),
                code: c,
            })
            .collect();
        let Some(g) = self.grouper.as_mut() else {
            return Vec::new();
        };
        let out = g.feed(Input::Frame { raw, reads });
        self.outputs(out, now)
    }

    fn outputs(&mut self, out: Vec<Output<CodeRecord>>, now: DateTime<Utc>) -> Vec<IngestItem> {
        out.into_iter()
            .map(|o| match o {
                Output::Group {
                    parent,
                    children,
                    frames,
                } => self.accepted(
                    join(&frames),
                    LineEvent::Aggregate { parent, children },
                    now,
                ),
                Output::Refused {
                    reason,
                    missing_parent,
                    frames,
                } => {
                    let code = if missing_parent {
                        RejectCode::MissingField
                    } else {
                        RejectCode::InvalidField
                    };
                    self.refused(join(&frames), code, reason, now)
                }
            })
            .collect()
    }

    /// The codes of a frame, parsed; the close code of an aggregation station is handled here.
    fn parse(&mut self, raw: &[u8], now: DateTime<Utc>) -> Result<Vec<CodeRecord>, Rejection> {
        let s = &self.scanner;
        let parts = framing::codes_in(
            raw,
            s.strip_prefix.as_deref(),
            s.strip_suffix.as_deref(),
            s.multi_code_separator.as_deref(),
        );
        let ctx = DecodeContext {
            line: &s.line,
            received_at: now,
            max_payload_bytes: framing::MAX_FRAME,
            prefixes: &self.prefixes,
        };
        let mut codes = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let text = std::str::from_utf8(part).map_err(|_| {
                Rejection::new(RejectCode::InvalidCode, format!("code {i} of the read is not text (UTF-8); check the scanner's output format"))
            })?;
            codes.push(protocol::code(&format!("read[{i}]"), text, &ctx)?);
        }
        if codes.is_empty() {
            return Err(Rejection::new(
                RejectCode::InvalidCode,
                "the read holds no code",
            ));
        }
        Ok(codes)
    }

    /// Whether `raw` is the configured close code (checked before parsing: it is no GS1 code).
    fn close_code_items(&mut self, raw: &[u8], now: DateTime<Utc>) -> Option<Vec<IngestItem>> {
        let Station::Aggregate(a) = &self.scanner.station else {
            return None;
        };
        let close = a.close_code.as_deref()?;
        let s = &self.scanner;
        let parts = framing::codes_in(
            raw,
            s.strip_prefix.as_deref(),
            s.strip_suffix.as_deref(),
            None,
        );
        if parts.first().is_none_or(|p| *p != close.as_bytes()) {
            return None;
        }
        let out = self
            .grouper
            .as_mut()?
            .feed(Input::Close { raw: raw.to_vec() });
        Some(self.outputs(out, now))
    }

    fn accepted(&mut self, raw: Vec<u8>, event: LineEvent, now: DateTime<Utc>) -> IngestItem {
        let msg = LineMessage {
            line: self.scanner.line.clone(),
            message_id: self.next_id(),
            time: now,
            event,
        };
        self.item(raw, Decoded::Accepted(msg), now)
    }

    fn refused(
        &mut self,
        raw: Vec<u8>,
        code: RejectCode,
        reason: String,
        now: DateTime<Utc>,
    ) -> IngestItem {
        let decoded = Decoded::Refused {
            message_id: Some(self.next_id()),
            rejection: Rejection::new(code, format!("scanner {}: {reason}", self.scanner.id)),
        };
        self.item(raw, decoded, now)
    }

    fn item(&self, payload: Vec<u8>, decoded: Decoded, now: DateTime<Utc>) -> IngestItem {
        IngestItem {
            topic: self.topic(),
            line: Some(self.scanner.line.clone()),
            received_at: now,
            payload,
            decoded,
        }
    }
}

/// The batch a commissioning read belongs to: the newest open batch of the first code's GTIN,
/// else the newest open batch (the rules then refuse a wrong GTIN as `gtin_mismatch`).
fn pick_batch<'b>(batches: &'b [OpenBatch], codes: &[CodeRecord]) -> Option<&'b OpenBatch> {
    let gtin = codes.first().and_then(|c| c.gtin.as_deref());
    gtin.and_then(|g| batches.iter().find(|b| b.has_gtin(g)))
        .or_else(|| batches.first())
}

/// Whether `code` is a parent label under `rule` (an SSCC; an SGTIN of an open batch's pack GTIN).
fn role(code: &CodeRecord, batches: &[OpenBatch], rule: ParentRule) -> Role {
    let pack = |g: &str| batches.iter().any(|b| b.pack_gtins.iter().any(|p| p == g));
    let parent = match (code.gtin.as_deref(), rule) {
        (None, ParentRule::PackGtinsOrSscc | ParentRule::Sscc) => true,
        (Some(g), ParentRule::PackGtinsOrSscc | ParentRule::PackGtins) => pack(g),
        _ => false,
    };
    if parent { Role::Parent } else { Role::Child }
}

/// The raw frames of a group, one per line, for the quarantine.
fn join(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.join(&b'\n')
}
