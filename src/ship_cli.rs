//! `linegate ship SHIPMENT`: a shipment recorded from the command line, for a site whose
//! warehouse system does not publish `ship` messages itself (or to ship by hand).
//!
//! It builds the very `ship` message a warehouse would publish (docs/mqtt-protocol-v1.md),
//! decodes it with the protocol's decoder — so codes, GLNs and document numbers are read and
//! refused exactly as over MQTT — and submits it through the store's writer and the line rules
//! in one transaction, as `linegate batch close` does (`supervise`), under a message id that
//! names the operating-system user (`cli-<user>-<uuid>`). The daemon may be running: SQLite
//! serialises the two writers, and its assembler sends the shipment's documents on its next
//! round. It prints what left — the top-level identifiers and how many identifiers in all — or
//! the refusal, with its code, and exits 1 then. `--reason` is required: it goes to the audit
//! trail with the user, in the transaction that records the shipment (`Store::ingest_by`).

use std::process::ExitCode;

use chrono::Utc;
use clap::Args;
use serde_json::{Value, json};

use crate::cli::ConfigArg;
use crate::config::{self, Config, ConfigError};
use crate::protocol::{self, DecodeContext};
use crate::store::{
    Decoded, IngestItem, IngestOutcome, Operator, ReadOnlyStore, ShipmentSummary, Store, StoreError,
};

pub const EXAMPLES: &str = "Examples:
  linegate ship DLV-5521 --line L1 --kind sale --to-party 0614141000005 \\
      --to-location urn:epc:id:sgln:0614141.00020.0 --po PO-7781 --reason 'WMS down, order 7781' \\
      '(00)003614145000000013'
  linegate ship TRF-0042 --line L1 --kind transfer --to-party 0361414000001 \\
      --to-location 0361414000025 --reason 'transfer to DC North, ticket 42' \\
      '(00)003614145000000020' 'urn:epc:id:sgtin:0361414.056789.X7F3KA' --json

Each CODE is a top-level identifier (a pallet, a loose case or unit, in any code form);
everything packed in it leaves with it. Exits 1 with the reason when the shipment is refused.";

#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The shipment (despatch-advice) number; a site uses each once
    pub shipment: String,
    /// The line whose batches the goods are of
    #[arg(long, value_name = "LINE")]
    pub line: String,
    /// sale (ownership passes to the buyer) or transfer (to another site of the owner)
    #[arg(long, value_name = "KIND", value_parser = ["sale", "transfer"])]
    pub kind: String,
    /// GLN of the owning party the goods go to
    #[arg(long, value_name = "GLN")]
    pub to_party: String,
    /// Where they go: a GLN or an SGLN URI
    #[arg(long, value_name = "GLN|SGLN")]
    pub to_location: String,
    /// The buyer's purchase order
    #[arg(long, value_name = "PO")]
    pub po: Option<String>,
    /// GLN of the owning party that ships (default: the site)
    #[arg(long, value_name = "GLN")]
    pub from_party: Option<String>,
    /// Where they leave from: a GLN or an SGLN URI (default: the site)
    #[arg(long, value_name = "GLN|SGLN")]
    pub from_location: Option<String>,
    /// Why this shipment is recorded by hand (kept in the audit trail), e.g. 'WMS down, order 7781'
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// The top-level identifiers shipped
    #[arg(required = true, value_name = "CODE")]
    pub codes: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("line {0} is not configured (no [[line]] with this id)")]
    UnknownLine(String),
    #[error("shipment {0} was applied but cannot be read back")]
    Missing(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The `ship` message these arguments stand for, as a warehouse would publish it.
pub fn message(args: &ShipArgs, id: &str) -> Value {
    let mut m = json!({
        "id": id, "type": "ship", "shipment": args.shipment, "kind": args.kind,
        "codes": args.codes, "to_party": args.to_party, "to_location": args.to_location,
    });
    for (key, value) in [
        ("po", &args.po),
        ("from_party", &args.from_party),
        ("from_location", &args.from_location),
    ] {
        if let Some(v) = value {
            m[key] = json!(v);
        }
    }
    m
}

/// What came of the submission.
#[derive(Debug)]
pub enum Shipped {
    Applied(ShipmentSummary),
    Refused { code: String, reason: String },
}

/// Decodes and submits the shipment; the outcome once committed.
pub async fn ship(config: &Config, args: &ShipArgs) -> Result<Shipped, ShipError> {
    if !config.lines.iter().any(|l| l.id == args.line) {
        return Err(ShipError::UnknownLine(args.line.clone()));
    }
    let user = crate::supervise::os_user();
    let id = format!("cli-{user}-{}", uuid::Uuid::new_v4());
    let payload = message(args, &id).to_string().into_bytes();
    let now = Utc::now();
    let ctx = DecodeContext {
        line: &args.line,
        received_at: now,
        max_payload_bytes: config.mqtt.max_payload_bytes,
        prefixes: &config.prefixes,
    };
    let msg = match protocol::decode(&payload, &ctx) {
        Ok(m) => m,
        Err(r) => {
            return Ok(Shipped::Refused {
                code: r.rejection.code.as_str().into(),
                reason: r.rejection.reason,
            });
        }
    };
    let item = IngestItem {
        topic: "cli".into(),
        line: Some(args.line.clone()),
        received_at: now,
        payload,
        decoded: Decoded::Accepted(msg),
    };
    let data_dir = &config.gateway.data_dir;
    let (store, thread) = Store::open(data_dir, config.rules_policy())?;
    let operator = Operator {
        actor: format!("cli-{user}"),
        reason: args.reason.clone(),
    };
    let outcome = store.ingest_by(item, operator).await;
    drop(store);
    thread.join();
    match outcome? {
        IngestOutcome::Applied | IngestOutcome::Duplicate { earlier: None } => {
            let summary = ReadOnlyStore::open(data_dir)?.shipment(&args.shipment)?;
            Ok(Shipped::Applied(summary.ok_or_else(|| {
                ShipError::Missing(args.shipment.clone())
            })?))
        }
        IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => {
            Ok(Shipped::Refused {
                code: r.code.as_str().into(),
                reason: r.reason,
            })
        }
    }
}

/// `linegate ship`: prints what left or the refusal; exit 1 when refused.
pub fn command(args: ShipArgs) -> Result<ExitCode, ShipError> {
    let config = config::load(&args.config.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ShipError::Runtime)?;
    let shipped = runtime.block_on(ship(&config, &args))?;
    let ok = matches!(shipped, Shipped::Applied(_));
    match (&shipped, args.json) {
        (Shipped::Applied(s), true) => println!("{}", json!({"ok": true, "shipment": s})),
        (Shipped::Refused { code, reason }, true) => println!(
            "{}",
            json!({"ok": false, "shipment": args.shipment, "code": code, "message": reason})
        ),
        (Shipped::Applied(s), false) => {
            println!(
                "shipment {} ({}) left line {}: {} top-level, {} identifiers in all",
                s.shipment,
                s.kind,
                s.line,
                s.top_level.len(),
                s.identifiers
            );
            for key in &s.top_level {
                println!("  {key}");
            }
        }
        (Shipped::Refused { code, reason }, false) => eprintln!("refused ({code}): {reason}"),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ship: ShipArgs,
    }

    #[test]
    fn the_arguments_make_the_documented_ship_message() {
        let cli = Cli::try_parse_from([
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
            "--po",
            "PO-1",
            "--reason",
            "WMS down",
            "(00)003614145000000013",
            "--config",
            "x.toml",
        ])
        .expect("parses");
        let m = message(&cli.ship, "cli-me-1");
        assert_eq!(m["type"], "ship");
        assert_eq!(m["codes"], json!(["(00)003614145000000013"]));
        assert_eq!(
            (m["po"].as_str(), m.get("from_party")),
            (Some("PO-1"), None)
        );
        let prefixes = crate::gs1::CompanyPrefixes::new(vec![], Some(7)).expect("prefixes");
        let ctx = DecodeContext {
            line: "L1",
            received_at: Utc::now(),
            max_payload_bytes: 4096,
            prefixes: &prefixes,
        };
        protocol::decode(m.to_string().as_bytes(), &ctx).expect("a valid ship message");
        let bad = Cli::try_parse_from(["ship", "D", "--line", "L1", "--kind", "gift"]);
        assert!(
            bad.is_err(),
            "kind is sale or transfer, and codes are required"
        );
    }
}
