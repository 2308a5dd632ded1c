//! `GET /metrics`: the daemon's figures in the Prometheus text exposition format (0.0.4), for a
//! plant's monitoring to scrape and alert on.
//!
//! * what came in: messages per line and source (`mqtt`, `api`, `cli`, `scanner:<station>`),
//!   and how many of them were refused or repeats — counted by the store's writer after each
//!   commit (`Store::stats`), so a message counts once it is durable;
//! * the writer: commits, failed commits, and a histogram of how long a commit takes;
//! * the outbox, per upstream: the documents not yet delivered by state, their bytes, the age
//!   of the oldest waiting one, the dead letters, the most attempts, and whether the
//!   undelivered bytes are above `gateway.max_outbox_bytes` — the figures the outbox alarms
//!   are raised from (`ReadOnlyStore::outbox_backlog`, index ranges of the undelivered states
//!   only, so a scrape costs little however many documents were delivered);
//! * the sources' connections (MQTT connected, each scanner station's port up), the free space
//!   of the data directory, and the health (1 per current problem, by part).
//!
//! Counters start at zero with the daemon. No token: like the other reads, it is open to local
//! callers. The text is written by `exposition`, which keeps names, labels and values valid.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::exposition::Exposition;
use super::reply::read_only;
use crate::store::{LATENCY_BUCKETS, MessageCounts, StatsSnapshot, UpstreamBacklog};

/// Which figure of a record a family shows.
type Pick<T> = fn(&T) -> u64;

const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything a scrape shows, gathered.
#[derive(Debug, Default)]
pub struct Figures {
    pub stats: StatsSnapshot,
    pub backlog: Vec<UpstreamBacklog>,
    /// Every configured upstream (shown with zeros when it owes nothing).
    pub upstreams: Vec<String>,
    pub max_outbox_bytes: u64,
    /// None before the MQTT source first tried to connect.
    pub mqtt_connected: Option<bool>,
    /// (station, line, port up).
    pub stations: Vec<(String, String, bool)>,
    pub disk_free_bytes: Option<u64>,
    /// The parts with a problem now.
    pub problems: Vec<String>,
}

pub(super) async fn metrics(State(s): State<Arc<ApiState>>) -> Response {
    let dir = s.data_dir.clone();
    let read = read_only(&s.data_dir, move |store| {
        Ok((store.outbox_backlog()?, free_bytes(&dir)))
    });
    let (backlog, disk_free_bytes) = match read.await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let health = &s.shared.health;
    let figures = Figures {
        stats: s.shared.store.stats().snapshot(),
        backlog,
        upstreams: s.upstreams.clone(),
        max_outbox_bytes: s.max_outbox_bytes,
        mqtt_connected: health.state_of("mqtt"),
        stations: (health.stations().into_iter())
            .map(|(id, h)| (id, h.line, h.up))
            .collect(),
        disk_free_bytes,
        problems: health.problems().into_iter().map(|p| p.part).collect(),
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(CONTENT))],
        render(&figures),
    )
        .into_response()
}

/// Bytes available to linegate on the data directory's file system (as the disk guard counts).
fn free_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some((s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
}

/// The exposition of `f`.
pub fn render(f: &Figures) -> String {
    let mut x = Exposition::default();
    messages(&mut x, &f.stats);
    store(&mut x, &f.stats);
    outbox(&mut x, &f.backlog, &f.upstreams, f.max_outbox_bytes);
    x.family(
        "linegate_mqtt_connected",
        "gauge",
        "1 while the MQTT source is connected to its broker.",
    );
    x.sample(
        "linegate_mqtt_connected",
        &[],
        u8::from(f.mqtt_connected == Some(true)),
    );
    x.family(
        "linegate_scanner_up",
        "gauge",
        "1 while a scanner station's serial port is open.",
    );
    for (station, line, up) in &f.stations {
        x.sample(
            "linegate_scanner_up",
            &[("station", station), ("line", line)],
            u8::from(*up),
        );
    }
    x.family(
        "linegate_data_dir_free_bytes",
        "gauge",
        "Bytes free for linegate on the file system of gateway.data_dir.",
    );
    if let Some(free) = f.disk_free_bytes {
        x.sample("linegate_data_dir_free_bytes", &[], free);
    }
    x.family(
        "linegate_healthy",
        "gauge",
        "1 when GET /health answers 200 (no problem).",
    );
    x.sample("linegate_healthy", &[], u8::from(f.problems.is_empty()));
    x.family(
        "linegate_health_problem",
        "gauge",
        "1 for each part with a problem now (GET /health says what and since when).",
    );
    for part in &f.problems {
        x.sample("linegate_health_problem", &[("part", part)], 1);
    }
    x.finish()
}

fn messages(x: &mut Exposition, s: &StatsSnapshot) {
    let families: [(&str, &str, Pick<MessageCounts>); 3] = [
        (
            "linegate_events_in_total",
            "Line messages the store answered (applied, refused or repeated), per line and source.",
            |c| c.received,
        ),
        (
            "linegate_events_rejected_total",
            "Line messages refused by the decoder or the line rules (quarantined), per line and source.",
            |c| c.rejected,
        ),
        (
            "linegate_events_duplicate_total",
            "Line messages seen before on their line (nothing applied again), per line and source.",
            |c| c.duplicate,
        ),
    ];
    for (name, help, value) in families {
        x.family(name, "counter", help);
        for ((line, source), counts) in &s.messages {
            x.sample(name, &[("line", line), ("source", source)], value(counts));
        }
    }
}

fn store(x: &mut Exposition, s: &StatsSnapshot) {
    x.family(
        "linegate_store_commits_total",
        "counter",
        "Transactions of line messages committed.",
    );
    x.sample("linegate_store_commits_total", &[], s.commits);
    x.family(
        "linegate_store_commit_failures_total",
        "counter",
        "Transactions of line messages that failed (nothing of them was acknowledged).",
    );
    x.sample(
        "linegate_store_commit_failures_total",
        &[],
        s.commit_failures,
    );
    let name = "linegate_store_commit_duration_seconds";
    x.family(
        name,
        "histogram",
        "Time from BEGIN to the end of COMMIT (fsync included) of a group of line messages.",
    );
    let bucket = format!("{name}_bucket");
    for (le, n) in LATENCY_BUCKETS.iter().zip(&s.latency_cumulative) {
        x.sample(&bucket, &[("le", &le.to_string())], n);
    }
    x.sample(&bucket, &[("le", "+Inf")], s.commits);
    x.sample(&format!("{name}_sum"), &[], s.latency_sum_secs);
    x.sample(&format!("{name}_count"), &[], s.commits);
}

/// The outbox's families; each configured upstream appears, with zeros when it owes nothing.
fn outbox(x: &mut Exposition, backlog: &[UpstreamBacklog], configured: &[String], max_bytes: u64) {
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
    let name = "linegate_outbox_documents";
    x.family(
        name,
        "gauge",
        "Documents not yet delivered, per upstream and delivery state.",
    );
    for b in &all {
        for (state, n) in [
            ("pending", b.pending),
            ("in_flight", b.in_flight),
            ("rejected", b.rejected),
        ] {
            x.sample(name, &[("upstream", &b.upstream), ("state", state)], n);
        }
    }
    let per_upstream: [(&str, &str, Pick<UpstreamBacklog>); 4] = [
        (
            "linegate_outbox_pending_bytes",
            "Bytes of the documents waiting to be delivered (pending and in flight).",
            |b| b.pending_bytes,
        ),
        (
            "linegate_outbox_oldest_pending_age_seconds",
            "Age of the oldest document waiting to be delivered (0 when none waits).",
            |b| b.oldest_pending_age_secs.unwrap_or(0),
        ),
        (
            "linegate_outbox_dead_letters",
            "Documents refused for good (rejected), waiting for an operator: linegate outbox list --state rejected.",
            |b| b.rejected,
        ),
        (
            "linegate_outbox_max_attempts",
            "The most delivery attempts of any document waiting to be delivered.",
            |b| u64::from(b.max_attempts),
        ),
    ];
    for (name, help, value) in per_upstream {
        x.family(name, "gauge", help);
        for b in &all {
            x.sample(name, &[("upstream", &b.upstream)], value(b));
        }
    }
    let total: u64 = all.iter().map(UpstreamBacklog::undelivered_bytes).sum();
    let over = max_bytes > 0 && total > max_bytes;
    for (name, help, value) in [
        (
            "linegate_outbox_undelivered_bytes",
            "Bytes of every document not yet delivered, dead letters included.",
            total,
        ),
        (
            "linegate_outbox_max_bytes",
            "gateway.max_outbox_bytes (0: no limit).",
            max_bytes,
        ),
        (
            "linegate_outbox_over_limit",
            "1 while undelivered documents take more than gateway.max_outbox_bytes (nothing is dropped).",
            u64::from(over),
        ),
    ] {
        x.family(name, "gauge", help);
        x.sample(name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        let mut stats = StatsSnapshot {
            commits: 3,
            commit_failures: 1,
            latency_sum_secs: 0.0125,
            latency_cumulative: vec![1; LATENCY_BUCKETS.len() + 1],
            ..StatsSnapshot::default()
        };
        *stats.latency_cumulative.last_mut().expect("+Inf") = 3;
        stats.messages.insert(
            ("L1".into(), "scanner:S\"1".into()),
            MessageCounts {
                received: 7,
                rejected: 2,
                duplicate: 1,
            },
        );
        Figures {
            stats,
            backlog: vec![UpstreamBacklog {
                upstream: "m\"a\\h".into(),
                pending: 3,
                in_flight: 1,
                rejected: 2,
                pending_bytes: 700,
                rejected_bytes: 400,
                oldest_pending_created_at: Some("2026-01-01T00:00:00.000Z".into()),
                oldest_pending_age_secs: Some(42),
                max_attempts: 5,
            }],
            upstreams: vec!["qa".into()],
            max_outbox_bytes: 1000,
            mqtt_connected: Some(true),
            stations: vec![("S1".into(), "L1".into(), false)],
            disk_free_bytes: Some(123),
            problems: vec!["scanner:S1".into()],
        }
    }

    #[test]
    fn every_figure_is_shown_with_escaped_labels() {
        let text = render(&figures());
        for line in [
            "linegate_outbox_documents{upstream=\"m\\\"a\\\\h\",state=\"pending\"} 3",
            "linegate_outbox_documents{upstream=\"qa\",state=\"rejected\"} 0",
            "linegate_outbox_pending_bytes{upstream=\"qa\"} 0",
            "linegate_outbox_oldest_pending_age_seconds{upstream=\"m\\\"a\\\\h\"} 42",
            "linegate_outbox_dead_letters{upstream=\"m\\\"a\\\\h\"} 2",
            "linegate_outbox_undelivered_bytes 1100",
            "linegate_outbox_over_limit 1",
            "linegate_events_in_total{line=\"L1\",source=\"scanner:S\\\"1\"} 7",
            "linegate_events_rejected_total{line=\"L1\",source=\"scanner:S\\\"1\"} 2",
            "linegate_store_commits_total 3",
            "linegate_store_commit_duration_seconds_bucket{le=\"0.001\"} 1",
            "linegate_store_commit_duration_seconds_bucket{le=\"+Inf\"} 3",
            "linegate_store_commit_duration_seconds_sum 0.0125",
            "linegate_store_commit_duration_seconds_count 3",
            "linegate_mqtt_connected 1",
            "linegate_scanner_up{station=\"S1\",line=\"L1\"} 0",
            "linegate_data_dir_free_bytes 123",
            "linegate_healthy 0",
            "linegate_health_problem{part=\"scanner:S1\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
        let mut f = figures();
        f.max_outbox_bytes = 0;
        assert!(render(&f).contains("linegate_outbox_over_limit 0"));
        f.max_outbox_bytes = 1100;
        assert!(render(&f).contains("linegate_outbox_over_limit 0"));
    }
}
