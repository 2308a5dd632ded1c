//! Text views of batches and serials for the shift supervisor.
//!
//! `linegate batch list`, `batch show` and `serial show` print these; `--json` prints the same
//! rows serialised instead. The text is for a person at the line: the report's counts as a table
//! per packaging level, then the inconsistencies as sentences, then the history of a unit in
//! time order.

use crate::rules::reconcile::Level;
use crate::store::{BatchDetail, BatchRow, SerialDetail};

use super::table;

pub fn batch_table(rows: &[BatchRow]) -> String {
    if rows.is_empty() {
        return "No batch yet: a line opens one with batch_open.".into();
    }
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.batch.clone(),
                r.line.clone(),
                r.state.clone(),
                r.gtin.clone(),
                r.lot.clone(),
                r.serials.to_string(),
                r.planned_quantity
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
                r.document.clone().unwrap_or_else(|| "-".into()),
                r.opened_at.clone(),
            ]
        })
        .collect();
    table(
        &[
            "BATCH", "LINE", "STATE", "GTIN", "LOT", "SERIALS", "PLANNED", "DOCUMENT", "OPENED",
        ],
        body,
    )
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

pub fn batch_text(b: &BatchDetail) -> String {
    let r = &b.row;
    let mut out = format!(
        "batch       {}\nline        {}\nstate       {}\ngtin        {}{}\nlot         {}\nexpiry      {}\nwork order  {}\nopened      {}\nclosed      {}\n",
        r.batch,
        r.line,
        r.state,
        r.gtin,
        if b.pack_gtins.is_empty() {
            String::new()
        } else {
            format!(" (cases: {})", b.pack_gtins.join(", "))
        },
        r.lot,
        r.expiry,
        opt(&b.work_order),
        r.opened_at,
        opt(&r.closed_at),
    );
    if let Some(t) = &b.released_at {
        out.push_str(&format!("released    {t}\n"));
    }
    if let Some(t) = &b.cancelled_at {
        out.push_str(&format!("cancelled   {t}\n"));
    }
    out.push_str(&format!("document    {}\n", opt(&r.document)));
    if let Some(f) = &b.failure {
        out.push_str(&format!("failure     {f}\n"));
    }
    let rep = &b.report;
    let when = if b.report_final {
        "at close"
    } else {
        "if closed now"
    };
    out.push_str(&format!("\nReconciliation ({when}):\n"));
    let levels = rep
        .levels
        .iter()
        .map(|(level, c)| {
            let name = match level {
                Level::Each => "unit",
                Level::Pack => "case/bundle",
                Level::Logistic => "SSCC",
            };
            [
                name.to_string(),
                c.commissioned.to_string(),
                c.aggregated.to_string(),
                c.unaggregated.to_string(),
                c.decommissioned.to_string(),
                c.destroyed.to_string(),
                c.sampled.to_string(),
                c.shipped.to_string(),
            ]
            .to_vec()
        })
        .collect();
    out.push_str(&table(
        &[
            "LEVEL",
            "COMMISSIONED",
            "PACKED",
            "LOOSE",
            "DECOMM.",
            "DESTROYED",
            "SAMPLED",
            "SHIPPED",
        ],
        levels,
    ));
    let planned = rep.planned.map(|p| p.to_string());
    let yield_text = rep.yield_percent.map(|y| format!("{y:.2} %"));
    out.push_str(&format!(
        "\n\ngood units  {}\nplanned     {}\nyield       {}\n",
        rep.good_units,
        opt(&planned),
        opt(&yield_text)
    ));
    if rep.inconsistencies.is_empty() {
        out.push_str("\nNo inconsistencies.");
    } else {
        out.push_str("\nInconsistencies:");
        for i in &rep.inconsistencies {
            out.push_str(&format!("\n  - {i}"));
        }
    }
    out
}

pub fn serial_text(s: &SerialDetail) -> String {
    let mut out = format!(
        "serial    {}\nepc       {}\nbatch     {}\nstate     {}\n",
        s.key, s.epc, s.batch, s.state
    );
    if s.parents.is_empty() {
        out.push_str("packed in -\n");
    } else {
        out.push_str(&format!("packed in {}\n", s.parents.join(" ⊂ ")));
    }
    out.push_str(&format!("holds     {} unit(s)\n", s.children.len()));
    for c in s.children.iter().take(20) {
        out.push_str(&format!("  {c}\n"));
    }
    if s.children.len() > 20 {
        out.push_str(&format!(
            "  … {} more (--json lists all)\n",
            s.children.len() - 20
        ));
    }
    out.push_str("\nHistory:\n");
    let rows = s
        .history
        .iter()
        .map(|h| {
            vec![
                h.time.clone(),
                h.event.clone(),
                h.state.clone(),
                h.parent.clone().unwrap_or_else(|| "-".into()),
                format!("{}/{}", h.line, h.message_id),
                h.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TIME", "EVENT", "STATE", "PARENT", "MESSAGE", "REASON"],
        rows,
    ));
    out
}
