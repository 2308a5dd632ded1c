//! EPCIS 2.0 XML (`urn:epcglobal:epcis:xsd:2`, `schemaVersion="2.0"`), streamed like `xml12`:
//! `begin` writes the header, `event` each event as it comes, `finish` closes the document.
//!
//! Shaped after the official 2.0 XSD and GS1's XML examples (../shared/reference/epcis-2.0/xsd,
//! examples/epcis-2.0/xml): the 1.2 `extension` / `baseExtension` wrappers are gone, so
//! `eventID` follows `eventTimeZoneOffset` directly, and `sourceList`, `destinationList` and
//! `ilmd` sit in the event itself, in the XSD order (`bizTransactionList`, `sourceList`,
//! `destinationList`, `ilmd`). CBV values are written as URNs (`urn:epcglobal:cbv:bizstep:…`),
//! as every official 2.0 XML example does; ILMD values are `cbvmda:` qualified. An
//! AggregationEvent without children (a DELETE that unpacks everything) has no `childEPCs`
//! (optional in 2.0, and omitted so in the official example).
//!
//! The header keeps the SBDH (optional in 2.0; `TypeVersion` 2.0). The 2.0 `EPCISHeader` takes no
//! foreign-namespace element (its only extension point, `extension/extension`, takes unqualified
//! elements), so the DSCSA transaction statement cannot sit in the header as in 1.2. It is
//! written where the 2.0 XSD allows foreign elements at document level: after `EPCISBody`
//! (`EPCISDocumentType`'s `##other` wildcard). Whether DSCSA receivers look for it there is
//! UNVERIFIED (GS1 US has published no 2.0 XML guidance we could read). No TraceLink `tl:`
//! extensions in 2.0: `Header::tracelink_extensions` and `Event::packaging_level` are ignored.
//! The output validates against `EPCglobal-epcis-2_0.xsd` (`xml20_tests`, xmllint).

use std::io::Write;

use super::EpcisError;
use super::event::{DscsaStatement, Event, EventKind, Header};
use super::xml_common::{NS_CBVMDA, NS_GS1USHC, NS_SBDH, Xml, time};

const NS_EPCIS: &str = "urn:epcglobal:epcis:xsd:2";

/// Streams one EPCIS 2.0 XML document into `W`.
pub struct Epcis20XmlWriter<W: Write> {
    xml: Xml<W>,
    /// Written by `finish`, after the body.
    dscsa: Option<DscsaStatement>,
}

impl<W: Write> Epcis20XmlWriter<W> {
    /// Writes the XML declaration, the root and the EPCISHeader (SBDH), and opens the event list.
    pub fn begin(sink: W, header: &Header) -> Result<Self, EpcisError> {
        let mut xml = Xml::new(sink)?;
        let created = time(header.created);
        let mut attrs = vec![
            ("xmlns:epcis", NS_EPCIS),
            ("xmlns:sbdh", NS_SBDH),
            ("xmlns:cbvmda", NS_CBVMDA),
        ];
        if header.dscsa_statement.is_some() {
            attrs.push(("xmlns:gs1ushc", NS_GS1USHC));
        }
        attrs.push(("schemaVersion", "2.0"));
        attrs.push(("creationDate", &created));
        xml.start("epcis:EPCISDocument", &attrs)?;
        xml.start("EPCISHeader", &[])?;
        xml.sbdh(header, "2.0", &created)?;
        xml.end("EPCISHeader")?;
        xml.start("EPCISBody", &[])?;
        xml.start("EventList", &[])?;
        Ok(Epcis20XmlWriter {
            xml,
            dscsa: header.dscsa_statement.clone(),
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
            w.text("eventID", id)?;
        }
        match &e.kind {
            EventKind::Object { epcs } => w.epc_list("epcList", epcs)?,
            EventKind::Aggregation { parent, children } => {
                if let Some(p) = parent {
                    w.text("parentID", p.as_str())?;
                }
                if !children.is_empty() {
                    w.epc_list("childEPCs", children)?;
                }
            }
        }
        w.what_why_where(e)?;
        w.sources_destinations(e)?;
        if let (EventKind::Object { .. }, Some(ilmd)) = (&e.kind, &e.ilmd) {
            w.ilmd(ilmd)?;
        }
        w.end(name)
    }

    /// Closes the body, writes the DSCSA statement if any, closes the document and hands the
    /// sink back.
    pub fn finish(mut self) -> Result<W, EpcisError> {
        self.xml.end("EventList")?;
        self.xml.end("EPCISBody")?;
        if let Some(s) = &self.dscsa {
            self.xml.dscsa(s)?;
        }
        self.xml.end("epcis:EPCISDocument")?;
        self.xml.finish()
    }
}

/// Writes `events` under `header` as one EPCIS 2.0 XML document (UTF-8, indented).
pub fn write_epcis20_xml(header: &Header, events: &[Event]) -> Result<Vec<u8>, EpcisError> {
    let mut w = Epcis20XmlWriter::begin(Vec::new(), header)?;
    for e in events {
        w.event(e)?;
    }
    w.finish()
}

#[cfg(test)]
#[path = "xml20_tests.rs"]
mod tests;
