//! EPCIS 1.2 XML with a Standard Business Document Header, as TraceLink-style receivers expect,
//! written as a stream: `begin` writes the header, `event` each event as it comes, `finish`
//! closes the document. Nothing but the writer's state is kept, so a batch of any size goes
//! straight from the caller to the sink.
//!
//! Element order follows the 1.2 XSD sequences (it matters to validating parsers):
//! `eventTime`, `eventTimeZoneOffset`, `baseExtension/eventID`, the objects (`epcList`, or
//! `parentID` + `childEPCs`), `action`, `bizStep`, `disposition`, `readPoint`, `bizLocation`,
//! `bizTransactionList`, then `extension` (`sourceList`, `destinationList`, `ilmd` — ObjectEvent
//! only), then foreign elements. CBV values are written as URNs (`Term::urn`); ILMD values are
//! `cbvmda:` qualified. `childEPCs` is always written (the 1.2 XSD requires it), empty for a
//! DELETE that unpacks everything.
//!
//! Header extensions: the DSCSA transaction statement (`gs1ushc:dscsaTransactionStatement`
//! with `gs1ushc:affirmTransactionStatement` = true, then the optional `gs1ushc:legalNotice`)
//! follows the SBDH in `EPCISHeader`, where the XSD allows foreign elements. The order of the
//! two children is our choice (GS1 US IG text UNVERIFIED, MESSAGES.md §1.3); the XSD checks
//! them laxly.
//!
//! TraceLink `tl:` extensions, only when `Header::tracelink_extensions`: a commissioning
//! ObjectEvent that carries a packaging level gets, after `extension`,
//! `<tl:commissionEventExtensions><tl:packagingLevel>EA</tl:packagingLevel></…>`. That is
//! the whole group for now: TL's exact child order is UNVERIFIED (MESSAGES.md §3.1) and we
//! write only its first child, which every source puts first; per-EPC `tl:epcAttributes`
//! (barcode content), plant, line and item detail are not in the event model yet, and no other
//! event gets a `tl:` element. The output validates against `EPCglobal-epcis-1_2.xsd`
//! (`xml12_tests`, xmllint; `tl:` content is accepted there as lax foreign content).

use std::io::Write;

use super::EpcisError;
use super::event::{Event, EventKind, Header, cbv};
use super::xml_common::{NS_CBVMDA, NS_GS1USHC, NS_SBDH, Xml, time};

const NS_EPCIS: &str = "urn:epcglobal:epcis:xsd:1";
const NS_TL: &str = "http://epcis.tracelink.com/ns";

/// Streams one EPCIS 1.2 document into `W`.
pub struct Epcis12Writer<W: Write> {
    xml: Xml<W>,
    tracelink: bool,
}

impl<W: Write> Epcis12Writer<W> {
    /// Writes the XML declaration, the root, the EPCISHeader (SBDH, DSCSA statement) and opens
    /// the event list.
    pub fn begin(sink: W, header: &Header) -> Result<Self, EpcisError> {
        let mut xml = Xml::new(sink)?;
        let created = time(header.created);
        let mut attrs = vec![
            ("xmlns:epcis", NS_EPCIS),
            ("xmlns:sbdh", NS_SBDH),
            ("xmlns:cbvmda", NS_CBVMDA),
        ];
        if header.tracelink_extensions {
            attrs.push(("xmlns:tl", NS_TL));
        }
        if header.dscsa_statement.is_some() {
            attrs.push(("xmlns:gs1ushc", NS_GS1USHC));
        }
        attrs.push(("schemaVersion", "1.2"));
        attrs.push(("creationDate", &created));
        xml.start("epcis:EPCISDocument", &attrs)?;
        xml.start("EPCISHeader", &[])?;
        xml.sbdh(header, "1.0", &created)?;
        if let Some(s) = &header.dscsa_statement {
            xml.dscsa(s)?;
        }
        xml.end("EPCISHeader")?;
        xml.start("EPCISBody", &[])?;
        xml.start("EventList", &[])?;
        Ok(Epcis12Writer {
            xml,
            tracelink: header.tracelink_extensions,
        })
    }

    /// Writes one event.
    pub fn event(&mut self, e: &Event) -> Result<(), EpcisError> {
        let w = &mut self.xml;
        let name = match e.kind {
            EventKind::Object { .. } => "ObjectEvent",
            EventKind::Aggregation { .. } => "AggregationEvent",
        };
        w.start(name, &[])?;
        w.text("eventTime", &time(e.event_time))?;
        w.text("eventTimeZoneOffset", &e.tz_offset)?;
        if let Some(id) = &e.event_id {
            w.start("baseExtension", &[])?;
            w.text("eventID", id)?;
            w.end("baseExtension")?;
        }
        match &e.kind {
            EventKind::Object { epcs } => w.epc_list("epcList", epcs)?,
            EventKind::Aggregation { parent, children } => {
                if let Some(p) = parent {
                    w.text("parentID", p.as_str())?;
                }
                w.epc_list("childEPCs", children)?;
            }
        }
        w.what_why_where(e)?;
        let is_object = matches!(e.kind, EventKind::Object { .. });
        let ilmd = e.ilmd.as_ref().filter(|_| is_object);
        if !e.sources.is_empty() || !e.destinations.is_empty() || ilmd.is_some() {
            w.start("extension", &[])?;
            w.sources_destinations(e)?;
            if let Some(ilmd) = ilmd {
                w.ilmd(ilmd)?;
            }
            w.end("extension")?;
        }
        if self.tracelink && is_object && is_commissioning(e) {
            if let Some(level) = e.packaging_level {
                w.start("tl:commissionEventExtensions", &[])?;
                w.text("tl:packagingLevel", level.code())?;
                w.end("tl:commissionEventExtensions")?;
            }
        }
        w.end(name)
    }

    /// Closes the document and hands the sink back.
    pub fn finish(mut self) -> Result<W, EpcisError> {
        self.xml.end("EventList")?;
        self.xml.end("EPCISBody")?;
        self.xml.end("epcis:EPCISDocument")?;
        self.xml.finish()
    }
}

fn is_commissioning(e: &Event) -> bool {
    e.biz_step
        .as_ref()
        .is_some_and(|s| s.is_standard() && s.bare() == cbv::COMMISSIONING)
}

/// Writes `events` under `header` as one EPCIS 1.2 XML document (UTF-8, indented).
pub fn write_epcis12(header: &Header, events: &[Event]) -> Result<Vec<u8>, EpcisError> {
    let mut w = Epcis12Writer::begin(Vec::new(), header)?;
    for e in events {
        w.event(e)?;
    }
    w.finish()
}

#[cfg(test)]
#[path = "xml12_tests.rs"]
mod tests;
