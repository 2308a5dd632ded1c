//! The command line: subcommands, their help texts, and the operator views they print.
//!
//! Every subcommand takes `--config FILE` after its name (default /etc/linegate/linegate.toml),
//! so `linegate run --config x.toml` and `linegate outbox list --config x.toml` read the same
//! file the same way. Views print a human table, or JSON with `--json` for scripts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::DEFAULT_PATH;
use crate::store::{OutboxRow, QuarantineRow};

mod ledger_views;
pub use ledger_views::{batch_table, batch_text, serial_text};

#[derive(Debug, Parser)]
#[command(
    name = "linegate",
    version,
    about = "Edge gateway for pharmaceutical packaging lines: line events in, GS1 EPCIS upstream",
    after_help = "Examples:\n  linegate validate --config /etc/linegate/linegate.toml\n  linegate run --config /etc/linegate/linegate.toml\n  linegate batch show B2026-0042 --config /etc/linegate/linegate.toml\n  linegate outbox list --config /etc/linegate/linegate.toml --json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The configuration file
    #[arg(long, short = 'c', value_name = "FILE", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CodeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print one JSON object per input line instead of a table
    #[arg(long)]
    pub json: bool,
    /// Codes to read; none = read standard input, one code per line
    pub codes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway daemon (systemd starts this)
    #[command(
        after_help = "Examples:\n  linegate run --config /etc/linegate/linegate.toml\n  RUST_LOG=linegate=debug linegate run --config ./linegate.toml"
    )]
    Run(ConfigArg),
    /// Check a configuration file and list every problem in it
    #[command(
        after_help = "Exits 0 when the file is valid, 1 otherwise.\n\nExamples:\n  linegate validate --config /etc/linegate/linegate.toml"
    )]
    Validate(ConfigArg),
    /// Show what linegate reads in GS1 codes: elements, EPC URI or the error
    #[command(
        after_help = "Reads the codes given as arguments or, without arguments, one per line from standard input\n(raw scanner bytes, GS separators included). Exits 1 if any code is invalid.\n\nExamples:\n  linegate code '(01)00361414567894(21)ABC123(17)280630(10)LOT42'\n  linegate code 'https://id.example.com/01/00361414567894/21/ABC123?17=280630&10=LOT42'\n  linegate code --json 'urn:epc:id:sscc:0361414.0500000001'\n  cat /dev/ttyUSB0 | linegate code --json"
    )]
    Code(CodeArgs),
    /// Documents waiting for or done with delivery upstream
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Messages refused by the gateway, with the reason
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Batches: list, reconciliation report, close, QA release, cancel
    #[command(subcommand)]
    Batch(BatchCommand),
    /// One serial number: state, history and the cases and pallets it is packed in
    #[command(subcommand)]
    Serial(SerialCommand),
    /// Play a realistic packaging line (one batch) against a running gateway, over MQTT or as its scanner stations
    #[command(after_help = crate::simulate::args::EXAMPLES)]
    Simulate(crate::simulate::SimulateArgs),
    /// The main job end to end: embedded broker, simulated line, gateway, local upstream
    #[command(after_help = crate::demo::EXAMPLES)]
    Demo(crate::demo::DemoArgs),
    /// Write a batch's End of Batch (EPCIS 1.2, 2.0 JSON-LD or 2.0 XML) to a file or stdout
    #[command(after_help = crate::export::EXAMPLES)]
    Export(crate::export::ExportArgs),
    /// Record a shipment leaving the site (as the warehouse's `ship` message does)
    #[command(after_help = crate::ship_cli::EXAMPLES)]
    Ship(crate::ship_cli::ShipArgs),
    /// Load tools: a backlog of real documents in the outbox, to see how fast it drains
    #[command(subcommand)]
    Bench(crate::bench_cli::BenchCommand),
    /// The tamper-evident audit trail: check the chain, export it, list the newest rows
    #[command(subcommand)]
    Audit(crate::audit_cli::AuditCommand),
}

#[derive(Debug, Args)]
pub struct BatchArg {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// The batch id
    pub batch: String,
}

/// A supervisor's decision on a batch: the batch and the reason, which the audit trail keeps.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    #[command(flatten)]
    pub batch: BatchArg,
    /// Why (kept in the audit trail with your user name), e.g. 'end of shift, 4 cases short'
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// List every batch with its state and document
    #[command(
        after_help = "Examples:\n  linegate batch list --config /etc/linegate/linegate.toml\n  linegate batch list --config /etc/linegate/linegate.toml --json"
    )]
    List(ViewArgs),
    /// Show one batch and its reconciliation report (counts per level, yield, inconsistencies)
    #[command(
        after_help = "An open or running batch shows the report as it would be if it closed now.\n\nExamples:\n  linegate batch show B2026-0042 --config /etc/linegate/linegate.toml\n  linegate batch show B2026-0042 --config /etc/linegate/linegate.toml --json"
    )]
    Show(BatchArg),
    /// Close an open or running batch (as the line's batch_close does); its document is sent
    #[command(
        after_help = "The same rules as a batch_close from the line apply (see `linegate batch show`).\nExits 1 with the reason when the batch cannot be closed. --reason is required (audit trail).\n\nExamples:\n  linegate batch close B2026-0042 --reason 'end of shift, 4 cases short' --config /etc/linegate/linegate.toml"
    )]
    Close(DecisionArgs),
    /// QA release of a closed batch
    #[command(
        after_help = "--reason is required (audit trail).\n\nExamples:\n  linegate batch release B2026-0042 --reason 'QA release, deviation DEV-118 closed' --config /etc/linegate/linegate.toml"
    )]
    Release(DecisionArgs),
    /// Cancel an open or running batch: its units are decommissioned, no document is sent
    #[command(
        after_help = "The reason is kept in every unit's history and in the audit trail.\n\nExamples:\n  linegate batch cancel B2026-0042 --reason 'wrong lot set up' --config /etc/linegate/linegate.toml"
    )]
    Cancel(DecisionArgs),
}

#[derive(Debug, Args)]
pub struct SerialArg {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// The code, in any form a scanner or PLC sends (element string, Digital Link, EPC URI)
    pub code: String,
}

#[derive(Debug, Subcommand)]
pub enum SerialCommand {
    /// Show a serial's state, history and parent chain
    #[command(
        after_help = "Examples:\n  linegate serial show '(01)00361414567894(21)X7F3K9' --config /etc/linegate/linegate.toml\n  linegate serial show urn:epc:id:sscc:0361414.0500000001 --config /etc/linegate/linegate.toml --json"
    )]
    Show(SerialArg),
}

/// `linegate outbox …` (`outbox_cli`).
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List deliveries (document × upstream): dead letters and waiting ones first
    #[command(after_help = crate::outbox_cli::LIST_HELP)]
    List(crate::outbox_cli::ListArgs),
    /// Show one document: its file, size and every delivery of it
    #[command(after_help = crate::outbox_cli::SHOW_HELP)]
    Show(crate::outbox_cli::ShowArgs),
    /// Send a dead letter (or a waiting document) again now
    #[command(after_help = crate::outbox_cli::RETRY_HELP)]
    Retry(crate::outbox_cli::ActionArgs),
    /// Send a delivered document again, with the same id and bytes
    #[command(after_help = crate::outbox_cli::REPLAY_HELP)]
    Replay(crate::outbox_cli::ActionArgs),
    /// Give up on a pending document: it becomes a dead letter
    #[command(after_help = crate::outbox_cli::REJECT_HELP)]
    Reject(crate::outbox_cli::ActionArgs),
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined messages with the reason each was refused
    #[command(
        after_help = "Examples:\n  linegate quarantine list --config /etc/linegate/linegate.toml\n  linegate quarantine list --config /etc/linegate/linegate.toml --json"
    )]
    List(ViewArgs),
}

/// Renders rows as an aligned text table.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

/// Deliveries as a table (`outbox_cli::list_table`).
pub fn outbox_table(rows: &[OutboxRow]) -> String {
    if rows.is_empty() {
        return "The outbox is empty: no document has been assembled yet.".into();
    }
    crate::outbox_cli::list_table(rows)
}

pub fn quarantine_table(rows: &[QuarantineRow]) -> String {
    if rows.is_empty() {
        return "The quarantine is empty: no message has been refused.".into();
    }
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.received_at.clone(),
                r.line.clone().unwrap_or_else(|| "-".into()),
                r.message_id.clone().unwrap_or_else(|| "-".into()),
                r.code.clone(),
                r.reason.chars().take(80).collect(),
            ]
        })
        .collect();
    table(
        &["ID", "RECEIVED", "LINE", "MESSAGE", "CODE", "REASON"],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_comes_after_every_subcommand() {
        for args in [
            vec!["linegate", "run", "--config", "x.toml"],
            vec!["linegate", "validate", "--config", "x.toml"],
            vec!["linegate", "outbox", "list", "--config", "x.toml", "--json"],
            vec![
                "linegate", "outbox", "list", "--state", "rejected", "--limit", "5", "-c", "x.toml",
            ],
            vec!["linegate", "outbox", "show", "D1", "--config", "x.toml"],
            vec![
                "linegate", "outbox", "retry", "D1", "--reason", "r", "--config", "x.toml",
            ],
            vec![
                "linegate",
                "outbox",
                "replay",
                "D1",
                "--upstream",
                "mah",
                "--reason",
                "r",
                "--config",
                "x.toml",
            ],
            vec![
                "linegate", "outbox", "reject", "D1", "--config", "x.toml", "--reason", "r",
            ],
            vec!["linegate", "quarantine", "list", "-c", "x.toml"],
            vec!["linegate", "batch", "list", "--config", "x.toml"],
            vec![
                "linegate", "batch", "show", "B1", "--config", "x.toml", "--json",
            ],
            vec![
                "linegate", "batch", "close", "B1", "--config", "x.toml", "--reason", "r",
            ],
            vec![
                "linegate", "batch", "release", "B1", "--config", "x.toml", "--reason", "r",
            ],
            vec![
                "linegate", "audit", "verify", "--config", "x.toml", "--json",
            ],
            vec![
                "linegate",
                "audit",
                "export",
                "--config",
                "x.toml",
                "--from",
                "2026-03-01",
            ],
            vec![
                "linegate", "audit", "list", "--config", "x.toml", "--limit", "5",
            ],
            vec![
                "linegate",
                "export",
                "B1",
                "--format",
                "epcis-1.2",
                "--config",
                "x.toml",
            ],
            vec![
                "linegate", "batch", "cancel", "B1", "--config", "x.toml", "--reason", "r",
            ],
            vec![
                "linegate",
                "serial",
                "show",
                "(00)003614145000000013",
                "--config",
                "x.toml",
            ],
            vec![
                "linegate",
                "code",
                "--config",
                "x.toml",
                "(00)003614145000000013",
            ],
            vec![
                "linegate", "simulate", "--config", "x.toml", "--units", "10",
            ],
            vec![
                "linegate",
                "ship",
                "DLV-1",
                "--line",
                "L1",
                "--kind",
                "sale",
                "--to-party",
                "0614141000005",
                "--to-location",
                "0614141000005",
                "--reason",
                "r",
                "(00)003614145000000013",
                "--config",
                "x.toml",
            ],
            vec![
                "linegate", "bench", "backlog", "--events", "10", "--config", "x.toml",
            ],
        ] {
            let cli = Cli::try_parse_from(&args).expect("parses");
            let path = match cli.command {
                Command::Run(c) | Command::Validate(c) => c.config,
                Command::Code(c) => c.config.config,
                Command::Outbox(o) => o.config().to_path_buf(),
                Command::Quarantine(QuarantineCommand::List(v))
                | Command::Batch(BatchCommand::List(v)) => v.config.config,
                Command::Batch(BatchCommand::Show(b)) => b.config.config,
                Command::Batch(
                    BatchCommand::Close(d) | BatchCommand::Release(d) | BatchCommand::Cancel(d),
                ) => d.batch.config.config,
                Command::Audit(crate::audit_cli::AuditCommand::Verify(a)) => a.config.config,
                Command::Audit(crate::audit_cli::AuditCommand::Export(a)) => a.config.config,
                Command::Audit(crate::audit_cli::AuditCommand::List(a)) => a.config.config,
                Command::Serial(SerialCommand::Show(s)) => s.config.config,
                Command::Simulate(s) => s.config.config,
                Command::Export(e) => e.config.config,
                Command::Ship(s) => s.config.config,
                Command::Bench(crate::bench_cli::BenchCommand::Backlog(b)) => b.config.config,
                Command::Demo(_) => unreachable!("the demo builds its own configuration"),
            };
            assert_eq!(path, PathBuf::from("x.toml"), "{args:?}");
        }
    }

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "LONGER"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1");
    }
}
