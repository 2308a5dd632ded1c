//! The assembler task: turns closed batches into outbox documents.
//!
//! It wakes when the store reports a closed batch, once at start (to catch up after a crash) and
//! every two seconds (for batches the supervisor closed from the command line),
//! then asks the store to assemble the oldest closed batch: the store reads the batch, runs the
//! pure build below inside its transaction, enqueues one document per upstream and marks the
//! batch assembled — all in one commit. The assembler never talks to sources or forwarders.

pub mod batch;
pub mod eob;
pub mod partner;
pub mod rows;
pub mod shipment;
pub mod single;
pub mod split;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Local, Offset, Utc};
use tokio_util::sync::CancellationToken;

use crate::epcis;
use crate::gs1::EpcUri;
use crate::model::NewDocument;
use crate::store::{Assembled, BuildFn, Store};

pub use batch::{Partner, Place};

/// How often the assembler looks for closed batches without a wake-up.
const POLL: Duration = Duration::from_secs(2);

/// Everything the assembler needs to know about the site, lines and partners.
#[derive(Debug, Clone)]
pub struct AssemblerConfig {
    /// SGLN of the site (bizLocation).
    pub biz_location: EpcUri,
    /// readPoint SGLN per line id.
    pub read_points: HashMap<String, EpcUri>,
    pub partners: Vec<Partner>,
    /// A fixed `±hh:mm` offset, or None for the host's local time zone.
    pub tz_offset: Option<String>,
}

/// Runs until `shutdown`; a build failure parks the batch as `failed`, a store error is retried.
pub async fn run(store: Store, cfg: AssemblerConfig, shutdown: CancellationToken) {
    let wakeups = store.wakeups().clone();
    loop {
        loop {
            match store.assemble_next(builder(&cfg)).await {
                Ok(Some(Assembled::Documents {
                    batch,
                    document_ids,
                })) => {
                    tracing::info!(%batch, documents = document_ids.len(), "batch assembled into the outbox");
                }
                Ok(Some(Assembled::Failed { batch, reason })) => {
                    tracing::error!(%batch, %reason, "batch could not be assembled; it is parked as failed");
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "assembling failed; retrying in 5 s");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        }
        // A batch closed by `linegate batch close` (another process) has no wake-up: poll too.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wakeups.batch_closed.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

fn offset_text(fixed: &Option<String>, t: DateTime<Utc>) -> String {
    if let Some(f) = fixed {
        return f.clone();
    }
    let secs = t.with_timezone(&Local).offset().fix().local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The build step handed to the store: pure apart from drawing ids and reading the clock.
fn builder(cfg: &AssemblerConfig) -> BuildFn {
    let cfg = cfg.clone();
    Box::new(move |snap| {
        let read_point = cfg.read_points.get(&snap.line).ok_or_else(|| {
            format!(
                "line {} of batch {} is no longer configured",
                snap.line, snap.batch
            )
        })?;
        let place = Place {
            read_point: read_point.clone(),
            biz_location: cfg.biz_location.clone(),
        };
        let tz = |t| offset_text(&cfg.tz_offset, t);
        let mut docs = Vec::new();
        for partner in &cfg.partners {
            let id = uuid::Uuid::new_v4().to_string();
            let Some(doc) = batch::end_of_batch(snap, &place, partner, id.clone(), Utc::now(), &tz)
            else {
                tracing::warn!(batch = %snap.batch, "batch closed with no commissioned codes; no document sent");
                continue;
            };
            let body = epcis::write_epcis12(&doc.header, &doc.events).map_err(|e| e.to_string())?;
            docs.push(NewDocument {
                document_id: id,
                kind: "end_of_batch".into(),
                content_type: "application/xml".into(),
                body,
                upstream: partner.upstream.clone(),
            });
        }
        Ok(docs)
    })
}
