//! EPCIS 1.2 XML with a Standard Business Document Header, as TraceLink-style receivers expect.
//!
//! Element order follows the 1.2 XSD sequences (it matters to validating parsers); post-1.0
//! fields such as ILMD sit inside `<extension>`; ILMD values are `cbvmda:` qualified. The output
//! validates against `EPCglobal-epcis-1_2.xsd` (tested with xmllint in the integration tests).

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{Document, EpcisError, ObjectEvent};

const NS_EPCIS: &str = "urn:epcglobal:epcis:xsd:1";
const NS_SBDH: &str = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
const NS_CBVMDA: &str = "urn:epcglobal:cbv:mda";

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes `doc` as an EPCIS 1.2 XML document (UTF-8, indented).
pub fn write_epcis12(doc: &Document) -> Result<Vec<u8>, EpcisError> {
    let mut w = Xml(Writer::new_with_indent(Vec::new(), b' ', 2));
    w.0.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let created = time(doc.created);
    w.start(
        "epcis:EPCISDocument",
        &[
            ("xmlns:epcis", NS_EPCIS),
            ("xmlns:sbdh", NS_SBDH),
            ("xmlns:cbvmda", NS_CBVMDA),
            ("schemaVersion", "1.2"),
            ("creationDate", &created),
        ],
    )?;
    w.start("EPCISHeader", &[])?;
    sbdh(&mut w, doc, &created)?;
    w.end("EPCISHeader")?;
    w.start("EPCISBody", &[])?;
    w.start("EventList", &[])?;
    for e in &doc.events {
        object_event(&mut w, e)?;
    }
    w.end("EventList")?;
    w.end("EPCISBody")?;
    w.end("epcis:EPCISDocument")?;
    let mut out = w.0.into_inner();
    out.push(b'\n');
    Ok(out)
}

fn sbdh(w: &mut Xml, doc: &Document, created: &str) -> Result<(), EpcisError> {
    w.start("sbdh:StandardBusinessDocumentHeader", &[])?;
    w.text("sbdh:HeaderVersion", "1.0")?;
    for (role, gln) in [
        ("sbdh:Sender", doc.sender_gln.as_str()),
        ("sbdh:Receiver", doc.receiver_gln.as_str()),
    ] {
        w.start(role, &[])?;
        w.text_attr("sbdh:Identifier", &[("Authority", "GLN")], gln)?;
        w.end(role)?;
    }
    w.start("sbdh:DocumentIdentification", &[])?;
    w.text("sbdh:Standard", "EPCglobal")?;
    w.text("sbdh:TypeVersion", "1.0")?;
    w.text("sbdh:InstanceIdentifier", &doc.instance_id)?;
    w.text("sbdh:Type", "Events")?;
    w.text("sbdh:CreationDateAndTime", created)?;
    w.end("sbdh:DocumentIdentification")?;
    w.end("sbdh:StandardBusinessDocumentHeader")
}

fn object_event(w: &mut Xml, e: &ObjectEvent) -> Result<(), EpcisError> {
    w.start("ObjectEvent", &[])?;
    w.text("eventTime", &time(e.event_time))?;
    w.text("eventTimeZoneOffset", &e.tz_offset)?;
    w.start("epcList", &[])?;
    for epc in &e.epcs {
        w.text("epc", epc.as_str())?;
    }
    w.end("epcList")?;
    w.text("action", e.action.as_str())?;
    if let Some(s) = &e.biz_step {
        w.text("bizStep", s)?;
    }
    if let Some(d) = &e.disposition {
        w.text("disposition", d)?;
    }
    for (el, id) in [
        ("readPoint", &e.read_point),
        ("bizLocation", &e.biz_location),
    ] {
        if let Some(id) = id {
            w.start(el, &[])?;
            w.text("id", id.as_str())?;
            w.end(el)?;
        }
    }
    if let Some(ilmd) = &e.ilmd {
        w.start("extension", &[])?;
        w.start("ilmd", &[])?;
        w.text("cbvmda:lotNumber", &ilmd.lot)?;
        w.text(
            "cbvmda:itemExpirationDate",
            &ilmd.expiry.format("%Y-%m-%d").to_string(),
        )?;
        w.end("ilmd")?;
        w.end("extension")?;
    }
    w.end("ObjectEvent")
}

/// A thin layer over quick-xml's writer: start/end/text with escaping done by quick-xml.
struct Xml(Writer<Vec<u8>>);

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), EpcisError> {
        let mut el = BytesStart::new(name);
        for a in attrs {
            el.push_attribute(*a);
        }
        Ok(self.0.write_event(Event::Start(el))?)
    }

    fn end(&mut self, name: &str) -> Result<(), EpcisError> {
        Ok(self.0.write_event(Event::End(BytesEnd::new(name)))?)
    }

    fn text(&mut self, name: &str, value: &str) -> Result<(), EpcisError> {
        self.text_attr(name, &[], value)
    }

    fn text_attr(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        value: &str,
    ) -> Result<(), EpcisError> {
        self.start(name, attrs)?;
        self.0.write_event(Event::Text(BytesText::new(value)))?;
        self.end(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epcis::{Action, Ilmd, cbv};
    use crate::gs1::{EpcUri, Gln};

    fn uri(s: &str) -> EpcUri {
        EpcUri::parse(s).expect("a valid EPC URI")
    }
    use chrono::{NaiveDate, TimeZone};

    fn doc() -> Document {
        let t = Utc
            .with_ymd_and_hms(2026, 3, 4, 10, 15, 0)
            .single()
            .expect("time");
        Document {
            instance_id: "id-1".into(),
            created: t,
            sender_gln: Gln::parse("0361414000001").expect("gln"),
            receiver_gln: Gln::parse("0614141000005").expect("gln"),
            events: vec![ObjectEvent {
                event_time: t,
                tz_offset: "+01:00".into(),
                epcs: vec![uri("urn:epc:id:sgtin:0361414.056789.A%26B")],
                action: Action::Add,
                biz_step: Some(cbv::BIZSTEP_COMMISSIONING.into()),
                disposition: Some(cbv::DISP_ACTIVE.into()),
                read_point: Some(uri("urn:epc:id:sgln:0361414.00001.L1")),
                biz_location: Some(uri("urn:epc:id:sgln:0361414.00000.0")),
                ilmd: Some(Ilmd {
                    lot: "L<1>".into(),
                    expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
                }),
            }],
        }
    }

    #[test]
    fn writes_header_event_and_escapes_text() {
        let xml = String::from_utf8(write_epcis12(&doc()).expect("write")).expect("utf8");
        for needle in [
            r#"schemaVersion="1.2""#,
            "<sbdh:InstanceIdentifier>id-1</sbdh:InstanceIdentifier>",
            r#"<sbdh:Identifier Authority="GLN">0614141000005</sbdh:Identifier>"#,
            "<eventTime>2026-03-04T10:15:00.000Z</eventTime>",
            "<epc>urn:epc:id:sgtin:0361414.056789.A%26B</epc>",
            "<cbvmda:lotNumber>L&lt;1&gt;</cbvmda:lotNumber>",
            "<cbvmda:itemExpirationDate>2027-06-30</cbvmda:itemExpirationDate>",
        ] {
            assert!(xml.contains(needle), "missing {needle} in\n{xml}");
        }
        let order = [
            "<eventTime>",
            "<eventTimeZoneOffset>",
            "<epcList>",
            "<action>",
            "<bizStep>",
            "<disposition>",
            "<readPoint>",
            "<bizLocation>",
            "<extension>",
        ];
        let pos: Vec<usize> = order.iter().map(|n| xml.find(n).expect(n)).collect();
        assert!(pos.windows(2).all(|p| p[0] < p[1]), "element order {pos:?}");
    }
}
