//! `linegate audit list`: the newest rows as a table or JSON, read like a log.
//!
//! The store reads newest first (so `--limit` keeps the latest rows) and the list turns them
//! around, so the table reads top to bottom in the order things happened. Long subjects and
//! reasons are shortened to keep one row per line; `--json` gives every value in full.

use std::process::ExitCode;

use super::{AuditCliError, ListArgs, open};
use crate::store::{AuditQuery, AuditRow, StoreError};

pub(super) fn run(args: &ListArgs) -> Result<ExitCode, AuditCliError> {
    let store = open(&args.config)?;
    let query = AuditQuery {
        actor: args.actor.clone(),
        limit: Some(args.limit),
        newest_first: true,
        ..AuditQuery::default()
    };
    let mut rows = Vec::new();
    store.audit_rows(&query, |r| -> Result<(), StoreError> {
        rows.push(r);
        Ok(())
    })?;
    // Newest first from the store; shown oldest first, so the table reads like a log.
    rows.reverse();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// The audit rows as a table (values shortened to keep one row per line).
pub fn table(rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "The audit trail has no such rows.".into();
    }
    let short = |s: &str, n: usize| -> String {
        if s.chars().count() > n {
            let mut t: String = s.chars().take(n - 1).collect();
            t.push('…');
            t
        } else {
            s.to_string()
        }
    };
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.at.clone(),
                r.actor.clone(),
                r.action.clone(),
                short(&r.subject, 48),
                format!(
                    "{} → {}",
                    r.old_value.as_deref().unwrap_or("-"),
                    r.new_value.as_deref().unwrap_or("-")
                ),
                short(r.reason.as_deref().unwrap_or("-"), 60),
            ]
        })
        .collect();
    crate::cli::table(
        &[
            "SEQ",
            "AT",
            "ACTOR",
            "ACTION",
            "SUBJECT",
            "OLD → NEW",
            "REASON",
        ],
        body,
    )
}
