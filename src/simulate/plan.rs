//! The simulated line, pure: from a seeded `LineSpec` to the exact sequence of protocol-v1
//! messages a packaging line sends for one batch, and the counts it expects back.
//!
//! The line opens the batch (with its case GTIN in `pack_gtins`), then works case by case: it
//! commissions the units a case needs as DataMatrix scanner strings (camera rejects among them
//! are destroyed at once and never packed), commissions the case label, packs the units into it,
//! and lets QA pull samples and late rejects out of the packed case (`disaggregate`, then
//! `sample`, `destroy` or `decommission`). Every `pallet_size` cases it commissions an SSCC and
//! packs the cases onto the pallet. Optional faults — a wrong-lot label, a repeated scan, a
//! broken check digit — go in single-code messages the gateway must refuse. Nothing here does
//! I/O or reads the clock: the same spec and seed always give the same messages, byte for byte.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::codes::{LabelData, SerialSource, sscc, sscc_label};
use super::fates::{Fate, Fates};
pub use super::spec::{LineSpec, SpecError};
use crate::gs1;
use crate::rules::reconcile::{Level, LevelCounts};

/// One message of the simulated line.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub id: String,
    /// The protocol-v1 JSON object, without `time` (the transport stamps it when sending).
    pub body: Value,
    /// Saleable units this message commissions (for pacing and progress).
    pub units: u32,
    /// The refusal code the gateway must answer with, for an injected fault.
    pub refusal: Option<&'static str>,
}

/// What the batch must look like at close, from the line's own bookkeeping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// Per packaging level, as `linegate batch show` reports it.
    pub levels: BTreeMap<Level, LevelCounts>,
    pub good_units: u64,
    pub cases: u32,
    pub pallets: u32,
    /// Ended units with their fate and reason, in message order.
    pub rejects: Vec<(String, &'static str, &'static str)>,
    /// Injected faults: message id and the refusal code expected.
    pub refusals: Vec<(String, &'static str)>,
    /// The element string of a unit that ends up packed (case on a pallet), for `serial show`.
    pub packed_unit: Option<String>,
}

/// The whole batch: every message in sending order, and the expected outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub messages: Vec<SimMessage>,
    pub expected: Expected,
}

/// Builds the message sequence of one batch.
pub fn generate(spec: &LineSpec) -> Result<Plan, SpecError> {
    spec.check()?;
    let mut g = Generator::new(spec);
    g.run();
    Ok(Plan {
        messages: g.messages,
        expected: g.expected,
    })
}

struct Generator<'s> {
    spec: &'s LineSpec,
    label: LabelData,
    serials: SerialSource,
    messages: Vec<SimMessage>,
    expected: Expected,
    each: LevelCounts,
}

impl<'s> Generator<'s> {
    fn new(spec: &'s LineSpec) -> Self {
        Generator {
            spec,
            label: LabelData {
                lot: spec.lot.clone(),
                expiry: spec.expiry,
            },
            serials: SerialSource::new(spec.seed),
            messages: Vec::new(),
            expected: Expected::default(),
            each: LevelCounts::default(),
        }
    }

    fn push(&mut self, mut body: Value, units: u32, refusal: Option<&'static str>) {
        let id = format!("{}-{:06}", self.spec.batch, self.messages.len() + 1);
        body["id"] = json!(id);
        if let Some(code) = refusal {
            self.expected.refusals.push((id.clone(), code));
        }
        self.messages.push(SimMessage {
            id,
            body,
            units,
            refusal,
        });
    }

    fn run(&mut self) {
        let s = self.spec;
        let (batch, per) = (s.batch.as_str(), s.codes_per_message as usize);
        self.push(
            json!({"type": "batch_open", "batch": batch, "gtin": s.gtin, "lot": s.lot,
                   "expiry": s.expiry.format("%Y-%m-%d").to_string(), "pack_gtins": [s.case_gtin],
                   "planned_quantity": s.units, "work_order": format!("WO-{batch}")}),
            0,
            None,
        );
        let fates = Fates::draw(s, self.serials.rng());
        let segments = fates.segments(s.case_size as usize);
        let fault_after = fault_positions(s.faults, segments.len());
        let mut on_pallet: Vec<String> = Vec::new();
        let mut last_good: Option<String> = None;
        for (c, segment) in segments.iter().enumerate() {
            let units: Vec<(String, Fate)> = segment
                .iter()
                .map(|&i| {
                    (
                        self.label.datamatrix(&s.gtin, &self.serials.serial()),
                        fates.of(i),
                    )
                })
                .collect();
            for chunk in units.chunks(per) {
                let codes: Vec<&String> = chunk.iter().map(|(code, _)| code).collect();
                self.push(
                    json!({"type": "commission", "batch": batch, "codes": codes}),
                    chunk.len() as u32,
                    None,
                );
            }
            self.each.commissioned += units.len() as u64;
            for (code, fate) in &units {
                if let Fate::CameraReject(reason) = fate {
                    self.end_unit(None, code, "destroy", reason);
                }
            }
            let packed: Vec<&(String, Fate)> = units
                .iter()
                .filter(|(_, f)| !matches!(f, Fate::CameraReject(_)))
                .collect();
            if packed.is_empty() {
                continue; // only rejects left at the end of the batch: no case for them
            }
            let case = self.label.datamatrix(&s.case_gtin, &self.serials.serial());
            self.push(
                json!({"type": "commission", "batch": batch, "codes": [case]}),
                0,
                None,
            );
            self.expected.cases += 1;
            for chunk in packed.chunks(per) {
                let children: Vec<&String> = chunk.iter().map(|(code, _)| code).collect();
                self.push(
                    json!({"type": "aggregate", "parent": case, "children": children}),
                    0,
                    None,
                );
            }
            for (code, fate) in &packed {
                match fate {
                    Fate::LateReject { event, reason } => {
                        self.end_unit(Some(&case), code, event, reason)
                    }
                    Fate::Sample => self.end_unit(Some(&case), code, "sample", "QA retain sample"),
                    _ => {
                        self.each.aggregated += 1;
                        last_good = Some(code.clone());
                        if self.expected.packed_unit.is_none() {
                            self.expected.packed_unit = Some(key_of(code));
                        }
                    }
                }
            }
            on_pallet.push(case);
            if on_pallet.len() == s.pallet_size as usize {
                self.palletize(&mut on_pallet);
            }
            for _ in fault_after.iter().filter(|&&k| k == c) {
                self.fault(last_good.as_deref());
            }
        }
        self.palletize(&mut on_pallet);
        self.push(json!({"type": "batch_close", "batch": batch}), 0, None);
        self.finish();
    }

    /// Unpacks `code` from `case` (if packed) and ends it with `event`.
    fn end_unit(
        &mut self,
        case: Option<&str>,
        code: &str,
        event: &'static str,
        reason: &'static str,
    ) {
        if let Some(case) = case {
            self.push(
                json!({"type": "disaggregate", "parent": case, "children": [code]}),
                0,
                None,
            );
        }
        self.push(
            json!({"type": event, "codes": [code], "reason": reason}),
            0,
            None,
        );
        match event {
            "destroy" => self.each.destroyed += 1,
            "decommission" => self.each.decommissioned += 1,
            _ => self.each.sampled += 1,
        }
        self.expected.rejects.push((key_of(code), event, reason));
    }

    fn palletize(&mut self, cases: &mut Vec<String>) {
        if cases.is_empty() {
            return;
        }
        let s = self.spec;
        let width = 16 - s.company_prefix.len();
        let reference = self.serials.sscc_reference(width);
        let Some(sscc) = sscc(0, &s.company_prefix, reference) else {
            return; // unreachable: the prefix was checked and the reference fits its width
        };
        let pallet = sscc_label(&sscc);
        self.push(
            json!({"type": "commission", "batch": s.batch, "codes": [pallet]}),
            0,
            None,
        );
        self.expected.pallets += 1;
        for chunk in cases.chunks(s.codes_per_message as usize) {
            self.push(
                json!({"type": "aggregate", "parent": pallet, "children": chunk}),
                0,
                None,
            );
        }
        cases.clear();
    }

    /// The next injected fault, in turn: wrong lot, repeated scan (of `seen`), bad check digit.
    fn fault(&mut self, seen: Option<&str>) {
        let s = self.spec;
        let n = self.expected.refusals.len() % 3;
        let (code, refusal) = match (n, seen) {
            (0, _) => {
                let mut lot = s.lot.clone();
                if lot.len() >= 20 {
                    lot.pop();
                }
                lot.push(if s.lot.ends_with('X') { 'Y' } else { 'X' });
                let other = LabelData {
                    lot,
                    expiry: s.expiry,
                };
                (
                    other.datamatrix(&s.gtin, &self.serials.serial()),
                    "label_mismatch",
                )
            }
            (1, Some(seen)) => (seen.to_string(), "duplicate_scan"),
            _ => {
                let (body, check) = s.gtin.split_at(13);
                let wrong = (check.as_bytes()[0] - b'0' + 1) % 10;
                let gtin = format!("{body}{wrong}");
                (
                    self.label.datamatrix(&gtin, &self.serials.serial()),
                    "invalid_code",
                )
            }
        };
        self.push(
            json!({"type": "commission", "batch": s.batch, "codes": [code]}),
            0,
            Some(refusal),
        );
    }

    fn finish(&mut self) {
        let e = &mut self.expected;
        e.good_units = self.each.aggregated + self.each.unaggregated;
        e.levels.insert(Level::Each, self.each);
        e.levels.insert(
            Level::Pack,
            LevelCounts {
                commissioned: e.cases.into(),
                aggregated: e.cases.into(),
                ..LevelCounts::default()
            },
        );
        if e.pallets > 0 {
            let pallets = LevelCounts {
                commissioned: e.pallets.into(),
                unaggregated: e.pallets.into(),
                ..LevelCounts::default()
            };
            e.levels.insert(Level::Logistic, pallets);
        }
        e.levels.retain(|_, c| c.commissioned > 0);
    }
}

/// After which case (index) each fault goes: spread evenly over the batch.
fn fault_positions(faults: u32, cases: usize) -> Vec<usize> {
    let (f, n) = (faults as usize, cases.max(1));
    (0..f).map(|i| ((i + 1) * n / (f + 1)).min(n - 1)).collect()
}

/// The registry key `(01)…(21)…` / `(00)…` of a scanner string the generator made.
fn key_of(raw: &str) -> String {
    let today = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    gs1::parse_code(raw, today)
        .map(|c| c.id.key())
        .unwrap_or_else(|_| raw.to_string())
}
