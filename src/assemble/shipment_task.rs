//! The assembler's shipment step: after the due End of Batch documents, every shipment, void
//! and receipt whose documents are due becomes a document for each partner that takes that
//! message (`[[upstream]] messages`: `shipment`, `void_shipment`, `receive`).
//!
//! The store picks the oldest due message (in the order the line messages were applied; a void
//! after its shipment's document), reads it through a read-only snapshot on a blocking thread
//! and runs the build below (`shipment::shipment`, `void_shipment` or `receive`, into outbox
//! files); then one writer transaction records the documents and their deliveries and marks the
//! message assembled. A message no partner takes is marked assembled with no document. A build
//! that fails on the data is parked as failed (logged); a store error ends the step until the
//! assembler's next round.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::eob::{Context, Place};
use super::partner::Partner;
use super::shipment::{receive, shipment, void_shipment};
use super::{AssemblerConfig, offset_text};
use crate::model::NewDocument;
use crate::store::{OutboxFiles, ShipmentAssembled, ShipmentBuildFn, ShipmentJob, Store};

/// Assembles every due shipment message, oldest first; returns when none is due, on a store
/// error (logged; the next round retries) or at shutdown.
pub async fn drain(store: &Store, cfg: &AssemblerConfig, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        match store.assemble_next_shipment(builder(cfg)).await {
            Ok(Some(ShipmentAssembled::Documents {
                kind,
                document,
                document_ids,
            })) => {
                tracing::info!(kind = kind.as_str(), %document, documents = document_ids.len(), "shipment message assembled into the outbox");
            }
            Ok(Some(ShipmentAssembled::Failed {
                kind,
                document,
                reason,
            })) => {
                tracing::error!(kind = kind.as_str(), %document, %reason, "shipment message could not be assembled; it is parked as failed");
            }
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "assembling a shipment message failed; retrying at the next round");
                return;
            }
        }
    }
}

/// The build step handed to the store: each taking partner's document(s) of the message,
/// streamed into outbox files. Pure apart from drawing ids, reading the clock and the files.
pub fn builder(cfg: &AssemblerConfig) -> ShipmentBuildFn {
    let cfg = cfg.clone();
    Box::new(move |mut job, files| {
        let kind = job.kind();
        let site = cfg.biz_location.clone();
        let line = match &job {
            ShipmentJob::Shipment(rows) | ShipmentJob::Void(rows) => Some(rows.info().line.clone()),
            ShipmentJob::Receipt(_) => None,
        };
        // Commission and packing events are read on the line; a receipt at the site.
        let place = Place {
            read_point: (line.and_then(|l| cfg.read_points.get(&l).cloned()))
                .unwrap_or(site.clone()),
            biz_location: site,
        };
        let tz = |t| offset_text(&cfg.tz_offset, t);
        let mut docs = Vec::new();
        for partner in cfg.partners.iter().filter(|p| p.takes(kind)) {
            let mut progress = |_: u64| {};
            let mut ctx = Context {
                place: &place,
                partner,
                created: Utc::now(),
                tz: &tz,
                progress: &mut progress,
            };
            let mut new_id = || uuid::Uuid::new_v4().to_string();
            let mut sink = files.sink(partner.format);
            let parts = match &mut job {
                ShipmentJob::Shipment(rows) => shipment(*rows, &mut ctx, &mut sink, &mut new_id)?,
                ShipmentJob::Void(rows) => void_shipment(*rows, &mut ctx, &mut sink, &mut new_id)?,
                ShipmentJob::Receipt(r) => receive(r, &mut ctx, &mut sink, &mut new_id)?,
            };
            docs.extend(documents(partner, kind.as_str(), parts));
        }
        Ok(docs)
    })
}

fn documents(
    partner: &Partner,
    kind: &'static str,
    parts: Vec<super::split::PartInfo>,
) -> impl Iterator<Item = NewDocument> {
    let count = parts.len();
    let (format, upstream) = (partner.format, partner.upstream.clone());
    parts.into_iter().map(move |p| NewDocument {
        file: OutboxFiles::file_name(&p.document_id, format),
        document_id: p.document_id,
        kind: kind.to_string(),
        content_type: format.content_type().into(),
        upstream: upstream.clone(),
        part: p.part,
        parts: count,
        bytes: p.bytes,
        format: format.as_str().into(),
    })
}
