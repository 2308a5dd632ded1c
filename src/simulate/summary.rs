//! What a simulation did, as one line for people and one JSON object for scripts.
//!
//! The counts are the line's own (from the plan), so a script can compare them with the
//! gateway's reconciliation (`linegate batch show --json`); the rates are measured from the
//! first message handed over to the last one acknowledged — by the broker (MQTT), or committed
//! by the gateway (serial: the scanner stations' messages and the batch's own, through the store).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::plan::{LineSpec, Plan};
use crate::rules::reconcile::{Level, LevelCounts};

/// What a transport delivered, and how long it took from the first message.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// `mqtt` or `serial`.
    pub transport: &'static str,
    pub messages: usize,
    pub units: u64,
    pub elapsed: Duration,
    /// MQTT: the ids of the messages the broker acknowledged, in PUBACK order, each once.
    pub acked: Vec<String>,
    /// MQTT: connections lost and made again during the run.
    pub reconnects: u32,
    /// Serial: reads (frames) written to the scanner stations.
    pub reads: u64,
    /// Serial: plan messages no station can send (batch open and close, …), through the store.
    pub via_store: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub transport: &'static str,
    pub line: String,
    pub batch: String,
    pub seed: u64,
    /// Messages published and acknowledged by the broker.
    pub messages: usize,
    pub units: u64,
    pub cases: u32,
    pub pallets: u32,
    pub destroyed: u64,
    pub decommissioned: u64,
    pub sampled: u64,
    /// Faulty messages sent on purpose, which the gateway must refuse.
    pub faults: usize,
    /// What the gateway's reconciliation must report for this batch.
    pub levels: BTreeMap<Level, LevelCounts>,
    pub good_units: u64,
    pub elapsed_secs: f64,
    pub events_per_sec: f64,
    pub units_per_sec: f64,
    /// MQTT: connections lost and made again (every unacknowledged message was sent again).
    pub reconnects: u32,
    /// Serial: frames written to the scanners, and messages sent through the store instead.
    pub scanner_reads: u64,
    pub via_store: usize,
}

impl Summary {
    pub fn new(spec: &LineSpec, plan: &Plan, delivered: &Delivered) -> Summary {
        let e = &plan.expected;
        let each = e.levels.get(&Level::Each).copied().unwrap_or_default();
        let secs = delivered.elapsed.as_secs_f64().max(1e-6);
        Summary {
            transport: delivered.transport,
            line: spec.line.clone(),
            batch: spec.batch.clone(),
            seed: spec.seed,
            messages: delivered.messages,
            units: delivered.units,
            cases: e.cases,
            pallets: e.pallets,
            destroyed: each.destroyed,
            decommissioned: each.decommissioned,
            sampled: each.sampled,
            faults: e.refusals.len(),
            levels: e.levels.clone(),
            good_units: e.good_units,
            elapsed_secs: round2(secs),
            events_per_sec: round2(delivered.messages as f64 / secs),
            units_per_sec: round2(delivered.units as f64 / secs),
            reconnects: delivered.reconnects,
            scanner_reads: delivered.reads,
            via_store: delivered.via_store,
        }
    }

    /// The one-line summary.
    pub fn text(&self) -> String {
        let faults = match self.faults {
            0 => String::new(),
            n => format!(", {n} faulty message(s)"),
        };
        let how = match self.transport {
            "serial" => format!(
                "{} scanner reads ({} message(s) through the store), all committed by the gateway",
                self.scanner_reads, self.via_store
            ),
            _ if self.reconnects > 0 => format!(
                "all acknowledged by the broker ({} reconnect(s))",
                self.reconnects
            ),
            _ => "all acknowledged by the broker".to_string(),
        };
        format!(
            "batch {} on line {} (seed {}): {} units, {} case(s), {} pallet(s), {} destroyed, {} decommissioned, {} sampled{faults}; \
             {} events in {:.2} s = {:.0} events/s ({:.0} units/s), {how}",
            self.batch,
            self.line,
            self.seed,
            self.units,
            self.cases,
            self.pallets,
            self.destroyed,
            self.decommissioned,
            self.sampled,
            self.messages,
            self.elapsed_secs,
            self.events_per_sec,
            self.units_per_sec,
        )
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
