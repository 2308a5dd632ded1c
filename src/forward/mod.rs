//! Forwarding: one loop per `[[upstream]]`, draining that upstream's outbox in order.
//!
//! The loop asks the store for the oldest pending document of its upstream, waits until it is
//! due, sends it, and records the outcome; the row becomes `delivered` only after a 2xx. A crash
//! between sending and recording means the document is sent again with the same
//! `Idempotency-Key` — at least once, never lost. Forwarders know nothing of batches or sources.

pub mod backoff;
pub mod http;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{AttemptOutcome, Store};
use http::{HttpSink, Verdict};

/// The delivery settings of one upstream.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub name: String,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// Runs until `shutdown`. A send in progress when shutdown comes is finished and recorded
/// (the caller bounds this with the shutdown deadline).
pub async fn run(store: Store, cfg: ForwardConfig, sink: HttpSink, shutdown: CancellationToken) {
    let wakeups = store.wakeups().clone();
    while !shutdown.is_cancelled() {
        // Register for the wake-up before looking, so an enqueue in between is not missed.
        let changed = wakeups.outbox_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let next = match store.next_delivery(&cfg.name).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(upstream = %cfg.name, error = %e, "cannot read the outbox; retrying in 5 s");
                pause(&shutdown, Duration::from_secs(5)).await;
                continue;
            }
        };
        let Some(d) = next else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut changed => continue,
            }
        };
        let wait = d.next_attempt_ms - chrono::Utc::now().timestamp_millis();
        if wait > 0 {
            // The head of the queue is not due; later documents wait behind it (causal order).
            pause(&shutdown, Duration::from_millis(wait as u64)).await;
            continue;
        }
        let verdict = sink.send(&d).await;
        let attempts = d.attempts + 1;
        let outcome = match verdict {
            Verdict::Delivered { status } => {
                tracing::info!(upstream = %cfg.name, document = %d.document_id, status, attempts, "document delivered");
                AttemptOutcome::Delivered { status }
            }
            Verdict::Retry {
                status,
                error,
                retry_after,
            } => {
                let after =
                    backoff::delay(attempts, cfg.retry_initial, cfg.retry_max, fastrand::f64())
                        .max(retry_after.unwrap_or_default());
                tracing::warn!(upstream = %cfg.name, document = %d.document_id, attempts, %error, retry_in_ms = after.as_millis() as u64, "delivery failed; will retry");
                AttemptOutcome::Retry {
                    status,
                    error,
                    after,
                }
            }
            Verdict::Rejected { status, error } => {
                tracing::error!(upstream = %cfg.name, document = %d.document_id, status, %error, "upstream refused the document; parked as rejected for an operator");
                AttemptOutcome::Rejected {
                    status: Some(status),
                    error,
                }
            }
        };
        if let Err(e) = store
            .record_attempt(&d.document_id, &cfg.name, outcome)
            .await
        {
            tracing::error!(upstream = %cfg.name, error = %e, "cannot record the delivery outcome; the document will be sent again");
            pause(&shutdown, Duration::from_secs(5)).await;
        }
    }
}

async fn pause(shutdown: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(d) => {}
    }
}
