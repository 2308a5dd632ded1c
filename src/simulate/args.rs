//! The options of `linegate simulate`, as clap reads them.
//!
//! Defaults describe a typical batch: 10,000 units, 100 per case, 20 cases per pallet, three
//! rejects in a thousand, three QA samples, a case's worth of codes per message, as fast as the
//! broker takes them, over MQTT. Batch, lot and serials derive from the seed, so a run with
//! `--seed` is repeatable and a run without one never collides with an earlier batch.

use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use crate::cli::ConfigArg;

/// How the simulated line reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// A line controller publishing to the broker in [mqtt] (QoS 1, persistent session)
    Mqtt,
    /// The line's [[scanner]] stations: virtual scanners on ptys behind their `device` paths
    Serial,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// mqtt: publish to the broker; serial: be the line's scanners (ptys behind their devices)
    #[arg(long, value_enum, default_value_t = Transport::Mqtt)]
    pub transport: Transport,
    /// MQTT client id, kept for the whole run (default: <mqtt.client_id>-sim-<line>-<pid>)
    #[arg(long)]
    pub client_id: Option<String>,
    /// The line to play (default: the first [[line]] of the configuration)
    #[arg(long)]
    pub line: Option<String>,
    /// Batch id (default: SIM-<seed>)
    #[arg(long)]
    pub batch: Option<String>,
    /// Saleable units to commission
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub units: u32,
    /// Units per case
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub case_size: u32,
    /// Cases per pallet
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pallet_size: u32,
    /// Codes per commission or aggregate message; 1 = one code per message (default: case size;
    /// scanners always read one code at a time)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub codes_per_message: Option<u32>,
    /// Units per second (default: as fast as the broker acknowledges or the stations commit)
    #[arg(long)]
    pub rate: Option<f64>,
    /// Random seed: the same seed plays the same batch (default: random)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of units rejected (destroyed or decommissioned), 0 to 0.5
    #[arg(long, default_value_t = 0.003)]
    pub reject_rate: f64,
    /// QA samples pulled from packed cases
    #[arg(long, default_value_t = 3)]
    pub samples: u32,
    /// Faulty messages the gateway must refuse (wrong lot, repeated scan, bad check digit)
    #[arg(long, default_value_t = 0)]
    pub faults: u32,
    /// Saleable unit GTIN-14
    #[arg(long, default_value = "00361414567894")]
    pub gtin: String,
    /// Case GTIN-14 (sent in the batch's pack_gtins)
    #[arg(long, default_value = "50361414567899")]
    pub case_gtin: String,
    /// Lot number (default: the batch id, up to 20 characters)
    #[arg(long)]
    pub lot: Option<String>,
    /// Expiry date YYYY-MM-DD (default: the end of the month two years from now)
    #[arg(long)]
    pub expiry: Option<NaiveDate>,
    /// No progress bar
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

/// The help text's examples.
pub const EXAMPLES: &str = "Plays one batch against the running gateway and prints a one-line summary. The gateway's own\n\
view: `linegate batch show <batch>`.\n\n\
--transport mqtt (default) publishes through the broker in [mqtt] with QoS 1 and waits for every PUBACK;\n\
when the broker goes away it connects again (same client id, persistent session) and sends again\n\
what had no PUBACK.\n\n\
--transport serial is the line's [[scanner]] stations: for each it opens a pty, points the scanner's\n\
`device` path at it (never a path under /dev or a real port: use a test configuration with e.g.\n\
device = \"/run/linegate-sim/packer\") and writes each code as the scanner would (]d2 DataMatrix\n\
strings with GS separators, in the station's framing): units at the commission station, cases and\n\
pallets with their children at the aggregate stations, rejects and samples at theirs. The batch's\n\
open and close — and whatever the line has no station for — go through the store, as `linegate\n\
batch close` does: run it on the gateway's machine as the gateway's user. docs/scanners.md has more.\n\n\
Examples:\n  \
linegate simulate --config /etc/linegate/linegate.toml\n  \
linegate simulate --config ./linegate.toml --units 1000 --case-size 10 --pallet-size 5 --seed 7\n  \
linegate simulate --config ./linegate.toml --codes-per-message 1 --rate 300 --line L2\n  \
linegate simulate --config ./linegate.toml --faults 3 --reject-rate 0.01 --json --quiet\n  \
linegate simulate --config ./linegate-sim.toml --transport serial --units 2000 --case-size 50 --rate 20\n  \
linegate simulate --config ./linegate.toml --client-id plc-L1-test --units 50000";
