//! `linegate simulate`: a realistic packaging line played against a running gateway.
//!
//! Split in two on purpose. `plan` (with `fates` and `codes`) is pure and deterministic: from a
//! seeded `LineSpec` (`spec`) it produces every protocol-v1 message of one batch — batch_open with its
//! pack GTINs, units as real DataMatrix scanner strings, cases and pallets commissioned and
//! packed, rejects and samples unpacked and ended, injected faults, batch_close — and the counts
//! the batch must reconcile to. Two transports play it. `mqtt` publishes the messages with QoS 1
//! through the broker the gateway's configuration names, paced and with a progress bar, and
//! waits for every PUBACK — through broker restarts, on a persistent session, recording which
//! message ids the broker acknowledged. `serial` plays the line's scanner stations: virtual
//! scanners on pty pairs behind the `[[scanner]]` device links, each reading what `stations`
//! (pure) routes to it, the batch's open and close through the store. `command` is the CLI
//! glue, `summary` the result it prints. The demo (`linegate demo`) drives the same plan over
//! MQTT.

pub mod args;
mod codes;
mod command;
mod fates;
pub mod mqtt;
mod plan;
pub mod serial;
mod spec;
pub mod stations;
mod summary;

#[cfg(test)]
mod plan_tests;

pub use args::SimulateArgs;
pub use codes::{LabelData, sscc, sscc_label};
pub use command::{command, progress_bar, spec_from};
pub use plan::{Expected, LineSpec, Plan, SimMessage, SpecError, generate};
pub use summary::{Delivered, Summary};

use std::path::PathBuf;

use crate::store::StoreError;

/// Why a simulation could not play its messages (the I/O boundary of the simulator).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("no MQTT connection to {broker} within {secs} s: {last_error}")]
    Connect {
        broker: String,
        secs: u64,
        last_error: String,
    },
    #[error(
        "lost the MQTT broker {broker} for {secs} s after {acked} of {total} messages were acknowledged: {last_error}"
    )]
    Lost {
        broker: String,
        secs: u64,
        acked: usize,
        total: usize,
        last_error: String,
    },
    #[error("the plan cannot be simulated: {0}")]
    Spec(#[from] SpecError),
    #[error("line {line} cannot play this batch on its scanners: {problem}")]
    Stations { line: String, problem: String },
    #[error("scanner {scanner}: device {} {why}", device.display())]
    Device {
        scanner: String,
        device: PathBuf,
        why: String,
    },
    #[error(
        "scanner {scanner} committed {committed} of the {sent} messages it was sent and nothing more for {secs} s: is `linegate run` running with this configuration, and does it read {}?",
        device.display()
    )]
    Stalled {
        scanner: String,
        device: PathBuf,
        committed: u64,
        sent: u64,
        secs: u64,
    },
    #[error("the gateway refused {id}: {reason}")]
    Refused { id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}
