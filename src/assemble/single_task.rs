//! The per-event reporter task: beside the End of Batch assembler, it turns every applied line
//! message a partner takes per event (`commission`, `aggregation`, `disaggregation`,
//! `decommission`, `destroy`, `sample`, `status_update`) into that partner's document, in the
//! order the messages were applied.
//!
//! It starts the cursors of partners seen for the first time at the current end of the log
//! (they are not flooded with the site's history), then asks the store for the next message
//! past the cursors: the store reads it through a read-only snapshot on a blocking thread and
//! runs the build below (`single::event_message` for each partner that takes that kind, into
//! outbox files), then one writer transaction records the documents and advances the cursors.
//! It drains what is waiting and then polls every second: the store's wake-ups do not fit (no
//! wake-up says "a message was applied", and `batch_closed` wakes one waiter only — the
//! assembler's). A failed build is retried and holds back later messages, as a document
//! waiting for a retry holds back later ones: partners get the steps in causal order.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::eob::{Context, Place};
use super::partner::{MessageKind, Partner};
use super::rows::AssembleError;
use super::single::{event_message, line_kind};
use super::{AssemblerConfig, offset_text};
use crate::model::NewDocument;
use crate::store::{EventBuildFn, Interest, OutboxFiles, Reported, Store};

/// How often the reporter looks for new line messages once it has caught up.
const POLL: Duration = Duration::from_secs(1);
/// How long it waits after a store error or a failed build before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// The partners that take any per-event message, and which.
pub fn interest(partners: &[Partner]) -> Vec<Interest> {
    partners
        .iter()
        .filter_map(|p| {
            let kinds: Vec<MessageKind> = (p.messages.iter().copied())
                .filter(|k| line_kind(*k).is_some())
                .collect();
            (!kinds.is_empty()).then(|| Interest {
                upstream: p.upstream.clone(),
                kinds,
            })
        })
        .collect()
}

/// Runs until `shutdown`; returns at once when no partner takes a per-event message.
pub async fn run(store: Store, cfg: AssemblerConfig, shutdown: CancellationToken) {
    let interest = interest(&cfg.partners);
    if interest.is_empty() {
        return;
    }
    let upstreams: Vec<String> = interest.iter().map(|i| i.upstream.clone()).collect();
    while let Err(e) = store.start_cursors(upstreams.clone()).await {
        tracing::error!(error = %e, "cannot start the per-event cursors; retrying in 5 s");
        if !pause(&shutdown, RETRY).await {
            return;
        }
    }
    loop {
        let wait = match store
            .report_next_event(interest.clone(), builder(&cfg))
            .await
        {
            Ok(Some(Reported::Documents {
                seq,
                kind,
                document_ids,
            })) => {
                tracing::debug!(
                    seq,
                    kind = kind.as_str(),
                    documents = document_ids.len(),
                    "line message reported"
                );
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            Ok(Some(Reported::Failed { seq, reason })) => {
                tracing::error!(seq, %reason, "line message could not be reported; retrying in 5 s");
                RETRY
            }
            Ok(None) => POLL,
            Err(e) => {
                tracing::error!(error = %e, "per-event reporting failed; retrying in 5 s");
                RETRY
            }
        };
        if !pause(&shutdown, wait).await {
            return;
        }
    }
}

/// Waits `d`; false when shutdown came first.
async fn pause(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The build step handed to the store: each taking partner's document for the message,
/// streamed into outbox files. Pure apart from drawing ids, reading the clock and the files.
pub fn builder(cfg: &AssemblerConfig) -> EventBuildFn {
    let cfg = cfg.clone();
    Box::new(move |rows, takers, files| {
        let info = rows.info().clone();
        let read_point = cfg.read_points.get(&info.line).ok_or_else(|| {
            AssembleError::Data(format!(
                "line {} of message {} is no longer configured",
                info.line, info.message_id
            ))
        })?;
        let place = Place {
            read_point: read_point.clone(),
            biz_location: cfg.biz_location.clone(),
        };
        let tz = |t| offset_text(&cfg.tz_offset, t);
        let mut docs = Vec::new();
        for partner in cfg.partners.iter().filter(|p| takers.contains(&p.upstream)) {
            let mut progress = |_: u64| {};
            let ctx = Context {
                place: &place,
                partner,
                created: Utc::now(),
                tz: &tz,
                progress: &mut progress,
            };
            let mut new_id = || uuid::Uuid::new_v4().to_string();
            let parts = event_message(rows, &ctx, &mut files.sink(partner.format), &mut new_id)?;
            let count = parts.len();
            docs.extend(parts.into_iter().map(|p| NewDocument {
                file: OutboxFiles::file_name(&p.document_id, partner.format),
                document_id: p.document_id,
                kind: info.kind.as_str().into(),
                content_type: partner.format.content_type().into(),
                upstream: partner.upstream.clone(),
                part: p.part,
                parts: count,
                bytes: p.bytes,
                format: partner.format.as_str().into(),
            }));
        }
        Ok(docs)
    })
}
