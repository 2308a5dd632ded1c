//! The options of `linegate simulate`, as clap reads them.
//!
//! Defaults describe a typical batch: 10,000 units, 100 per case, 20 cases per pallet, three
//! rejects in a thousand, three QA samples, a case's worth of codes per message, as fast as the
//! broker takes them. Batch, lot and serials derive from the seed, so a run with `--seed` is
//! repeatable and a run without one never collides with an earlier batch.

use chrono::NaiveDate;
use clap::Args;

use crate::cli::ConfigArg;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
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
    /// Codes per commission or aggregate message; 1 = one code per message (default: case size)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub codes_per_message: Option<u32>,
    /// Units per second (default: as fast as the broker acknowledges)
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
pub const EXAMPLES: &str = "Publishes one batch through the broker in [mqtt] (QoS 1, waiting for every PUBACK) and prints\n\
a one-line summary. The gateway's own view: `linegate batch show <batch>`.\n\n\
Examples:\n  \
linegate simulate --config /etc/linegate/linegate.toml\n  \
linegate simulate --config ./linegate.toml --units 1000 --case-size 10 --pallet-size 5 --seed 7\n  \
linegate simulate --config ./linegate.toml --codes-per-message 1 --rate 300 --line L2\n  \
linegate simulate --config ./linegate.toml --faults 3 --reject-rate 0.01 --json --quiet";
