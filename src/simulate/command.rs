//! `linegate simulate` from the command line: options and configuration → spec → plan → MQTT
//! or the line's scanner stations.
//!
//! CLI glue (and so allowed `anyhow`): it fills in the defaults that need the configuration or
//! the clock — the line, the company prefix of the pallet SSCCs (the GTIN's, as the gateway's
//! `gs1` settings read it), the seed, the expiry, the MQTT client id — then plays the plan with a
//! progress bar on stderr and prints the summary on stdout. Over serial, the summary reports what
//! the batch must look like as the line's stations make it (`stations::route`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{Datelike, Months, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{SimulateArgs, Transport};
use super::mqtt::{self, Target};
use super::plan::{LineSpec, Plan, generate};
use super::serial;
use super::summary::Summary;
use crate::config::{self, Config};
use crate::gs1;

pub fn command(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = config::load(&args.config.config)?;
    let spec = spec_from(&args, &config, Utc::now().date_naive())?;
    let mut plan = generate(&spec)?;
    let progress = progress_bar(plan.messages.len() as u64, args.quiet);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let delivered = match args.transport {
        Transport::Mqtt => {
            let mut target = Target::from_config(&config, &spec.line);
            if let Some(id) = &args.client_id {
                target.client_id = id.clone();
            }
            runtime.block_on(mqtt::play(&target, &plan.messages, args.rate, &progress))?
        }
        Transport::Serial => {
            let play = serial::play(&config, &spec.line, &plan, args.rate, &progress);
            let (delivered, expected) = runtime.block_on(play)?;
            // The stations' own doing where it differs from the plan (a reject bin's action).
            plan = Plan { expected, ..plan };
            delivered
        }
    };
    progress.finish_and_clear();
    let summary = Summary::new(&spec, &plan, &delivered);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.text());
    }
    Ok(ExitCode::SUCCESS)
}

/// The spec the options describe, with defaults from the configuration and `today`.
pub fn spec_from(
    args: &SimulateArgs,
    config: &Config,
    today: NaiveDate,
) -> anyhow::Result<LineSpec> {
    let known: Vec<&str> = config.lines.iter().map(|l| l.id.as_str()).collect();
    let line = match &args.line {
        Some(l) if known.contains(&l.as_str()) => l.clone(),
        Some(l) => bail!(
            "line '{l}' is not configured; configured lines: {}",
            known.join(", ")
        ),
        None => known
            .first()
            .context("the configuration has no [[line]]")?
            .to_string(),
    };
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..1_000_000_000));
    let batch = args.batch.clone().unwrap_or_else(|| format!("SIM-{seed}"));
    let lot = match &args.lot {
        Some(l) => l.clone(),
        None => {
            let skip = batch.chars().count().saturating_sub(20);
            batch.chars().skip(skip).collect()
        }
    };
    let expiry = args.expiry.unwrap_or_else(|| end_of_month(today, 24));
    let company_prefix = company_prefix(config, &args.gtin, today)?;
    Ok(LineSpec {
        line,
        batch,
        gtin: args.gtin.clone(),
        case_gtin: args.case_gtin.clone(),
        company_prefix,
        lot,
        expiry,
        units: args.units,
        case_size: args.case_size,
        pallet_size: args.pallet_size,
        reject_rate: args.reject_rate,
        samples: args.samples,
        faults: args.faults,
        codes_per_message: args.codes_per_message.unwrap_or(args.case_size),
        seed,
    })
}

/// The GTIN's company prefix as the gateway will read it (configured prefixes, then GS1's table).
fn company_prefix(config: &Config, gtin: &str, today: NaiveDate) -> anyhow::Result<String> {
    let code = gs1::parse_code(&format!("(01){gtin}(21)0"), today)
        .with_context(|| format!("--gtin {gtin}"))?;
    let len = config
        .prefixes
        .len_for(&code.id)
        .with_context(|| format!("--gtin {gtin}"))?;
    Ok(code.id.key()[5..5 + len].to_string())
}

/// The last day of the month `months` after `today`'s.
fn end_of_month(today: NaiveDate, months: u32) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first
        .checked_add_months(Months::new(months + 1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(today)
}

/// A progress bar over `len` messages on stderr (hidden when `quiet` or stderr is no terminal).
pub fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} messages {msg} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_defaults_to_the_end_of_a_month() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(end_of_month(d(2026, 1, 31), 24), d(2028, 1, 31));
        assert_eq!(end_of_month(d(2026, 12, 5), 2), d(2027, 2, 28));
    }
}
