//! The End of Batch: what a CMO tells the marketing-authorization holder when a batch is done.
//!
//! Pure: rows come from `BatchRows` (the store's read snapshot, or a fixture), events go to a
//! `Splitter`, one at a time, so a batch of any size is written in bounded memory. The events,
//! in causal order (MESSAGES.md §3.11):
//!
//! 1. **Commission** ObjectEvents (ADD / commissioning / active): saleable units first, then
//!    cases, then pallets — a level per event, at most `max_epcs_per_event` EPCs each, SGTINs
//!    and SSCCs never mixed. SGTIN events carry the batch's lot and expiry (ILMD; a batch is one
//!    lot), SSCC events carry none. An event stands at the latest commissioning it reports.
//! 2. **Aggregation** AggregationEvents (ADD / packing / in_progress), one per container that
//!    holds something at the end, innermost first (cases before the pallets they are on), with
//!    the container's present contents, at the time it was last packed. (variants with
//!    aggregation)
//! 3. **Decommission / destroy** ObjectEvents (DELETE / decommissioning / inactive, or
//!    destroying / destroyed), one per line message that took units out; a QA sample is
//!    reported as a decommission (CBV 1.2 has no sampling step). Only in the "rejects"
//!    variants; the other variants leave the units taken out of the commission events too.
//! 4. **Product release**: one ObjectEvent per `max_epcs_per_event` top-level identifiers
//!    (pallets, loose cases, loose units) with the partner's action, bizStep and disposition
//!    (default OBSERVE / inspecting / sellable_not_accessible), at the release time (the close time when the
//!    partner takes the End of Batch at close). In "…-rejects-release" it comes last.

use chrono::{DateTime, Utc};

use super::partner::{EobVariant, Partner};
use super::rows::{AssembleError, BatchRows, EndKind, EndRow};
use super::split::{DocumentSink, HeaderTemplate, PartInfo, Splitter, push_chunks};
use crate::epcis::{Action, Event, Ilmd, PackagingLevel, Term, cbv};
use crate::gs1::EpcUri;
use crate::rules::SerialState;

/// Where the batch was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// SGLN of the line (readPoint).
    pub read_point: EpcUri,
    /// SGLN of the site (bizLocation).
    pub biz_location: EpcUri,
}

/// Everything but the rows: who, where, when, and a progress callback.
pub struct Context<'a> {
    pub place: &'a Place,
    pub partner: &'a Partner,
    /// The documents' creation time.
    pub created: DateTime<Utc>,
    /// The line's `±hh:mm` at an instant.
    pub tz: &'a dyn Fn(DateTime<Utc>) -> String,
    /// Called with the number of identifiers written so far (for progress bars).
    pub progress: &'a mut dyn FnMut(u64),
}

impl Context<'_> {
    pub(super) fn template(&self) -> HeaderTemplate {
        HeaderTemplate {
            created: self.created,
            sender_gln: self.partner.sender_gln.clone(),
            receiver_gln: self.partner.receiver_gln.clone(),
            dscsa_statement: None,
            tracelink_extensions: self.partner.tracelink_extensions,
        }
    }

    /// An AggregationEvent of `container` and `children` at the line and site (packing or
    /// unpacking, in_progress), with the container's packaging level.
    pub(super) fn packing(
        &self,
        container: EpcUri,
        level: PackagingLevel,
        children: Vec<EpcUri>,
        (action, step): (Action, &str),
        t: DateTime<Utc>,
    ) -> Event {
        let mut e = Event::aggregation(Some(container), children, action, t, (self.tz)(t))
            .with_step(step, cbv::IN_PROGRESS)
            .at(
                Some(self.place.read_point.clone()),
                Some(self.place.biz_location.clone()),
            );
        e.packaging_level = Some(level);
        e
    }

    pub(super) fn object(&self, epcs: Vec<EpcUri>, action: Action, t: DateTime<Utc>) -> Event {
        Event::object(epcs, action, t, (self.tz)(t)).at(
            Some(self.place.read_point.clone()),
            Some(self.place.biz_location.clone()),
        )
    }
}

/// Commission events of one level, filled as rows come and pushed when full.
struct CommissionChunks {
    level: PackagingLevel,
    ilmd: Ilmd,
    max: usize,
    sgtins: (Vec<EpcUri>, Option<DateTime<Utc>>),
    ssccs: (Vec<EpcUri>, Option<DateTime<Utc>>),
}

impl CommissionChunks {
    fn add<S: DocumentSink>(
        &mut self,
        epc: EpcUri,
        at: DateTime<Utc>,
        ctx: &Context<'_>,
        out: &mut Splitter<'_, S>,
    ) -> Result<(), AssembleError> {
        let sscc = epc.is_sscc();
        let chunk = if sscc {
            &mut self.ssccs
        } else {
            &mut self.sgtins
        };
        chunk.0.push(epc);
        chunk.1 = chunk.1.max(Some(at));
        if chunk.0.len() >= self.max {
            self.flush(sscc, ctx, out)?;
        }
        Ok(())
    }

    fn flush<S: DocumentSink>(
        &mut self,
        sscc: bool,
        ctx: &Context<'_>,
        out: &mut Splitter<'_, S>,
    ) -> Result<(), AssembleError> {
        let chunk = if sscc {
            &mut self.ssccs
        } else {
            &mut self.sgtins
        };
        let (Some(t), false) = (chunk.1, chunk.0.is_empty()) else {
            return Ok(());
        };
        let epcs = std::mem::take(&mut chunk.0);
        chunk.1 = None;
        let mut e = ctx
            .object(epcs, Action::Add, t)
            .with_step(cbv::COMMISSIONING, cbv::ACTIVE);
        if !sscc {
            e.ilmd = Some(self.ilmd.clone());
        }
        e.packaging_level = Some(self.level);
        out.push(e)
    }
}

/// Writes the End of Batch for `ctx.partner` into `sink`; the parts in sending order. No part
/// when the batch commissioned nothing the partner would hear of.
pub fn end_of_batch<R: BatchRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &mut Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let partner = ctx.partner;
    let variant = partner.eob_variant;
    let limits = partner.limits;
    let max = limits.max_epcs_per_event.max(1);
    let mut out = Splitter::new(partner.format, limits, ctx.template(), sink, new_id)?;
    let info = rows.info().clone();
    let ilmd = Ilmd {
        lot: info.lot.clone(),
        expiry: info.expiry,
    };
    let mut written = 0u64;

    // 1. Commission, a level at a time.
    for level in [
        PackagingLevel::Each,
        PackagingLevel::Case,
        PackagingLevel::Pallet,
    ] {
        let mut chunks = CommissionChunks {
            level,
            ilmd: ilmd.clone(),
            max,
            sgtins: (Vec::new(), None),
            ssccs: (Vec::new(), None),
        };
        let c = &*ctx;
        rows.units(level, &mut |u| {
            let out_of_line = matches!(
                u.state,
                SerialState::Decommissioned | SerialState::Destroyed | SerialState::Sampled
            );
            if out_of_line && !variant.rejects() {
                return Ok(());
            }
            written += 1;
            chunks.add(u.epc, u.commissioned_at, c, &mut out)
        })?;
        chunks.flush(false, ctx, &mut out)?;
        chunks.flush(true, ctx, &mut out)?;
        (ctx.progress)(written);
    }
    if out.events() == 0 {
        return out.finish();
    }

    // 2. Aggregation, innermost first.
    if variant.aggregation() {
        for container in rows.containers()? {
            let mut children = Vec::new();
            rows.children(container.id, &mut |epc| {
                children.push(epc);
                Ok(())
            })?;
            if children.is_empty() {
                continue;
            }
            let (at, level) = (container.packed_at, container.level);
            let step = (Action::Add, cbv::PACKING);
            out.push(ctx.packing(container.epc, level, children, step, at))?;
        }
    }

    // 3 and 4, in the variant's order.
    let release_at = info.released_at.unwrap_or(info.closed_at);
    match variant {
        EobVariant::CommissionAggregationRejectsRelease => {
            ends(rows, ctx, max, &mut out)?;
            release(rows, ctx, max, release_at, &mut out)?;
        }
        EobVariant::CommissionReleaseRejects => {
            release(rows, ctx, max, release_at, &mut out)?;
            ends(rows, ctx, max, &mut out)?;
        }
        EobVariant::CommissionAggregationRelease | EobVariant::CommissionRelease => {
            release(rows, ctx, max, release_at, &mut out)?;
        }
    }
    out.finish()
}

/// The product release event(s) over the batch's top-level identifiers.
fn release<R: BatchRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &Context<'_>,
    max: usize,
    at: DateTime<Utc>,
    out: &mut Splitter<'_, S>,
) -> Result<(), AssembleError> {
    let r = &ctx.partner.release;
    let make = |epcs: Vec<EpcUri>| {
        let mut e = ctx.object(epcs, r.action, at);
        e.biz_step = Some(r.biz_step.clone());
        e.disposition = Some(r.disposition.clone());
        e
    };
    push_chunks(out, max, make, |visit| rows.top_level(visit))
}

/// The bizStep and disposition a unit taken out is reported with.
pub(super) fn end_step(kind: EndKind) -> (&'static str, &'static str) {
    match kind {
        EndKind::Destroy => (cbv::DESTROYING, cbv::DESTROYED),
        EndKind::Decommission | EndKind::Sample => (cbv::DECOMMISSIONING, cbv::INACTIVE),
    }
}

/// Decommission and destroy events: one per message (and per `max` EPCs).
fn ends<R: BatchRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &Context<'_>,
    max: usize,
    out: &mut Splitter<'_, S>,
) -> Result<(), AssembleError> {
    let push = |group: &mut Option<(EndRow, Vec<EpcUri>)>,
                out: &mut Splitter<'_, S>|
     -> Result<(), AssembleError> {
        if let Some((first, epcs)) = group.take() {
            let (step, disp) = end_step(first.kind);
            let mut e = ctx.object(epcs, Action::Delete, first.time);
            e.biz_step = Some(Term::biz_step(step));
            e.disposition = Some(Term::disposition(disp));
            out.push(e)?;
        }
        Ok(())
    };
    let mut group: Option<(EndRow, Vec<EpcUri>)> = None;
    rows.ends(&mut |row| {
        let same = group
            .as_ref()
            .is_some_and(|(g, epcs)| g.event == row.event && epcs.len() < max);
        if !same {
            push(&mut group, out)?;
        }
        let epc = row.epc.clone();
        group.get_or_insert_with(|| (row, Vec::new())).1.push(epc);
        Ok(())
    })?;
    push(&mut group, out)
}

#[cfg(test)]
#[path = "eob_tests.rs"]
mod tests;
