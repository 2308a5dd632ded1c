//! Shipment, Void Shipment and Receive: what a CMO tells its partner when goods leave, when a
//! sale did not leave after all, and when goods come back (MESSAGES.md §3.7–3.9).
//!
//! Pure, like `eob`: a shipment's rows come from `ShipmentRows` (the store's read snapshot of
//! what left, or a fixture), events go to a `Splitter` one at a time. A Shipment is, in causal
//! order and as the partner's `shipment_variant` asks:
//!
//! 1. **Commission** ObjectEvents (ADD / commissioning / active) of everything shipped, the
//!    top-level identifiers and the whole hierarchy under them: per batch, a level at a time
//!    (units, cases, pallets), at most `max_epcs_per_event` EPCs each, SGTINs and SSCCs never
//!    mixed; SGTIN events carry their batch's lot and expiry (ILMD). (variants with commission)
//! 2. **Aggregation** AggregationEvents (ADD / packing / in_progress, with bizLocation): one per
//!    container of the hierarchy, innermost first, with the children it left with. (variants
//!    with aggregation)
//! 3. **Shipping** ObjectEvent(s) (OBSERVE / shipping / in_transit) over the top-level
//!    identifiers, read at the ship-from place, with the purchase order and the despatch advice
//!    (`urn:epcglobal:cbv:bt:<GLN>:<number>`: the buyer's GLN for the PO, the shipper's for the
//!    despatch advice), the ship-from owning party and place as sources and the ship-to ones as
//!    destinations; no bizLocation (in transit). A sale to a partner with `dscsa_statement`
//!    carries the DSCSA transaction statement in the header.
//!
//! A Void Shipment is one ObjectEvent (OBSERVE / void_shipping / in_progress) over the top-level
//! identifiers with the despatch advice; a Receive one ObjectEvent (OBSERVE / receiving /
//! in_progress) at the site with the receiving advice (and the despatch advice, if known). An
//! unset ship-from is the site: `Place::biz_location`, whose GLN is the site's.

use chrono::{DateTime, NaiveDate, Utc};

use super::eob::Context;
use super::rows::{AssembleError, ContainerRow, Visit};
use super::split::{DocumentSink, PartInfo, Splitter, push_chunks};
use crate::epcis::PackagingLevel::{Case, Each, Pallet};
use crate::epcis::{
    Action, BizTransaction, DscsaStatement, Event, Ilmd, PackagingLevel, SourceDest, Term,
    Vocabulary, cbv,
};
use crate::gs1::{EpcUri, check_digit};
use crate::model::{Party, ShipmentKind};

/// A shipment as recorded, with its void if there was one.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipmentInfo {
    /// The despatch-advice number.
    pub shipment: String,
    pub line: String,
    pub kind: ShipmentKind,
    pub po: Option<String>,
    /// None: the site.
    pub from_party: Option<Party>,
    pub from_location: Option<EpcUri>,
    pub to_party: Party,
    pub to_location: EpcUri,
    pub shipped_at: DateTime<Utc>,
    /// When it was voided, and the change-reason code.
    pub voided: Option<(DateTime<Utc>, String)>,
}

/// A batch with identifiers in the shipment: its lot master data.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippedBatch {
    pub batch: String,
    pub lot: String,
    pub expiry: NaiveDate,
}

/// One identifier that left.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippedUnit {
    pub epc: EpcUri,
    pub commissioned_at: DateTime<Utc>,
}

/// Read access to one shipment, from one consistent snapshot: what left, as it left.
pub trait ShipmentRows {
    fn info(&self) -> &ShipmentInfo;

    /// The top-level identifiers (pallets, loose cases, loose units), in commissioning order.
    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError>;

    /// The batches of everything that left, in batch-id order.
    fn batches(&mut self) -> Result<Vec<ShippedBatch>, AssembleError>;

    /// Everything that left (top-level and contents) of `batch` at `level`, in commissioning
    /// order.
    fn units(
        &mut self,
        batch: &str,
        level: PackagingLevel,
        visit: Visit<'_, ShippedUnit>,
    ) -> Result<(), AssembleError>;

    /// The containers that left holding something, innermost first (each after the containers
    /// packed in it), then in commissioning order.
    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError>;

    /// What `container` held when it left (immediate children), in commissioning order.
    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError>;
}

/// A receipt as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptInfo {
    /// The receiving-advice number.
    pub document: String,
    pub received_at: DateTime<Utc>,
    /// The shipment it came with and the GLN of the party that shipped it (None: the site).
    pub shipment: Option<(String, Option<String>)>,
    /// The top-level identifiers received (a receipt names few).
    pub epcs: Vec<EpcUri>,
}

/// The GLN-13 of an SGLN without extension (`urn:epc:id:sgln:0361414.00000.0` → 0361414000001).
fn gln_of(sgln: &EpcUri) -> Result<String, AssembleError> {
    let body = sgln.as_str().strip_prefix("urn:epc:id:sgln:").unwrap_or("");
    let digits: String = body.splitn(3, '.').take(2).collect();
    match check_digit(&digits) {
        Some(cd) if digits.len() == 12 => Ok(format!("{digits}{cd}")),
        _ => Err(AssembleError::Data(format!("{sgln} is not a party's SGLN"))),
    }
}

/// A business-transaction id in CBV standard form.
fn transaction(kind: &str, gln: &str, number: &str) -> BizTransaction {
    BizTransaction {
        kind: Term::new(Vocabulary::BizTransactionType, kind),
        id: format!("urn:epcglobal:cbv:bt:{gln}:{number}"),
    }
}

fn source_dest(kind: &str, id: &EpcUri) -> SourceDest {
    SourceDest {
        kind: Term::new(Vocabulary::SourceDestType, kind),
        id: id.clone(),
    }
}

/// The ship-from party (its GLN and SGLN) and place, the site where unset.
fn ship_from(info: &ShipmentInfo, ctx: &Context<'_>) -> Result<(Party, EpcUri), AssembleError> {
    let site = &ctx.place.biz_location;
    let party = match &info.from_party {
        Some(p) => p.clone(),
        None => Party {
            gln: gln_of(site)?,
            sgln: site.clone(),
        },
    };
    Ok((party, info.from_location.clone().unwrap_or(site.clone())))
}

/// An ObjectEvent OBSERVE read at `read_point`.
fn observe(ctx: &Context<'_>, epcs: Vec<EpcUri>, t: DateTime<Utc>, read_point: &EpcUri) -> Event {
    Event::object(epcs, Action::Observe, t, (ctx.tz)(t)).at(Some(read_point.clone()), None)
}

/// Writes the Shipment for `ctx.partner` into `sink`; the parts in sending order.
pub fn shipment<R: ShipmentRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &mut Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let partner = ctx.partner;
    let info = rows.info().clone();
    let max = partner.limits.max_epcs_per_event.max(1);
    let mut template = ctx.template();
    if info.kind == ShipmentKind::Sale && partner.dscsa_statement {
        template.dscsa_statement = Some(DscsaStatement {
            legal_notice: partner.dscsa_legal_notice.clone(),
        });
    }
    let mut out = Splitter::new(partner.format, partner.limits, template, sink, new_id)?;
    if partner.shipment_variant.commission() {
        commissions(rows, ctx, max, &mut out)?;
    }
    if partner.shipment_variant.aggregation() {
        aggregations(rows, ctx, &mut out)?;
    }
    let (from, from_location) = ship_from(&info, ctx)?;
    let mut transactions = Vec::new();
    if let Some(po) = &info.po {
        transactions.push(transaction(cbv::BTT_PO, &info.to_party.gln, po));
    }
    transactions.push(transaction(cbv::BTT_DESADV, &from.gln, &info.shipment));
    let make = |epcs: Vec<EpcUri>| {
        let mut e = observe(ctx, epcs, info.shipped_at, &from_location)
            .with_step(cbv::SHIPPING, cbv::IN_TRANSIT);
        e.biz_transactions = transactions.clone();
        e.sources = vec![
            source_dest(cbv::SDT_OWNING_PARTY, &from.sgln),
            source_dest(cbv::SDT_LOCATION, &from_location),
        ];
        e.destinations = vec![
            source_dest(cbv::SDT_OWNING_PARTY, &info.to_party.sgln),
            source_dest(cbv::SDT_LOCATION, &info.to_location),
        ];
        e
    };
    push_chunks(&mut out, max, make, |visit| rows.top_level(visit))?;
    let parts = out.finish()?;
    let nothing = || AssembleError::Data(format!("shipment {} shipped nothing", info.shipment));
    (!parts.is_empty()).then_some(parts).ok_or_else(nothing)
}

/// EPCs of one commission event being filled, and the latest commissioning among them.
type Chunk = (Vec<EpcUri>, Option<DateTime<Utc>>);

/// Commission events: per batch, per level, SGTINs and SSCCs apart, `max` EPCs at most.
fn commissions<R: ShipmentRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &mut Context<'_>,
    max: usize,
    out: &mut Splitter<'_, S>,
) -> Result<(), AssembleError> {
    let mut written = 0u64;
    for batch in rows.batches()? {
        let ilmd = Ilmd {
            lot: batch.lot.clone(),
            expiry: batch.expiry,
        };
        for level in [Each, Case, Pallet] {
            // (SGTINs, SSCCs), each with the latest commissioning it holds.
            let mut chunks: [Chunk; 2] = Default::default();
            let c = &*ctx;
            let flush = |chunk: &mut Chunk, sscc: bool, out: &mut Splitter<'_, S>| {
                let (Some(t), false) = (chunk.1.take(), chunk.0.is_empty()) else {
                    return Ok::<(), AssembleError>(());
                };
                let mut e = c
                    .object(std::mem::take(&mut chunk.0), Action::Add, t)
                    .with_step(cbv::COMMISSIONING, cbv::ACTIVE);
                e.ilmd = (!sscc).then(|| ilmd.clone());
                e.packaging_level = Some(level);
                out.push(e)
            };
            rows.units(&batch.batch, level, &mut |u| {
                let sscc = u.epc.as_str().starts_with("urn:epc:id:sscc:");
                let chunk = &mut chunks[usize::from(sscc)];
                chunk.0.push(u.epc);
                chunk.1 = chunk.1.max(Some(u.commissioned_at));
                written += 1;
                if chunk.0.len() >= max {
                    flush(chunk, sscc, out)?;
                }
                Ok(())
            })?;
            let [sgtins, ssccs] = &mut chunks;
            flush(sgtins, false, out)?;
            flush(ssccs, true, out)?;
        }
        (ctx.progress)(written);
    }
    Ok(())
}

/// Aggregation events: every container of the hierarchy with what it left with, innermost first.
fn aggregations<R: ShipmentRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &Context<'_>,
    out: &mut Splitter<'_, S>,
) -> Result<(), AssembleError> {
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
    Ok(())
}

/// Writes the Void Shipment of a voided sale: exactly one event.
pub fn void_shipment<R: ShipmentRows + ?Sized, S: DocumentSink>(
    rows: &mut R,
    ctx: &mut Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let info = rows.info().clone();
    let not_voided = || AssembleError::Data(format!("shipment {} was not voided", info.shipment));
    let (voided_at, _reason) = info.voided.as_ref().ok_or_else(not_voided)?;
    let (from, from_location) = ship_from(&info, ctx)?;
    let mut epcs = Vec::new();
    rows.top_level(&mut |epc| {
        epcs.push(epc);
        Ok(())
    })?;
    let mut e = observe(ctx, epcs, *voided_at, &from_location)
        .with_step(cbv::VOID_SHIPPING, cbv::IN_PROGRESS);
    e.biz_transactions = vec![transaction(cbv::BTT_DESADV, &from.gln, &info.shipment)];
    one_event(e, ctx, sink, new_id)
}

/// Writes the Receive of a receipt: one event at the site.
pub fn receive<S: DocumentSink>(
    receipt: &ReceiptInfo,
    ctx: &mut Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let site = &ctx.place.biz_location;
    let mut e = observe(ctx, receipt.epcs.clone(), receipt.received_at, site)
        .with_step(cbv::RECEIVING, cbv::IN_PROGRESS);
    e.biz_location = Some(site.clone());
    e.biz_transactions = vec![transaction("recadv", &gln_of(site)?, &receipt.document)];
    if let Some((shipment, shipper)) = &receipt.shipment {
        let shipper = shipper.clone().map_or_else(|| gln_of(site), Ok)?;
        (e.biz_transactions).push(transaction(cbv::BTT_DESADV, &shipper, shipment));
    }
    one_event(e, ctx, sink, new_id)
}

/// A document of one event for `ctx.partner`.
fn one_event<S: DocumentSink>(
    e: Event,
    ctx: &Context<'_>,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let (format, limits) = (ctx.partner.format, ctx.partner.limits);
    let mut out = Splitter::new(format, limits, ctx.template(), sink, new_id)?;
    out.push(e)?;
    out.finish()
}

#[cfg(test)]
#[path = "shipment_tests.rs"]
mod tests;
