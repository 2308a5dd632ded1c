//! The filling of `linegate bench backlog`: each batch's share of the day's reads, built in
//! chunks into outbox files (`assemble::backlog` through the `Splitter`, `OutboxFiles`) and each
//! chunk recorded in one writer transaction (`Store::enqueue_documents`) once its files are
//! durable. Batches are independent ordering groups, so threads fill them side by side; within
//! a batch the chunks are recorded in order, so its documents leave in read order.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use super::today;
use crate::assemble::backlog::unit_commissions;
use crate::assemble::eob::{Context, Place};
use crate::assemble::partner::MessageKind;
use crate::config::{Config, Upstream};
use crate::epcis::Ilmd;
use crate::gs1::EpcUri;
use crate::model::NewDocument;
use crate::store::{OutboxFiles, Store};

/// The most events built and recorded per transaction, and the most documents.
const CHUNK_EVENTS: usize = 50_000;
const CHUNK_DOCUMENTS: usize = 1_000;

/// What the filler threads share.
pub(super) struct Fill<'a> {
    pub(super) config: &'a Config,
    pub(super) up: &'a Upstream,
    pub(super) place: Place,
    pub(super) tag: String,
    /// The units' EPC URI without the serial.
    pub(super) base: String,
    pub(super) events: usize,
    pub(super) events_per_document: usize,
    pub(super) groups: usize,
    pub(super) day_start: DateTime<Utc>,
    pub(super) bar: ProgressBar,
    pub(super) store: Store,
    pub(super) runtime: tokio::runtime::Handle,
    /// The next batch to fill; `stop` once one failed.
    pub(super) next: AtomicUsize,
    pub(super) stop: AtomicBool,
    pub(super) documents: AtomicUsize,
    pub(super) bytes: AtomicU64,
}

impl Fill<'_> {
    /// Fills batches until none is left (or another thread failed).
    pub(super) fn work(&self) -> anyhow::Result<()> {
        loop {
            let g = self.next.fetch_add(1, Ordering::Relaxed);
            if g >= self.groups || self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if let Err(e) = self.group(g) {
                self.stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    }

    /// Batch `g`: its share of the day's reads, in chunks, each chunk's files written and then
    /// recorded in one transaction.
    fn group(&self, g: usize) -> anyhow::Result<()> {
        let batch = format!("BACKLOG-{}-{}", self.tag, g + 1);
        let ilmd = Ilmd {
            lot: batch.clone(),
            expiry: today() + chrono::Days::new(730),
        };
        let step_ns = 86_400_000_000_000 / self.events as i64;
        let per_chunk = (CHUNK_EVENTS / self.events_per_document).clamp(1, CHUNK_DOCUMENTS)
            * self.events_per_document;
        let (from, to) = (
            self.events * g / self.groups,
            self.events * (g + 1) / self.groups,
        );
        let mut start = from;
        while start < to && !self.stop.load(Ordering::Relaxed) {
            let end = (start + per_chunk).min(to);
            // The serials are letters and digits: nothing to escape in the URI.
            let reads = (start..end).map(|i| {
                let t = self.day_start + chrono::Duration::nanoseconds(step_ns * i as i64);
                let serial = format!("BL{}{:02}N{i:08}", self.tag, g + 1);
                (EpcUri::from_rendered(format!("{}{serial}", self.base)), t)
            });
            let docs = build_chunk(self, &ilmd, reads)?;
            self.documents.fetch_add(docs.len(), Ordering::Relaxed);
            let bytes: u64 = docs.iter().map(|d| d.bytes).sum();
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            let files: Vec<_> = docs.iter().map(|d| d.file.clone()).collect();
            let recorded = self.runtime.block_on(self.store.enqueue_documents(
                docs,
                Some(batch.clone()),
                format!("batch:{batch}"),
            ));
            if let Err(e) = recorded {
                let dir = self.config.gateway.data_dir.join(crate::store::OUTBOX_DIR);
                for f in files {
                    let _ = std::fs::remove_file(dir.join(f));
                }
                return Err(e).context("recording the documents");
            }
            start = end;
        }
        Ok(())
    }
}

/// Writes one chunk of reads into outbox files; the documents to record, in order.
fn build_chunk(
    fill: &Fill<'_>,
    ilmd: &Ilmd,
    reads: impl Iterator<Item = (EpcUri, DateTime<Utc>)>,
) -> anyhow::Result<Vec<NewDocument>> {
    let (config, partner) = (fill.config, &fill.up.partner);
    let fixed = config.gateway.timezone_offset.clone();
    let tz = move |t: DateTime<Utc>| crate::assemble::offset_text(&fixed, t);
    let mut shown = 0;
    let mut progress = |n: u64| {
        fill.bar.inc(n - shown);
        shown = n;
    };
    let mut ctx = Context {
        place: &fill.place,
        partner,
        created: Utc::now(),
        tz: &tz,
        progress: &mut progress,
    };
    let mut files = OutboxFiles::open(&config.gateway.data_dir).with_context(|| {
        format!(
            "opening the outbox under {}",
            config.gateway.data_dir.display()
        )
    })?;
    let mut new_id = || uuid::Uuid::new_v4().to_string();
    let mut sink = files.sink(partner.format);
    let parts = unit_commissions(
        &mut ctx,
        ilmd,
        reads,
        fill.events_per_document,
        &mut sink,
        &mut new_id,
    );
    let parts = match parts {
        Ok(p) => p,
        Err(e) => {
            for f in files.written() {
                let _ = std::fs::remove_file(f);
            }
            return Err(e).context("writing the documents");
        }
    };
    Ok(parts
        .into_iter()
        .map(|p| NewDocument {
            file: OutboxFiles::file_name(&p.document_id, partner.format),
            document_id: p.document_id,
            kind: MessageKind::Commission.as_str().into(),
            content_type: partner.format.content_type().into(),
            upstream: fill.up.name.clone(),
            part: 1,
            parts: 1,
            format: partner.format.as_str().into(),
            bytes: p.bytes,
        })
        .collect())
}
