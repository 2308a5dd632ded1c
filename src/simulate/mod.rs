//! `linegate simulate`: a realistic packaging line played against a running gateway.
//!
//! Split in two on purpose. `plan` (with `fates` and `codes`) is pure and deterministic: from a
//! seeded `LineSpec` (`spec`) it produces every protocol-v1 message of one batch — batch_open with its
//! pack GTINs, units as real DataMatrix scanner strings, cases and pallets commissioned and
//! packed, rejects and samples unpacked and ended, injected faults, batch_close — and the counts
//! the batch must reconcile to. `mqtt` is the transport: it publishes those messages with QoS 1
//! through the broker the gateway's configuration names, paced and with a progress bar, and
//! waits for every PUBACK. `command` is the CLI glue, `summary` the result it prints. The demo
//! (`linegate demo`) drives the same plan and transport.
//!
//! Serial scanner stations (writing the codes to pty masters or configured devices) are not
//! simulated yet: they come with the serial sources.

pub mod args;
mod codes;
mod command;
mod fates;
pub mod mqtt;
mod plan;
mod spec;
mod summary;

#[cfg(test)]
mod plan_tests;

pub use args::SimulateArgs;
pub use codes::{LabelData, sscc, sscc_label};
pub use command::{command, progress_bar, spec_from};
pub use plan::{Expected, LineSpec, Plan, SimMessage, SpecError, generate};
pub use summary::Summary;

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
        "lost the MQTT broker {broker} after {acked} of {total} messages were acknowledged: {source}"
    )]
    Lost {
        broker: String,
        acked: usize,
        total: usize,
        source: rumqttc::ConnectionError,
    },
    #[error("the plan cannot be simulated: {0}")]
    Spec(#[from] SpecError),
}
