//! The benchmarks' packaging line: one batch (by default 1,000,000 units, 100 units per case,
//! 40 cases per pallet) as the messages a line sends, in order, and the windowed submission
//! the MQTT source uses. Shared by the `ingest` and `end_of_batch` benchmarks (each includes it
//! with `#[path]`), so both measure the same batch.

#![allow(dead_code)] // each benchmark uses its own part of the line

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use linegate::gs1::{CompanyPrefixes, check_digit, parse_code};
use linegate::model::{BatchOpen, CodeRecord, LineEvent, LineMessage};
use linegate::store::{Decoded, IngestItem, IngestOutcome, PendingIngest, Store};

pub const DEFAULT_UNITS: usize = 1_000_000;
pub const UNITS_PER_CASE: usize = 100;
pub const CASES_PER_PALLET: usize = 40;
pub const UNITS_PER_PALLET: usize = UNITS_PER_CASE * CASES_PER_PALLET;
/// Submissions in flight; the writer groups up to `store::GROUP_MAX` of them per commit.
pub const WINDOW: usize = 256;

pub const LINE: &str = "L1";
pub const TOPIC: &str = "linegate/lines/L1/events";
pub const BATCH: &str = "B1";
pub const UNIT_GTIN: &str = "00361414567894";
pub const CASE_GTIN: &str = "50361414567899";
pub const COMPANY_PREFIX: &str = "0361414";
pub const LOT: &str = "LOT1";

/// Builds the messages of the batch in the order a line sends them.
pub struct Line {
    prefixes: CompanyPrefixes,
    today: NaiveDate,
    start: DateTime<Utc>,
    sent: u64,
    /// Units per `commission` message (a case's worth by default).
    per_message: usize,
}

impl Line {
    pub fn new() -> Self {
        Line {
            prefixes: CompanyPrefixes::new(vec![COMPANY_PREFIX.into()], None)
                .expect("a valid company prefix"),
            today: NaiveDate::from_ymd_opt(2025, 6, 15).expect("a date"),
            start: Utc
                .with_ymd_and_hms(2025, 6, 15, 6, 0, 0)
                .single()
                .expect("a time"),
            sent: 0,
            per_message: per_message_from_env(),
        }
    }

    /// A code as the decoder makes it (`protocol::code`).
    pub fn code(&self, text: &str) -> CodeRecord {
        let code = parse_code(text, self.today).unwrap_or_else(|e| panic!("{text}: {e}"));
        let epc = self
            .prefixes
            .epc_uri(&code)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        CodeRecord {
            key: code.id.key(),
            epc,
            gtin: code.id.gtin().map(|g| g.as_str().to_string()),
            lot: code.lot.map(|l| l.as_str().to_string()),
            expiry: code.expiry.map(|e| e.date()),
        }
    }

    /// The next message, one millisecond after the previous one.
    pub fn message(&mut self, event: LineEvent) -> IngestItem {
        let time = self.start + chrono::Duration::milliseconds(self.sent as i64);
        let message_id = format!("m{:07}", self.sent);
        self.sent += 1;
        IngestItem {
            topic: TOPIC.into(),
            line: Some(LINE.into()),
            received_at: time,
            payload: Vec::new(),
            decoded: Decoded::Accepted(LineMessage {
                line: LINE.into(),
                message_id,
                time,
                event,
            }),
        }
    }

    pub fn batch_open(&mut self, units: usize) -> IngestItem {
        self.message(LineEvent::BatchOpen(BatchOpen {
            batch: BATCH.into(),
            gtin: UNIT_GTIN.into(),
            pack_gtins: vec![CASE_GTIN.into()],
            lot: LOT.into(),
            expiry: NaiveDate::from_ymd_opt(2028, 6, 30).expect("a date"),
            work_order: None,
            planned_quantity: Some(units as u64),
        }))
    }

    /// Pallet `p`: per case a commission of its units, one of the case and an aggregate; then a
    /// commission of the pallet's SSCC and an aggregate of its cases.
    pub fn pallet(&mut self, p: usize, out: &mut Vec<IngestItem>) {
        let mut cases = Vec::with_capacity(CASES_PER_PALLET);
        for c in p * CASES_PER_PALLET..(p + 1) * CASES_PER_PALLET {
            let units: Vec<CodeRecord> = (c * UNITS_PER_CASE..(c + 1) * UNITS_PER_CASE)
                .map(|u| self.code(&format!("(01){UNIT_GTIN}(21)U{u:07}")))
                .collect();
            let case = self.code(&format!("(01){CASE_GTIN}(21)C{c:05}"));
            for codes in units.chunks(self.per_message) {
                out.push(self.message(LineEvent::Commission {
                    batch: BATCH.into(),
                    codes: codes.to_vec(),
                }));
            }
            out.push(self.message(LineEvent::Commission {
                batch: BATCH.into(),
                codes: vec![case.clone()],
            }));
            out.push(self.message(LineEvent::Aggregate {
                parent: case.clone(),
                children: units,
            }));
            cases.push(case);
        }
        let pallet = self.code(&sscc(p));
        out.push(self.message(LineEvent::Commission {
            batch: BATCH.into(),
            codes: vec![pallet.clone()],
        }));
        out.push(self.message(LineEvent::Aggregate {
            parent: pallet,
            children: cases,
        }));
    }

    pub fn batch_close(&mut self) -> IngestItem {
        self.message(LineEvent::BatchClose {
            batch: BATCH.into(),
        })
    }
}

/// `(00)` + extension digit 1, company prefix 0361414, nine-digit serial reference `p`, and the
/// mod-10 check digit.
pub fn sscc(p: usize) -> String {
    let body = format!("1{COMPANY_PREFIX}{p:09}");
    let check = check_digit(&body).expect("digits");
    format!("(00){body}{check}")
}

/// Unit events of a message: each commissioned identifier and each packed child.
pub fn events(item: &IngestItem) -> usize {
    match &item.decoded {
        Decoded::Accepted(LineMessage {
            event: LineEvent::Commission { codes, .. },
            ..
        }) => codes.len(),
        Decoded::Accepted(LineMessage {
            event: LineEvent::Aggregate { children, .. },
            ..
        }) => children.len(),
        _ => 0,
    }
}

pub fn kind(item: &IngestItem) -> &'static str {
    match &item.decoded {
        Decoded::Accepted(m) => m.event.kind(),
        Decoded::Refused { .. } => "refused",
    }
}

/// Waits for one submission; anything but `Applied` ends the benchmark.
pub async fn settle((what, mut pending): (String, PendingIngest)) {
    match pending.wait().await {
        Ok(IngestOutcome::Applied) => {}
        other => panic!("{what} was not applied: {other:?}"),
    }
}

/// Submits `items` with up to `WINDOW` in flight, waits for all; returns the time taken.
pub async fn feed(store: &Store, items: Vec<IngestItem>) -> Duration {
    let start = Instant::now();
    let mut in_flight: VecDeque<(String, PendingIngest)> = VecDeque::with_capacity(WINDOW);
    for item in items {
        if in_flight.len() == WINDOW {
            settle(in_flight.pop_front().expect("a full window")).await;
        }
        let what = match &item.decoded {
            Decoded::Accepted(m) => format!("{} {}", kind(&item), m.message_id),
            Decoded::Refused { .. } => "a refusal".into(),
        };
        let pending = store.submit_ingest(item).await.expect("the store runs");
        in_flight.push_back((what, pending));
    }
    while let Some(p) = in_flight.pop_front() {
        settle(p).await;
    }
    start.elapsed()
}

pub fn units_from_env() -> usize {
    let units = match std::env::var("LINEGATE_BENCH_UNITS") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("LINEGATE_BENCH_UNITS={v}: {e}")),
        Err(_) => DEFAULT_UNITS,
    };
    assert!(
        units > 0 && units % UNITS_PER_PALLET == 0,
        "LINEGATE_BENCH_UNITS must be a positive multiple of {UNITS_PER_PALLET} (one pallet), not {units}"
    );
    units
}

pub fn per_message_from_env() -> usize {
    match std::env::var("LINEGATE_BENCH_CODES_PER_MESSAGE") {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=UNITS_PER_CASE).contains(n))
            .unwrap_or_else(|| {
                panic!("LINEGATE_BENCH_CODES_PER_MESSAGE={v}: give 1 to {UNITS_PER_CASE}")
            }),
        Err(_) => UNITS_PER_CASE,
    }
}
