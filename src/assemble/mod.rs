//! The assembler task: turns batches into End of Batch documents in the outbox.
//!
//! It wakes when the store reports a closed or released batch, once at start (to catch up after
//! a crash) and every two seconds (for batches the supervisor closed or released from the
//! command line), then asks the store to assemble the oldest batch whose End of Batch is due:
//! at its close for the partners with `eob_trigger = Close`, at its QA release for those with
//! `Release`. On a blocking thread the store opens a read snapshot of the batch
//! (`rows::BatchRows`) and runs the build below, which streams each partner's End of Batch
//! (`eob::end_of_batch`) into files of the outbox; then one writer transaction records the
//! documents and their deliveries and marks the batch assembled. The assembler never talks to
//! sources or forwarders.
//!
//! `eob`, `split`, `rows` and `partner` are pure (no I/O, no tokio); only this file and the
//! store's sink touch the world.

pub mod backlog;
pub mod eob;
pub mod partner;
pub mod rows;
pub mod shipment;
pub mod shipment_task;
pub mod single;
pub mod single_task;
pub mod split;
#[cfg(test)]
pub(crate) mod testkit;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Local, Offset, Utc};
use tokio_util::sync::CancellationToken;

use crate::gs1::EpcUri;
use crate::model::NewDocument;
use crate::store::{Assembled, BuildFn, OutboxFiles, Store};

pub use eob::Place;
pub use partner::Partner;
use partner::{EobTrigger, MessageKind};
use rows::AssembleError;

/// How often the assembler looks for due batches without a wake-up.
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

fn moment(trigger: EobTrigger) -> &'static str {
    match trigger {
        EobTrigger::Close => "close",
        EobTrigger::Release => "release",
    }
}

/// Runs until `shutdown`; a build failure parks the batch as `failed`, a store error is retried.
pub async fn run(store: Store, cfg: AssemblerConfig, shutdown: CancellationToken) {
    let wakeups = store.wakeups().clone();
    loop {
        loop {
            match store.assemble_next(builder(&cfg)).await {
                Ok(Some(Assembled::Documents {
                    batch,
                    trigger,
                    document_ids,
                })) => {
                    tracing::info!(%batch, at = moment(trigger), documents = document_ids.len(), "End of Batch assembled into the outbox");
                }
                Ok(Some(Assembled::Failed {
                    batch,
                    trigger,
                    reason,
                })) => {
                    tracing::error!(%batch, at = moment(trigger), %reason, "End of Batch could not be assembled; it is parked as failed");
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
        // Then shipments, voids and receipts (after the End of Batch of their batches).
        shipment_task::drain(&store, &cfg, &shutdown).await;
        // A batch closed by `linegate batch close` (another process) has no wake-up: poll too.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wakeups.batch_closed.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The line's `±hh:mm` at `t`: the configured fixed offset, else the host's time zone.
pub fn offset_text(fixed: &Option<String>, t: DateTime<Utc>) -> String {
    if let Some(f) = fixed {
        return f.clone();
    }
    let secs = t.with_timezone(&Local).offset().fix().local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let m = secs.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The build step handed to the store: for every partner that takes the End of Batch at this
/// trigger, the document(s) streamed from the batch's rows into outbox files. Pure apart from
/// drawing ids, reading the clock and the files the sink writes.
pub(crate) fn builder(cfg: &AssemblerConfig) -> BuildFn {
    let cfg = cfg.clone();
    Box::new(move |trigger, rows, files| {
        let batch = rows.info().batch.clone();
        let partners: Vec<&Partner> = (cfg.partners.iter())
            .filter(|p| p.takes(MessageKind::EndOfBatch) && p.eob_trigger == trigger)
            .collect();
        if partners.is_empty() {
            tracing::info!(%batch, at = moment(trigger), "no partner takes the End of Batch at this moment; none sent");
            return Ok(Vec::new());
        }
        let line = rows.info().line.clone();
        let read_point = cfg.read_points.get(&line).ok_or_else(|| {
            AssembleError::Data(format!(
                "line {line} of batch {batch} is no longer configured"
            ))
        })?;
        let place = Place {
            read_point: read_point.clone(),
            biz_location: cfg.biz_location.clone(),
        };
        let tz = |t| offset_text(&cfg.tz_offset, t);
        let mut docs = Vec::new();
        for partner in partners {
            let parts = build_one(rows, &place, partner, &tz, files)?;
            if parts.is_empty() {
                tracing::warn!(%batch, upstream = %partner.upstream, "batch commissioned nothing this partner hears of; no End of Batch sent");
            }
            docs.extend(parts);
        }
        Ok(docs)
    })
}

/// One partner's End of Batch, as outbox documents in sending order.
fn build_one(
    rows: &mut dyn rows::BatchRows,
    place: &Place,
    partner: &Partner,
    tz: &dyn Fn(DateTime<Utc>) -> String,
    files: &mut OutboxFiles,
) -> Result<Vec<NewDocument>, AssembleError> {
    let mut progress = |_| {};
    let mut ctx = eob::Context {
        place,
        partner,
        created: Utc::now(),
        tz,
        progress: &mut progress,
    };
    let mut new_id = || uuid::Uuid::new_v4().to_string();
    let mut sink = files.sink(partner.format);
    let parts = eob::end_of_batch(rows, &mut ctx, &mut sink, &mut new_id)?;
    let count = parts.len();
    Ok(parts
        .into_iter()
        .map(|p| NewDocument {
            file: OutboxFiles::file_name(&p.document_id, partner.format),
            document_id: p.document_id,
            kind: MessageKind::EndOfBatch.as_str().into(),
            content_type: partner.format.content_type().into(),
            upstream: partner.upstream.clone(),
            part: p.part,
            parts: count,
            bytes: p.bytes,
            format: partner.format.as_str().into(),
        })
        .collect())
}
