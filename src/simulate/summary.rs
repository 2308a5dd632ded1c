//! What a simulation did, as one line for people and one JSON object for scripts.
//!
//! The counts are the line's own (from the plan), so a script can compare them with the
//! gateway's reconciliation (`linegate batch show --json`); the rates are measured from the
//! first message handed to the broker to the last PUBACK.

use std::collections::BTreeMap;

use serde::Serialize;

use super::mqtt::Delivered;
use super::plan::{LineSpec, Plan};
use crate::rules::reconcile::{Level, LevelCounts};

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
}

impl Summary {
    pub fn new(spec: &LineSpec, plan: &Plan, delivered: &Delivered) -> Summary {
        let e = &plan.expected;
        let each = e.levels.get(&Level::Each).copied().unwrap_or_default();
        let secs = delivered.elapsed.as_secs_f64().max(1e-6);
        Summary {
            transport: "mqtt",
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
        }
    }

    /// The one-line summary.
    pub fn text(&self) -> String {
        let faults = match self.faults {
            0 => String::new(),
            n => format!(", {n} faulty message(s)"),
        };
        format!(
            "batch {} on line {} (seed {}): {} units, {} case(s), {} pallet(s), {} destroyed, {} decommissioned, {} sampled{faults}; \
             {} events in {:.2} s = {:.0} events/s ({:.0} units/s), all acknowledged by the broker",
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
