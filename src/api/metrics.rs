//! `GET /metrics`: the daemon's figures in the Prometheus text exposition format (0.0.4), for a
//! plant's monitoring to scrape and alert on.
//!
//! Today these are the outbox's: per upstream, the documents not yet delivered by state, their
//! bytes, the age of the oldest waiting one, the dead letters, and whether the undelivered bytes
//! are above `gateway.max_outbox_bytes` — the same figures the daemon's outbox alarms are
//! raised from (`ReadOnlyStore::outbox_backlog`, which reads index ranges of the undelivered
//! states only, so a scrape costs little however many documents were delivered). Delivered
//! documents are not counted here. No token: like the other reads, it is open to local callers.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::{ApiState, store_failed};
use crate::store::{ReadOnlyStore, UpstreamBacklog};

const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(State(s): State<Arc<ApiState>>) -> Response {
    let dir = s.data_dir.clone();
    let read = tokio::task::spawn_blocking(move || ReadOnlyStore::open(&dir)?.outbox_backlog());
    match read.await {
        Ok(Ok(backlog)) => {
            let text = render(&backlog, &s.upstreams, s.max_outbox_bytes);
            (
                StatusCode::OK,
                [(CONTENT_TYPE, HeaderValue::from_static(CONTENT))],
                text,
            )
                .into_response()
        }
        Ok(Err(e)) => store_failed(&e, "try again"),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the outbox stopped: {e}\n"),
        )
            .into_response(),
    }
}

/// The exposition of `backlog`; each configured upstream appears, with zeros when it owes
/// nothing.
pub fn render(backlog: &[UpstreamBacklog], configured: &[String], max_outbox_bytes: u64) -> String {
    let mut all: Vec<UpstreamBacklog> = backlog.to_vec();
    for name in configured {
        if !all.iter().any(|b| &b.upstream == name) {
            all.push(UpstreamBacklog {
                upstream: name.clone(),
                ..UpstreamBacklog::default()
            });
        }
    }
    all.sort_by(|a, b| a.upstream.cmp(&b.upstream));
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: &mut dyn Iterator<Item = (String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let up = |b: &UpstreamBacklog| format!("{{upstream=\"{}\"}}", escape(&b.upstream));
    family(
        "linegate_outbox_documents",
        "Documents not yet delivered, per upstream and delivery state.",
        &mut all.iter().flat_map(|b| {
            [
                ("pending", b.pending),
                ("in_flight", b.in_flight),
                ("rejected", b.rejected),
            ]
            .map(|(state, n)| {
                (
                    format!("{{upstream=\"{}\",state=\"{state}\"}}", escape(&b.upstream)),
                    n,
                )
            })
        }),
    );
    family(
        "linegate_outbox_pending_bytes",
        "Bytes of the documents waiting to be delivered (pending and in flight).",
        &mut all.iter().map(|b| (up(b), b.pending_bytes)),
    );
    family(
        "linegate_outbox_oldest_pending_age_seconds",
        "Age of the oldest document waiting to be delivered (0 when none waits).",
        &mut all
            .iter()
            .map(|b| (up(b), b.oldest_pending_age_secs.unwrap_or(0))),
    );
    family(
        "linegate_outbox_dead_letters",
        "Documents refused for good (rejected), waiting for an operator: linegate outbox list --state rejected.",
        &mut all.iter().map(|b| (up(b), b.rejected)),
    );
    family(
        "linegate_outbox_max_attempts",
        "The most delivery attempts of any document waiting to be delivered.",
        &mut all.iter().map(|b| (up(b), u64::from(b.max_attempts))),
    );
    let total: u64 = all.iter().map(UpstreamBacklog::undelivered_bytes).sum();
    family(
        "linegate_outbox_undelivered_bytes",
        "Bytes of every document not yet delivered, dead letters included.",
        &mut std::iter::once((String::new(), total)),
    );
    family(
        "linegate_outbox_max_bytes",
        "gateway.max_outbox_bytes (0: no limit).",
        &mut std::iter::once((String::new(), max_outbox_bytes)),
    );
    let over = max_outbox_bytes > 0 && total > max_outbox_bytes;
    family(
        "linegate_outbox_over_limit",
        "1 while undelivered documents take more than gateway.max_outbox_bytes (nothing is dropped).",
        &mut std::iter::once((String::new(), u64::from(over))),
    );
    out
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_upstream_is_shown_and_the_limit_is_judged_on_all_undelivered_bytes() {
        let backlog = vec![UpstreamBacklog {
            upstream: "m\"a\\h".into(),
            pending: 3,
            in_flight: 1,
            rejected: 2,
            pending_bytes: 700,
            rejected_bytes: 400,
            oldest_pending_created_at: Some("2026-01-01T00:00:00.000Z".into()),
            oldest_pending_age_secs: Some(42),
            max_attempts: 5,
        }];
        let text = render(&backlog, &["qa".into()], 1000);
        for line in [
            "linegate_outbox_documents{upstream=\"m\\\"a\\\\h\",state=\"pending\"} 3",
            "linegate_outbox_documents{upstream=\"qa\",state=\"rejected\"} 0",
            "linegate_outbox_pending_bytes{upstream=\"qa\"} 0",
            "linegate_outbox_oldest_pending_age_seconds{upstream=\"m\\\"a\\\\h\"} 42",
            "linegate_outbox_dead_letters{upstream=\"m\\\"a\\\\h\"} 2",
            "linegate_outbox_undelivered_bytes 1100",
            "linegate_outbox_over_limit 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
        assert!(render(&backlog, &[], 0).contains("linegate_outbox_over_limit 0"));
        assert!(render(&backlog, &[], 1100).contains("linegate_outbox_over_limit 0"));
    }
}
