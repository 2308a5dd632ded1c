//! A backlog of real documents for load tools (`linegate bench backlog`, the drain benchmark,
//! the 24-hour outage test): what a partner taking per-event commissions hears from a
//! serial-scanner line — one unit per read — written as the gateway writes it.
//!
//! Pure, like the other builders: units come in as (EPC, read time), events go to a `Splitter`
//! (eventIDs, the partner's format, parts). Each event is exactly the ObjectEvent the per-event
//! builder (`single`) makes for a one-unit `commission` message — ADD / commissioning / active,
//! the line's readPoint and the site's bizLocation, the lot's ILMD, packaging level `EA` — so
//! with one event per document each part is byte for byte that partner's ESM document (a test
//! below holds it to that). More events per document stand for a partner that takes them in
//! bulk, or a day's reads in a few documents.

use chrono::{DateTime, Utc};

use super::eob::Context;
use super::partner::Limits;
use super::rows::AssembleError;
use super::split::{DocumentSink, PartInfo, Splitter};
use crate::epcis::{Action, Event, Ilmd, PackagingLevel, cbv};
use crate::gs1::EpcUri;

/// Writes `reads` in order, one commission event each, into documents of at most
/// `events_per_document` events (fewer when the partner's `max_bytes_per_document` is reached
/// first); returns the parts in sending order. `ctx.progress` gets the events written so far.
pub fn unit_commissions<S: DocumentSink>(
    ctx: &mut Context<'_>,
    ilmd: &Ilmd,
    reads: impl IntoIterator<Item = (EpcUri, DateTime<Utc>)>,
    events_per_document: usize,
    sink: &mut S,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Vec<PartInfo>, AssembleError> {
    let limits = Limits {
        max_events_per_document: events_per_document.max(1),
        max_bytes_per_document: ctx.partner.limits.max_bytes_per_document,
        max_epcs_per_event: 1,
    };
    let mut out = Splitter::new(ctx.partner.format, limits, ctx.template(), sink, new_id)?;
    for (epc, t) in reads {
        let mut e: Event = ctx
            .object(vec![epc], Action::Add, t)
            .with_step(cbv::COMMISSIONING, cbv::ACTIVE);
        e.ilmd = Some(ilmd.clone());
        e.packaging_level = Some(PackagingLevel::Each);
        out.push(e)?;
        let n = out.events() as u64;
        if n % 1024 == 0 {
            (ctx.progress)(n);
        }
    }
    let n = out.events() as u64;
    let parts = out.finish()?;
    (ctx.progress)(n);
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::assemble::partner::{Format, MessageKind, Partner};
    use crate::assemble::rows::Visit;
    use crate::assemble::single::{EventInfo, EventRows, TouchedRow, event_message};
    use crate::assemble::split::MemorySink;
    use crate::assemble::testkit::{assert_valid, at, ids, partner, place, tz, unit};

    fn lot() -> Ilmd {
        Ilmd {
            lot: "LOT1".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
        }
    }

    fn build(p: &Partner, serials: &[&str], per_doc: usize) -> (Vec<PartInfo>, MemorySink) {
        let place = place();
        let mut progress = |_| {};
        let mut ctx = Context {
            place: &place,
            partner: p,
            created: at(18, 0),
            tz: &tz,
            progress: &mut progress,
        };
        let mut sink = MemorySink::default();
        let mut new_id = ids("esm");
        let reads = serials.iter().map(|s| (unit(s), at(10, 30)));
        let parts = unit_commissions(&mut ctx, &lot(), reads, per_doc, &mut sink, &mut new_id)
            .expect("builds");
        (parts, sink)
    }

    /// A one-unit `commission` line message, as the store would return it.
    struct OneUnit(EventInfo, TouchedRow);

    impl EventRows for OneUnit {
        fn info(&self) -> &EventInfo {
            &self.0
        }
        fn container(&mut self) -> Result<Option<TouchedRow>, AssembleError> {
            Ok(None)
        }
        fn touched(&mut self, visit: Visit<'_, TouchedRow>) -> Result<(), AssembleError> {
            visit(self.1.clone())
        }
    }

    #[test]
    fn a_one_event_document_is_the_per_event_partners_commission_document() {
        for format in Format::ALL {
            let p = partner(format);
            let (parts, backlog) = build(&p, &["A1"], 1);
            assert_eq!(parts.len(), 1);
            let mut rows = OneUnit(
                EventInfo {
                    seq: 1,
                    line: "L1".into(),
                    message_id: "m1".into(),
                    kind: MessageKind::Commission,
                    time: at(10, 30),
                    reason: None,
                },
                TouchedRow {
                    id: 1,
                    epc: unit("A1"),
                    level: PackagingLevel::Each,
                    ilmd: lot(),
                },
            );
            let place = place();
            let mut progress = |_| {};
            let ctx = Context {
                place: &place,
                partner: &p,
                created: at(18, 0),
                tz: &tz,
                progress: &mut progress,
            };
            let mut single = MemorySink::default();
            event_message(&mut rows, &ctx, &mut single, &mut ids("esm")).expect("builds");
            assert_eq!(
                backlog.parts,
                single.parts,
                "{}: the same bytes as the per-event builder's",
                format.as_str()
            );
        }
    }

    #[test]
    fn reads_are_split_into_documents_of_the_asked_size_in_order() {
        let p = partner(Format::Epcis12);
        let serials = ["A1", "A2", "A3", "A4", "A5"];
        let (parts, sink) = build(&p, &serials, 2);
        let events: Vec<usize> = parts.iter().map(|p| p.events).collect();
        assert_eq!(events, [2, 2, 1]);
        let mut seen: Vec<&str> = Vec::new();
        for (_, doc) in &sink.parts {
            assert_valid(Format::Epcis12, doc);
            let text = String::from_utf8_lossy(doc);
            assert_eq!(
                text.matches("<eventID>").count(),
                text.matches("<epc>").count()
            );
            seen.extend(
                serials
                    .iter()
                    .copied()
                    .filter(|s| text.contains(&format!(".{s}<"))),
            );
        }
        assert_eq!(seen, serials, "every read once, in order");
    }
}
