//! What the EPCIS 1.2 and 2.0 XML writers share: a thin quick-xml layer that writes straight
//! into the caller's sink, timestamps, the SBDH, and the parts of an event whose shape is the
//! same in both versions (object lists, business context, source/destination lists, ILMD).
//! The version-specific order of those parts stays in `xml12` / `xml20`.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event as XmlEvent};

use super::EpcisError;
use super::event::{DscsaStatement, Event, Header, Ilmd, SourceDest};
use crate::gs1::EpcUri;

pub(super) const NS_SBDH: &str =
    "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";
pub(super) const NS_CBVMDA: &str = "urn:epcglobal:cbv:mda";
pub(super) const NS_GS1USHC: &str = "http://epcis.gs1us.org/hc/ns";

/// `2026-03-04T10:15:00.000Z`: UTC with milliseconds, valid in both XSDs.
pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// start/end/text over quick-xml's writer, escaping done by quick-xml, bytes going straight
/// to the sink (nothing is kept but the writer's state).
pub(super) struct Xml<W: Write>(Writer<W>);

impl<W: Write> Xml<W> {
    pub(super) fn new(sink: W) -> Result<Self, EpcisError> {
        let mut w = Writer::new_with_indent(sink, b' ', 2);
        w.write_event(XmlEvent::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(Xml(w))
    }

    /// Ends the document with a newline and hands the sink back.
    pub(super) fn finish(self) -> Result<W, EpcisError> {
        let mut sink = self.0.into_inner();
        sink.write_all(b"\n")?;
        sink.flush()?;
        Ok(sink)
    }

    pub(super) fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), EpcisError> {
        let mut el = BytesStart::new(name);
        for a in attrs {
            el.push_attribute(*a);
        }
        Ok(self.0.write_event(XmlEvent::Start(el))?)
    }

    pub(super) fn empty(&mut self, name: &str) -> Result<(), EpcisError> {
        Ok(self.0.write_event(XmlEvent::Empty(BytesStart::new(name)))?)
    }

    pub(super) fn end(&mut self, name: &str) -> Result<(), EpcisError> {
        Ok(self.0.write_event(XmlEvent::End(BytesEnd::new(name)))?)
    }

    pub(super) fn text(&mut self, name: &str, value: &str) -> Result<(), EpcisError> {
        self.text_attr(name, &[], value)
    }

    pub(super) fn text_attr(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        value: &str,
    ) -> Result<(), EpcisError> {
        self.start(name, attrs)?;
        self.0.write_event(XmlEvent::Text(BytesText::new(value)))?;
        self.end(name)
    }

    /// `<name>` with one `<epc>` per identifier; `<name/>` when there are none.
    pub(super) fn epc_list(&mut self, name: &str, epcs: &[EpcUri]) -> Result<(), EpcisError> {
        if epcs.is_empty() {
            return self.empty(name);
        }
        self.start(name, &[])?;
        // EPC URIs never hold `<`, `>`, `&` or quotes (pure-identity URIs percent-encode
        // them), so each line goes straight to the sink: a million of them per End of Batch.
        for epc in epcs {
            self.0.write_indent()?;
            let sink = self.0.get_mut();
            sink.write_all(b"<epc>")?;
            sink.write_all(epc.as_str().as_bytes())?;
            sink.write_all(b"</epc>")?;
        }
        self.end(name)
    }

    /// The SBDH of the sender/receiver GLNs, `TypeVersion` per EPCIS version.
    pub(super) fn sbdh(
        &mut self,
        header: &Header,
        type_version: &str,
        created: &str,
    ) -> Result<(), EpcisError> {
        self.start("sbdh:StandardBusinessDocumentHeader", &[])?;
        self.text("sbdh:HeaderVersion", "1.0")?;
        for (role, gln) in [
            ("sbdh:Sender", header.sender_gln.as_str()),
            ("sbdh:Receiver", header.receiver_gln.as_str()),
        ] {
            self.start(role, &[])?;
            self.text_attr("sbdh:Identifier", &[("Authority", "GLN")], gln)?;
            self.end(role)?;
        }
        self.start("sbdh:DocumentIdentification", &[])?;
        self.text("sbdh:Standard", "EPCglobal")?;
        self.text("sbdh:TypeVersion", type_version)?;
        self.text("sbdh:InstanceIdentifier", &header.instance_id)?;
        self.text("sbdh:Type", "Events")?;
        self.text("sbdh:CreationDateAndTime", created)?;
        self.end("sbdh:DocumentIdentification")?;
        self.end("sbdh:StandardBusinessDocumentHeader")
    }

    /// `gs1ushc:dscsaTransactionStatement`: the affirmation, then the optional legal notice.
    pub(super) fn dscsa(&mut self, s: &DscsaStatement) -> Result<(), EpcisError> {
        self.start("gs1ushc:dscsaTransactionStatement", &[])?;
        self.text("gs1ushc:affirmTransactionStatement", "true")?;
        if let Some(notice) = &s.legal_notice {
            self.text("gs1ushc:legalNotice", notice)?;
        }
        self.end("gs1ushc:dscsaTransactionStatement")
    }

    /// `action` to `bizTransactionList`: the same sequence in 1.2 and 2.0.
    pub(super) fn what_why_where(&mut self, e: &Event) -> Result<(), EpcisError> {
        self.text("action", e.action.as_str())?;
        if let Some(s) = &e.biz_step {
            self.text("bizStep", &s.urn())?;
        }
        if let Some(d) = &e.disposition {
            self.text("disposition", &d.urn())?;
        }
        for (el, id) in [
            ("readPoint", &e.read_point),
            ("bizLocation", &e.biz_location),
        ] {
            if let Some(id) = id {
                self.start(el, &[])?;
                self.text("id", id.as_str())?;
                self.end(el)?;
            }
        }
        if !e.biz_transactions.is_empty() {
            self.start("bizTransactionList", &[])?;
            for bt in &e.biz_transactions {
                self.text_attr("bizTransaction", &[("type", &bt.kind.urn())], &bt.id)?;
            }
            self.end("bizTransactionList")?;
        }
        Ok(())
    }

    /// `sourceList` and `destinationList`, each only when it has entries.
    pub(super) fn sources_destinations(&mut self, e: &Event) -> Result<(), EpcisError> {
        self.party_list("sourceList", "source", &e.sources)?;
        self.party_list("destinationList", "destination", &e.destinations)
    }

    fn party_list(
        &mut self,
        list: &str,
        item: &str,
        parties: &[SourceDest],
    ) -> Result<(), EpcisError> {
        if parties.is_empty() {
            return Ok(());
        }
        self.start(list, &[])?;
        for p in parties {
            self.text_attr(item, &[("type", &p.kind.urn())], p.id.as_str())?;
        }
        self.end(list)
    }

    /// `<ilmd>` with the `cbvmda:`-qualified lot and expiry (YYYY-MM-DD).
    pub(super) fn ilmd(&mut self, ilmd: &Ilmd) -> Result<(), EpcisError> {
        self.start("ilmd", &[])?;
        self.text("cbvmda:lotNumber", &ilmd.lot)?;
        self.text(
            "cbvmda:itemExpirationDate",
            &ilmd.expiry.format("%Y-%m-%d").to_string(),
        )?;
        self.end("ilmd")
    }
}

/// Test support shared by the writers' tests and the message builders' (`assemble`): fixtures,
/// the xmllint check and the JSON Schema check against GS1's official schemas.
#[cfg(test)]
pub(crate) mod testkit {
    use std::path::PathBuf;
    use std::process::Command;

    use chrono::{DateTime, NaiveDate, TimeZone, Utc};

    use crate::epcis::event::{
        Action, BizTransaction, DscsaStatement, Event, Header, Ilmd, PackagingLevel, SourceDest,
        Term, Vocabulary, cbv,
    };
    use crate::gs1::{EpcUri, Gln};

    pub const XSD_12: &str = "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd";
    pub const XSD_20: &str = "epcis-2.0/xsd/EPCglobal-epcis-2_0.xsd";

    pub fn uri(s: &str) -> EpcUri {
        EpcUri::parse(s).expect("a valid EPC URI")
    }

    pub fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, h, m, 0)
            .single()
            .expect("time")
    }

    pub fn header() -> Header {
        Header {
            instance_id: "doc-1".into(),
            created: t(18, 0),
            sender_gln: Gln::parse("0361414000001").expect("gln"),
            receiver_gln: Gln::parse("0614141000005").expect("gln"),
            dscsa_statement: None,
            tracelink_extensions: false,
        }
    }

    pub fn header_with(dscsa: bool, tracelink: bool) -> Header {
        Header {
            dscsa_statement: dscsa.then(|| DscsaStatement {
                legal_notice: Some("Seller has complied with 21 U.S.C. 360eee-1 & co".into()),
            }),
            tracelink_extensions: tracelink,
            ..header()
        }
    }

    fn line() -> Option<EpcUri> {
        Some(uri("urn:epc:id:sgln:0361414.00001.L1"))
    }

    fn site() -> Option<EpcUri> {
        Some(uri("urn:epc:id:sgln:0361414.00000.0"))
    }

    pub fn commissioning() -> Event {
        let mut e = Event::object(
            vec![
                uri("urn:epc:id:sgtin:0361414.056789.A%26B"),
                uri("urn:epc:id:sgtin:0361414.056789.S2"),
            ],
            Action::Add,
            t(10, 15),
            "+01:00".into(),
        )
        .with_step(cbv::COMMISSIONING, cbv::ACTIVE)
        .at(line(), site());
        e.event_id = Some("ni:///sha-256;0a1b2c3d?ver=CBV2.0".into());
        e.ilmd = Some(Ilmd {
            lot: "L<1>".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
        });
        e.packaging_level = Some(PackagingLevel::Each);
        e
    }

    pub fn packing() -> Event {
        Event::aggregation(
            Some(uri("urn:epc:id:sscc:0361414.0500000001")),
            vec![
                uri("urn:epc:id:sgtin:0361414.056789.A%26B"),
                uri("urn:epc:id:sgtin:0361414.056789.S2"),
            ],
            Action::Add,
            t(10, 20),
            "+01:00".into(),
        )
        .with_step(cbv::PACKING, cbv::IN_PROGRESS)
        .at(line(), site())
    }

    pub fn unpacking_all() -> Event {
        Event::aggregation(
            Some(uri("urn:epc:id:sscc:0361414.0500000001")),
            vec![],
            Action::Delete,
            t(10, 25),
            "+01:00".into(),
        )
        .with_step(cbv::UNPACKING, cbv::IN_PROGRESS)
        .at(line(), site())
    }

    pub fn decommission() -> Event {
        Event::object(
            vec![uri("urn:epc:id:sgtin:0361414.056789.S2")],
            Action::Delete,
            t(10, 30),
            "+01:00".into(),
        )
        .with_step(cbv::DECOMMISSIONING, cbv::INACTIVE)
        .at(Some(uri("urn:epc:id:sgln:0361414.00001.REJECT")), site())
    }

    pub fn destroy() -> Event {
        Event::object(
            vec![uri("urn:epc:id:sgtin:0361414.056789.S3")],
            Action::Delete,
            t(10, 35),
            "+01:00".into(),
        )
        .with_step(cbv::DESTROYING, cbv::DESTROYED)
        .at(Some(uri("urn:epc:id:sgln:0361414.00001.REJECT")), site())
    }

    pub fn shipping() -> Event {
        let mut e = Event::object(
            vec![uri("urn:epc:id:sscc:0361414.0500000001")],
            Action::Observe,
            t(16, 0),
            "+01:00".into(),
        )
        .with_step(cbv::SHIPPING, cbv::IN_TRANSIT)
        .at(Some(uri("urn:epc:id:sgln:0361414.00001.DOCK1")), None);
        let bt = |kind: &str, id: &str| BizTransaction {
            kind: Term::new(Vocabulary::BizTransactionType, kind),
            id: id.into(),
        };
        e.biz_transactions = vec![
            bt(cbv::BTT_PO, "urn:epcglobal:cbv:bt:0614141000005:PO-7781"),
            bt(
                cbv::BTT_DESADV,
                "urn:epcglobal:cbv:bt:0361414000001:DLV-5521",
            ),
        ];
        let sd = |kind: &str, id: &str| SourceDest {
            kind: Term::new(Vocabulary::SourceDestType, kind),
            id: uri(id),
        };
        e.sources = vec![
            sd(cbv::SDT_OWNING_PARTY, "urn:epc:id:sgln:0361414.00000.0"),
            sd(cbv::SDT_LOCATION, "urn:epc:id:sgln:0361414.00001.DOCK1"),
        ];
        e.destinations = vec![
            sd(cbv::SDT_OWNING_PARTY, "urn:epc:id:sgln:0614141.00000.0"),
            sd(cbv::SDT_LOCATION, "urn:epc:id:sgln:0614141.00020.0"),
        ];
        e
    }

    /// The official XSD at `REL` under `../shared/reference` beside the checkout.
    fn schema(rel: &str) -> PathBuf {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/reference")
            .join(rel);
        assert!(
            p.is_file(),
            "official EPCIS schema not found at {} (../shared/reference must sit beside the \
             checkout; scripts/test checks this)",
            p.display()
        );
        p
    }

    /// Runs `xmllint --noout --nonet --schema` on `xml`; Err carries its diagnostics. A
    /// missing xmllint fails the test (scripts/test installs libxml2-utils).
    pub fn xmllint(xml: &[u8], xsd_rel: &str) -> Result<(), String> {
        let schema = schema(xsd_rel);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("doc.xml");
        std::fs::write(&file, xml).expect("write document");
        let out = match Command::new("xmllint")
            .args(["--noout", "--nonet", "--schema"])
            .arg(&schema)
            .arg(&file)
            .output()
        {
            Ok(out) => out,
            Err(e) => panic!(
                "cannot run xmllint ({e}); install libxml2-utils (scripts/test does) — the \
                 schema check is not optional"
            ),
        };
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// GS1's EPCIS 2.0 JSON Schema, compiled once, formats checked.
    pub fn json_validator() -> &'static jsonschema::Validator {
        static V: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
        V.get_or_init(|| {
            let path = schema("epcis-2.0/epcis-json-schema.json");
            let text = std::fs::read_to_string(&path).expect("the JSON Schema is readable");
            let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
            jsonschema::draft7::options()
                .should_validate_formats(true)
                .build(&schema)
                .expect("schema compiles")
        })
    }

    /// Every JSON Schema error of `doc`, with its path; empty when valid.
    pub fn json_errors(doc: &serde_json::Value) -> Vec<String> {
        json_validator()
            .iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    /// Asserts `xml` validates against the official XSD.
    pub fn assert_valid(xml: &[u8], xsd_rel: &str) {
        if let Err(diag) = xmllint(xml, xsd_rel) {
            panic!(
                "document does not validate against {xsd_rel}:\n{diag}\n{}",
                String::from_utf8_lossy(xml)
            );
        }
    }
}
