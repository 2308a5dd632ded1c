//! `linegate outbox list|show|retry|replay|reject`: the operator's view of what must leave the
//! plant, and the three things an operator may do about a document that did not.
//!
//! The views read a read-only connection (the daemon may be running) and never load the whole
//! outbox unless asked: `list` shows a page — dead letters, then what is being sent, then what
//! waits, then the newest delivered — of `--limit` rows (200 by default; `--all` for every row).
//! The actions open the store's writer beside the daemon's, as `linegate batch close` does
//! (SQLite serialises the two), and apply `Store::outbox_action` in one transaction, noting the
//! operating-system user (`cli-<user>`) and the required `--reason`; the daemon's forwarder
//! sees the change at its next look at the outbox, within 2 s. A refused action prints why
//! and what to do instead, and exits 1.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::cli::{OutboxCommand, ViewArgs, table};
use crate::config::{self, ConfigError};
use crate::store::{
    DELIVERY_STATES, OperatorAction, OperatorRequest, OutboxDocument, OutboxPage, OutboxQuery,
    OutboxRow, ReadOnlyStore, Store, StoreError,
};

/// Rows `list` shows unless told otherwise.
pub const DEFAULT_LIMIT: u64 = 200;

pub const LIST_HELP: &str =
    "Dead letters (rejected) come first, then documents being sent (in_flight) and waiting
(pending) in sending order, then the newest delivered. At most --limit rows (default 200).

Examples:
  linegate outbox list --config /etc/linegate/linegate.toml
  linegate outbox list --state rejected --config /etc/linegate/linegate.toml
  linegate outbox list --upstream mah --batch B2026-0042 --json --config /etc/linegate/linegate.toml
  linegate outbox list --state delivered --limit 20 --config /etc/linegate/linegate.toml";

pub const SHOW_HELP: &str = "Examples:
  linegate outbox show 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --config /etc/linegate/linegate.toml
  linegate outbox show 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --json --config /etc/linegate/linegate.toml";

pub const RETRY_HELP: &str =
    "Applies to a dead letter (rejected) or a pending document waiting for its next attempt;
the running daemon sends it within 2 s, with the same id and bytes. Exits 1 with the reason
when it does not apply.

Examples:
  linegate outbox retry 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --reason 'partner fixed its schema' \\
      --config /etc/linegate/linegate.toml
  linegate outbox retry 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --upstream mah --reason 'INC-1234' \\
      --config /etc/linegate/linegate.toml";

pub const REPLAY_HELP: &str = "Applies to a delivered document whose bytes are still kept (gateway.outbox_retention_days);
it is sent again with the same id (Idempotency-Key) and the same bytes, so the receiver can
recognise it. Exits 1 with the reason when it does not apply.

Examples:
  linegate outbox replay 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --reason 'partner lost it (INC-1234)' \\
      --config /etc/linegate/linegate.toml";

pub const REJECT_HELP: &str = "Gives a document up for good: a pending document is not sent, a dead letter stops holding
back the documents of its batch and stops the alarm. Use it for a document the partner will
never take. It stays listed with your reason and can still be retried later. Exits 1 with the
reason when it does not apply.

Examples:
  linegate outbox reject 7d0f6c5e-6f0e-4b6c-9d1e-2b1f3c4d5e6f --reason 'test batch, partner agreed' \\
      --config /etc/linegate/linegate.toml";

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    /// Only deliveries in this state
    #[arg(long, value_name = "STATE", value_parser = DELIVERY_STATES)]
    pub state: Option<String>,
    /// Only deliveries to this upstream (`[[upstream]] name`)
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// Only the End of Batch documents of this batch
    #[arg(long, value_name = "BATCH")]
    pub batch: Option<String>,
    /// Show at most N deliveries
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT, conflicts_with = "all",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Show every matching delivery (an outbox may hold millions)
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    /// The document id (the Idempotency-Key; `linegate outbox list` shows it)
    pub document: String,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    #[command(flatten)]
    pub view: ViewArgs,
    /// The document id (`linegate outbox list` shows it)
    pub document: String,
    /// Only its delivery to this upstream (default: every delivery the action applies to)
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// Why (kept with the delivery, with your user name and the time)
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "document {0} is unknown here; `linegate outbox list` shows the documents (its id is the Idempotency-Key)"
    )]
    UnknownDocument(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl OutboxCommand {
    /// The `--config` given to the subcommand.
    pub fn config(&self) -> &std::path::Path {
        let view = match self {
            OutboxCommand::List(a) => &a.view,
            OutboxCommand::Show(a) => &a.view,
            OutboxCommand::Retry(a) | OutboxCommand::Replay(a) | OutboxCommand::Reject(a) => {
                &a.view
            }
        };
        &view.config.config
    }
}

/// Runs one `linegate outbox` subcommand.
pub fn command(cmd: OutboxCommand) -> Result<ExitCode, OutboxCliError> {
    let config = config::load(cmd.config())?;
    let data_dir = &config.gateway.data_dir;
    match cmd {
        OutboxCommand::List(a) => {
            let q = OutboxQuery {
                state: a.state,
                upstream: a.upstream,
                batch: a.batch,
                limit: (!a.all).then(|| usize::try_from(a.limit).unwrap_or(usize::MAX)),
            };
            let page = ReadOnlyStore::open(data_dir)?.outbox_page(&q)?;
            if a.view.json {
                println!("{}", serde_json::to_string_pretty(&page.rows)?);
            } else {
                println!("{}", page_text(&page, &q));
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Show(a) => {
            let doc = ReadOnlyStore::open(data_dir)?
                .outbox_document(&a.document)?
                .ok_or_else(|| OutboxCliError::UnknownDocument(a.document.clone()))?;
            if a.view.json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("{}", document_text(&doc));
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCommand::Retry(a) => act(&config, OperatorAction::Retry, a),
        OutboxCommand::Replay(a) => act(&config, OperatorAction::Replay, a),
        OutboxCommand::Reject(a) => act(&config, OperatorAction::Reject, a),
    }
}

/// Applies an operator action through a writer of our own; prints the change or the refusal.
fn act(
    config: &config::Config,
    action: OperatorAction,
    a: ActionArgs,
) -> Result<ExitCode, OutboxCliError> {
    let data_dir = &config.gateway.data_dir;
    // Fails clearly when the daemon never ran here (no database to change).
    ReadOnlyStore::open(data_dir)?;
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let req = OperatorRequest {
        action,
        document_id: a.document.clone(),
        upstream: a.upstream.clone(),
        actor: format!("cli-{user}"),
        reason: a.reason.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OutboxCliError::Runtime)?;
    let (store, thread) = Store::open(data_dir, config.rules_policy())?;
    let result = runtime.block_on(store.outbox_action(req));
    drop(store);
    thread.join();
    let verb = action.as_str();
    let changed = match result {
        Ok(changed) => changed,
        Err(StoreError::Refused(why)) => {
            if a.view.json {
                let refused =
                    json!({"ok": false, "action": verb, "document_id": a.document, "message": why});
                println!("{refused}");
            } else {
                eprintln!("refused: {why}");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if a.view.json {
        let done =
            json!({"ok": true, "action": verb, "document_id": a.document, "changed": changed});
        println!("{done}");
        return Ok(ExitCode::SUCCESS);
    }
    for c in &changed {
        println!(
            "{verb}: document {} for '{}': {} → {}",
            c.document_id, c.upstream, c.from, c.to
        );
    }
    let doc = &a.document;
    match action {
        OperatorAction::Retry | OperatorAction::Replay => println!(
            "The daemon sends it within a few seconds, with the same id and bytes; follow it with `linegate outbox show {doc}`."
        ),
        OperatorAction::Reject => println!(
            "It is a dead letter now (an alarm until it is retried: `linegate outbox retry {doc} --reason …`)."
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// A page as a table, with what was left out.
pub fn page_text(page: &OutboxPage, q: &OutboxQuery) -> String {
    let filtered = q.state.is_some() || q.upstream.is_some() || q.batch.is_some();
    if page.rows.is_empty() {
        return if filtered {
            "No delivery matches.".into()
        } else {
            "The outbox is empty: no document has been assembled yet.".into()
        };
    }
    let mut text = list_table(&page.rows);
    if page.more {
        text.push_str(&format!(
            "\n(the first {} shown; more match: --limit N, --all, or narrow with --state, --upstream, --batch)",
            page.rows.len()
        ));
    }
    text
}

/// Deliveries as a table: what, to whom, where it stands, and the last word on it.
pub fn list_table(rows: &[OutboxRow]) -> String {
    let body = rows
        .iter()
        .map(|r| {
            let when = match r.state.as_str() {
                "pending" => r.next_attempt_at.clone(),
                "delivered" => r.delivered_at.clone(),
                "rejected" => r.rejected_at.clone(),
                _ => r.last_attempt_at.clone(),
            };
            // A dead letter's error (the operator's note when an operator rejected it); else
            // the last operator action, or the last failure.
            let word = if r.state == "rejected" {
                r.last_error.clone()
            } else {
                r.operator_note.clone().or_else(|| r.last_error.clone())
            };
            let word = word.unwrap_or_default();
            vec![
                r.document_id.clone(),
                r.kind.clone(),
                r.batch.clone().unwrap_or_else(|| r.group.clone()),
                r.upstream.clone(),
                r.state.clone(),
                r.attempts.to_string(),
                r.last_status.map(|s| s.to_string()).unwrap_or_default(),
                when.unwrap_or_default(),
                word.chars().take(60).collect(),
            ]
        })
        .collect();
    table(
        &[
            "DOCUMENT",
            "KIND",
            "BATCH",
            "UPSTREAM",
            "STATE",
            "ATTEMPTS",
            "STATUS",
            "SINCE/NEXT",
            "LAST ERROR/NOTE",
        ],
        body,
    )
}

/// One document and its deliveries, for people.
pub fn document_text(d: &OutboxDocument) -> String {
    let mut out = vec![
        format!("document  {}", d.document_id),
        format!(
            "kind      {} (part {} of {}, {}, {})",
            d.kind,
            d.part,
            d.parts,
            d.format.as_deref().unwrap_or("-"),
            d.content_type
        ),
    ];
    if let Some(b) = &d.batch {
        out.push(format!("batch     {b}"));
    }
    out.push(format!("created   {}", d.created_at));
    out.push(match (&d.path, d.file_bytes, &d.pruned_at) {
        (_, _, Some(at)) => format!(
            "file      pruned at {at} (gateway.outbox_retention_days); it was {} bytes",
            d.bytes
        ),
        (Some(p), Some(n), None) => format!("file      {p} ({n} bytes)"),
        (Some(p), None, None) => format!(
            "file      {p} is MISSING ({} bytes recorded): it cannot be sent",
            d.bytes
        ),
        (None, _, None) => format!("file      none: kept in the database ({} bytes)", d.bytes),
    });
    for r in &d.deliveries {
        out.push(String::new());
        out.push(format!(
            "to '{}': {} after {} attempt(s){}",
            r.upstream,
            r.state,
            r.attempts,
            if r.replays > 0 {
                format!(", replayed {} time(s)", r.replays)
            } else {
                String::new()
            }
        ));
        let fields = [
            ("group", Some(r.group.clone())),
            ("first try", r.first_attempt_at.clone()),
            ("last try", r.last_attempt_at.clone()),
            ("next try", r.next_attempt_at.clone()),
            ("delivered", r.delivered_at.clone()),
            ("rejected", r.rejected_at.clone()),
            ("status", r.last_status.map(|s| s.to_string())),
            ("error", r.last_error.clone()),
            ("response", r.response.clone()),
            ("operator", r.operator_note.clone()),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                out.push(format!("  {name:<10}{v}"));
            }
        }
    }
    out.join("\n")
}
