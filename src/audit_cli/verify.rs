//! `linegate audit verify`: the whole hash chain recomputed, with a progress bar on a terminal.
//!
//! The outcome is told two ways because two audiences read it: an intact chain prints its head
//! (row, time, hash) on standard output, to be recorded somewhere else — only that record shows
//! rows cut off the newest end; a broken chain names the first row that fails on standard
//! error, says which rows can still be trusted and what to do to keep the evidence, and the
//! command exits 2 so a script or a monitoring check can tell tampering from an ordinary error.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::{AuditCliError, VerifyArgs, open};
use crate::store::AuditReport;

pub(super) fn run(args: &VerifyArgs) -> Result<ExitCode, AuditCliError> {
    let store = open(&args.config)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(store.audit_last_seq()?.max(0) as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = store.audit_verify(&mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    if args.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["intact"] = serde_json::json!(report.broken.is_none());
        if let Some(b) = &report.broken {
            v["broken"]["message"] = serde_json::json!(b.to_string());
        }
        println!("{v}");
    } else {
        print_report(&report);
    }
    Ok(if report.broken.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(r: &AuditReport) {
    if !r.guarded {
        eprintln!(
            "warning: the triggers that keep the audit table append-only have been removed \
             (someone changed the database by hand); report it to QA. The chain below is still \
             checked row by row."
        );
    }
    let Some(b) = &r.broken else {
        match &r.head {
            None => println!("0 rows: the audit trail is empty, nothing to check"),
            Some(h) => {
                println!(
                    "{} rows, chain intact (head {}…)\nhead: row {}, written {}, hash {}\n\
                     Record this head elsewhere (shift log, ticket): rows cut off the newest end \
                     can only be shown against an earlier copy of it.",
                    r.rows,
                    &h.hash[..h.hash.len().min(16)],
                    h.seq,
                    h.at,
                    h.hash
                );
            }
        }
        return;
    };
    eprintln!("audit trail BROKEN: {b}.");
    match &r.head {
        Some(h) => eprintln!(
            "Rows up to {} check out (their head: {}). Rows from {} on cannot be trusted.",
            h.seq, h.hash, b.seq
        ),
        None => eprintln!("No row before it checks out."),
    }
    eprintln!(
        "What to do: stop and keep the evidence — copy linegate.db with its -wal and -shm files \
         from the data directory before anything else writes — then report it to QA / IT \
         security with this output, and compare with the last head recorded elsewhere."
    );
}
