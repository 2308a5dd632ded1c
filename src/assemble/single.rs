//! Per-event reporting: one line message, one document (an ESM message, MESSAGES.md §3.1–3.6,
//! §3.10), for partners that want to hear of each step as it happens instead of (or besides)
//! the End of Batch.
//!
//! Pure, like `eob`: the message's rows come from `EventRows` (the store's read snapshot, or a
//! fixture), events go to a `Splitter`. What each line message becomes:
//!
//! * `commission` → ObjectEvents ADD / commissioning / active, a packaging level per event
//!   (units, then cases, then pallets), SGTINs and SSCCs never mixed, at most
//!   `max_epcs_per_event` EPCs each; SGTIN events carry their batch's lot and expiry (ILMD).
//! * `aggregate` → one AggregationEvent ADD / packing / in_progress: the container and the
//!   children this message packed (not what the container held before).
//! * `disaggregate` → one AggregationEvent DELETE / unpacking / in_progress: the container and
//!   the children this message unpacked.
//! * `decommission` → ObjectEvents DELETE / decommissioning / inactive; `destroy` → DELETE /
//!   destroying / destroyed.
//! * `sample` → reported as a decommission. CBV 1.2 has no sampling step (CBV 2.0's `sampling`
//!   is destructive and 1.2 receivers refuse it), and TraceLink's own Take Sample message
//!   (`SOM_TAKE_SAMPLE`) is TraceLink business XML, not EPCIS, so it is not what we send.
//! * `correct_status` (a sample taken back) → exactly one ObjectEvent OBSERVE with disposition
//!   active and no bizStep (§3.10 wants one event), whatever its size.
//!
//! Every event stands at the message's time, at the line's readPoint and the site's
//! bizLocation.

use chrono::{DateTime, Utc};

use super::eob::{Context, end_step};
use super::partner::MessageKind;
use super::rows::{AssembleError, EndKind, Visit};
use super::split::{DocumentSink, PartInfo, Splitter};
use crate::epcis::{Action, Event, Ilmd, PackagingLevel, Term, cbv};
use crate::gs1::EpcUri;

/// The line message a document reports: one `serial_events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInfo {
    /// Its sequence number: documents go out in this order.
    pub seq: i64,
    pub line: String,
    pub message_id: String,
    pub kind: MessageKind,
    pub time: DateTime<Utc>,
    pub reason: Option<String>,
}

/// One identifier the message changed.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchedRow {
    /// The store's row id.
    pub id: i64,
    pub epc: EpcUri,
    pub level: PackagingLevel,
    /// The lot and expiry of its batch.
    pub ilmd: Ilmd,
}

/// Read access to one applied line message, from one consistent snapshot.
pub trait EventRows {
    fn info(&self) -> &EventInfo;

    /// The container an `aggregate` or `disaggregate` packed into or unpacked from; None for
    /// other kinds.
    fn container(&mut self) -> Result<Option<TouchedRow>, AssembleError>;

    /// Every identifier the message changed except that container: by level (units, cases,
    /// pallets), SGTINs before SSCCs, then by batch, then in commissioning order (row id).
    fn touched(&mut self, visit: Visit<'_, TouchedRow>) -> Result<(), AssembleError>;
}

/// The per-event message kind of a `serial_events.kind`, if any partner can take it.
pub fn message_kind(line_kind: &str) -> Option<MessageKind> {
    Some(match line_kind {
        "commission" => MessageKind::Commission,
        "aggregate" => MessageKind::Aggregation,
        "disaggregate" => MessageKind::Disaggregation,
        "decommission" => MessageKind::Decommission,
        "destroy" => MessageKind::Destroy,
        "sample" => MessageKind::Sample,
        "correct_status" => MessageKind::StatusUpdate,
        _ => return None,
    })
}

/// The `serial_events.kind` a per-event message reports; None for the other messages.
pub fn line_kind(kind: MessageKind) -> Option<&'static str> {
    Some(match kind {
        MessageKind::Commission => "commission",
        MessageKind::Aggregation => "aggregate",
        MessageKind::Disaggregation => "disaggregate",
        MessageKind::Decommission => "decommission",
        MessageKind::Destroy => "destroy",
        MessageKind::Sample => "sample",
        MessageKind::StatusUpdate => "correct_status",
        _ => return None,
    })
}

/// What keeps EPCs apart in one ObjectEvent: level, SSCC or not, and (commission) the lot.
type GroupKey = (PackagingLevel, bool, Option<Ilmd>);

/// Writes the document(s) of one line message for `ctx.partner` into `sink`; the parts in
/// sending order, none when the message changed nothing this builder reports.
pub fn event_message<R: EventRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let partner = ctx.partner;
    let info = rows.info().clone();
    let max = partner.limits.max_epcs_per_event.max(1);
    let mut out = Splitter::new(partner.format, partner.limits, ctx.template(), sink, new_id)?;
    let t = info.time;
    match info.kind {
        MessageKind::Commission => objects(rows, max, true, &mut out, &|epcs, key| {
            let mut e = ctx
                .object(epcs, Action::Add, t)
                .with_step(cbv::COMMISSIONING, cbv::ACTIVE);
            e.ilmd = key.2.clone();
            e.packaging_level = Some(key.0);
            e
        })?,
        MessageKind::Decommission | MessageKind::Destroy | MessageKind::Sample => {
            let end = match info.kind {
                MessageKind::Destroy => EndKind::Destroy,
                MessageKind::Sample => EndKind::Sample,
                _ => EndKind::Decommission,
            };
            let (step, disposition) = end_step(end);
            objects(rows, max, false, &mut out, &|epcs, _| {
                ctx.object(epcs, Action::Delete, t)
                    .with_step(step, disposition)
            })?
        }
        MessageKind::StatusUpdate => {
            let mut epcs = Vec::new();
            rows.touched(&mut |r| {
                epcs.push(r.epc);
                Ok(())
            })?;
            if !epcs.is_empty() {
                let mut e = ctx.object(epcs, Action::Observe, t);
                e.disposition = Some(Term::disposition(cbv::ACTIVE));
                out.push(e)?;
            }
        }
        MessageKind::Aggregation | MessageKind::Disaggregation => {
            let Some(container) = rows.container()? else {
                return Err(AssembleError::Data(format!(
                    "message {} of line {} names no container",
                    info.message_id, info.line
                )));
            };
            let mut children = Vec::new();
            rows.touched(&mut |r| {
                children.push(r.epc);
                Ok(())
            })?;
            let step = match info.kind {
                MessageKind::Aggregation => (Action::Add, cbv::PACKING),
                _ => (Action::Delete, cbv::UNPACKING),
            };
            out.push(ctx.packing(container.epc, container.level, children, step, t))?;
        }
        other => {
            return Err(AssembleError::Data(format!(
                "{} is not reported per event",
                other.as_str()
            )));
        }
    }
    out.finish()
}

/// ObjectEvents over the touched rows: a new event where the group key changes or `max` EPCs
/// are reached. `lots` keeps lots apart and gives SGTIN groups their ILMD (commission only).
fn objects<R: EventRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    max: usize,
    lots: bool,
    out: &mut Splitter<'_, S>,
    make: &dyn Fn(Vec<EpcUri>, &GroupKey) -> Event,
) -> Result<(), AssembleError> {
    let mut group: Option<(GroupKey, Vec<EpcUri>)> = None;
    let flush = |group: &mut Option<(GroupKey, Vec<EpcUri>)>,
                 out: &mut Splitter<'_, S>|
     -> Result<(), AssembleError> {
        match group.take() {
            Some((key, epcs)) if !epcs.is_empty() => out.push(make(epcs, &key)),
            _ => Ok(()),
        }
    };
    rows.touched(&mut |r| {
        let sscc = r.epc.is_sscc();
        let key = (r.level, sscc, (lots && !sscc).then_some(r.ilmd));
        let same = group
            .as_ref()
            .is_some_and(|(k, epcs)| *k == key && epcs.len() < max);
        if !same {
            flush(&mut group, out)?;
        }
        group.get_or_insert_with(|| (key, Vec::new())).1.push(r.epc);
        Ok(())
    })?;
    flush(&mut group, out)
}

#[cfg(test)]
#[path = "single_tests.rs"]
mod tests;
