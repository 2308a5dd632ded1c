//! Snapshot tests of the EPCIS 1.2 XML writer: fixture events (`xml_common::testkit`, fixed
//! times and ids) in, expected XML out; every document is also validated with xmllint against
//! the official XSD.

use super::*;
use crate::epcis::event::{Event, Header};
use crate::epcis::xml_common::testkit::*;

/// Writes `events` under `header`, checks the document against the official XSD and returns it.
fn valid_doc(header: &Header, events: &[Event]) -> String {
    let xml = write_epcis12(header, events).expect("write");
    assert_valid(&xml, XSD_12);
    String::from_utf8(xml).expect("utf8")
}

/// The lines between `<EventList>` and `</EventList>`.
fn event_list(xml: &str) -> &str {
    let start = xml.find("    <EventList>\n").expect("EventList") + "    <EventList>\n".len();
    let end = xml.find("    </EventList>").expect("/EventList");
    &xml[start..end]
}

fn assert_events(header: &Header, event: Event, expected: &str) {
    let xml = valid_doc(header, &[event]);
    let got = event_list(&xml);
    assert_eq!(
        got, expected,
        "event snapshot differs; whole document:\n{xml}"
    );
}

/// ObjectEvent ADD commissioning: eventID in baseExtension, ILMD in extension, no tl: when off.
#[test]
fn commissioning_with_event_id_and_ilmd_in_extension() {
    assert_events(
        &header(),
        commissioning(),
        r#"      <ObjectEvent>
        <eventTime>2026-03-04T10:15:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <baseExtension>
          <eventID>ni:///sha-256;0a1b2c3d?ver=CBV2.0</eventID>
        </baseExtension>
        <epcList>
          <epc>urn:epc:id:sgtin:0361414.056789.A%26B</epc>
          <epc>urn:epc:id:sgtin:0361414.056789.S2</epc>
        </epcList>
        <action>ADD</action>
        <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
        <disposition>urn:epcglobal:cbv:disp:active</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.L1</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
        <extension>
          <ilmd>
            <cbvmda:lotNumber>L&lt;1&gt;</cbvmda:lotNumber>
            <cbvmda:itemExpirationDate>2027-06-30</cbvmda:itemExpirationDate>
          </ilmd>
        </extension>
      </ObjectEvent>
"#,
    );
}

/// TraceLink on: tl:commissionEventExtensions/tl:packagingLevel after extension.
#[test]
fn commissioning_with_tracelink_packaging_level() {
    assert_events(
        &header_with(false, true),
        commissioning(),
        r#"      <ObjectEvent>
        <eventTime>2026-03-04T10:15:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <baseExtension>
          <eventID>ni:///sha-256;0a1b2c3d?ver=CBV2.0</eventID>
        </baseExtension>
        <epcList>
          <epc>urn:epc:id:sgtin:0361414.056789.A%26B</epc>
          <epc>urn:epc:id:sgtin:0361414.056789.S2</epc>
        </epcList>
        <action>ADD</action>
        <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
        <disposition>urn:epcglobal:cbv:disp:active</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.L1</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
        <extension>
          <ilmd>
            <cbvmda:lotNumber>L&lt;1&gt;</cbvmda:lotNumber>
            <cbvmda:itemExpirationDate>2027-06-30</cbvmda:itemExpirationDate>
          </ilmd>
        </extension>
        <tl:commissionEventExtensions>
          <tl:packagingLevel>EA</tl:packagingLevel>
        </tl:commissionEventExtensions>
      </ObjectEvent>
"#,
    );
}

/// AggregationEvent ADD packing: parentID and childEPCs.
#[test]
fn aggregation_add_packing() {
    assert_events(
        &header(),
        packing(),
        r#"      <AggregationEvent>
        <eventTime>2026-03-04T10:20:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <parentID>urn:epc:id:sscc:0361414.0500000001</parentID>
        <childEPCs>
          <epc>urn:epc:id:sgtin:0361414.056789.A%26B</epc>
          <epc>urn:epc:id:sgtin:0361414.056789.S2</epc>
        </childEPCs>
        <action>ADD</action>
        <bizStep>urn:epcglobal:cbv:bizstep:packing</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_progress</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.L1</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
      </AggregationEvent>
"#,
    );
}

/// DELETE with no children unpacks everything: childEPCs is required in 1.2, written empty.
#[test]
fn aggregation_delete_unpacking_all_has_empty_child_epcs() {
    assert_events(
        &header(),
        unpacking_all(),
        r#"      <AggregationEvent>
        <eventTime>2026-03-04T10:25:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <parentID>urn:epc:id:sscc:0361414.0500000001</parentID>
        <childEPCs/>
        <action>DELETE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:unpacking</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_progress</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.L1</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
      </AggregationEvent>
"#,
    );
}

/// ObjectEvent DELETE decommissioning / inactive.
#[test]
fn decommission_object_delete() {
    assert_events(
        &header(),
        decommission(),
        r#"      <ObjectEvent>
        <eventTime>2026-03-04T10:30:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <epcList>
          <epc>urn:epc:id:sgtin:0361414.056789.S2</epc>
        </epcList>
        <action>DELETE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:decommissioning</bizStep>
        <disposition>urn:epcglobal:cbv:disp:inactive</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.REJECT</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
      </ObjectEvent>
"#,
    );
}

/// ObjectEvent DELETE destroying / destroyed.
#[test]
fn destroy_object_delete() {
    assert_events(
        &header(),
        destroy(),
        r#"      <ObjectEvent>
        <eventTime>2026-03-04T10:35:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <epcList>
          <epc>urn:epc:id:sgtin:0361414.056789.S3</epc>
        </epcList>
        <action>DELETE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:destroying</bizStep>
        <disposition>urn:epcglobal:cbv:disp:destroyed</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.REJECT</id>
        </readPoint>
        <bizLocation>
          <id>urn:epc:id:sgln:0361414.00000.0</id>
        </bizLocation>
      </ObjectEvent>
"#,
    );
}

/// Shipping OBSERVE with bizTransactionList, source/destination lists and the DSCSA statement in EPCISHeader after the SBDH: the
/// whole document.
#[test]
fn shipping_with_transactions_parties_and_dscsa_statement_whole_document() {
    let xml = valid_doc(&header_with(true, false), &[shipping()]);
    assert_eq!(
        xml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1" xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader" xmlns:cbvmda="urn:epcglobal:cbv:mda" xmlns:gs1ushc="http://epcis.gs1us.org/hc/ns" schemaVersion="1.2" creationDate="2026-03-04T18:00:00.000Z">
  <EPCISHeader>
    <sbdh:StandardBusinessDocumentHeader>
      <sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>
      <sbdh:Sender>
        <sbdh:Identifier Authority="GLN">0361414000001</sbdh:Identifier>
      </sbdh:Sender>
      <sbdh:Receiver>
        <sbdh:Identifier Authority="GLN">0614141000005</sbdh:Identifier>
      </sbdh:Receiver>
      <sbdh:DocumentIdentification>
        <sbdh:Standard>EPCglobal</sbdh:Standard>
        <sbdh:TypeVersion>1.0</sbdh:TypeVersion>
        <sbdh:InstanceIdentifier>doc-1</sbdh:InstanceIdentifier>
        <sbdh:Type>Events</sbdh:Type>
        <sbdh:CreationDateAndTime>2026-03-04T18:00:00.000Z</sbdh:CreationDateAndTime>
      </sbdh:DocumentIdentification>
    </sbdh:StandardBusinessDocumentHeader>
    <gs1ushc:dscsaTransactionStatement>
      <gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement>
      <gs1ushc:legalNotice>Seller has complied with 21 U.S.C. 360eee-1 &amp; co</gs1ushc:legalNotice>
    </gs1ushc:dscsaTransactionStatement>
  </EPCISHeader>
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2026-03-04T16:00:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <epcList>
          <epc>urn:epc:id:sscc:0361414.0500000001</epc>
        </epcList>
        <action>OBSERVE</action>
        <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint>
          <id>urn:epc:id:sgln:0361414.00001.DOCK1</id>
        </readPoint>
        <bizTransactionList>
          <bizTransaction type="urn:epcglobal:cbv:btt:po">urn:epcglobal:cbv:bt:0614141000005:PO-7781</bizTransaction>
          <bizTransaction type="urn:epcglobal:cbv:btt:desadv">urn:epcglobal:cbv:bt:0361414000001:DLV-5521</bizTransaction>
        </bizTransactionList>
        <extension>
          <sourceList>
            <source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:sgln:0361414.00000.0</source>
            <source type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:0361414.00001.DOCK1</source>
          </sourceList>
          <destinationList>
            <destination type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:sgln:0614141.00000.0</destination>
            <destination type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:0614141.00020.0</destination>
          </destinationList>
        </extension>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>
"#
    );
}

fn every_event() -> Vec<Event> {
    vec![
        commissioning(),
        packing(),
        unpacking_all(),
        decommission(),
        destroy(),
        shipping(),
    ]
}

#[test]
fn tracelink_off_writes_no_tl_namespace_or_element() {
    let xml = valid_doc(&header(), &every_event());
    assert!(!xml.contains("tl:"), "{xml}");
    assert!(
        !xml.contains("gs1ushc"),
        "no DSCSA statement asked for:\n{xml}"
    );
}

#[test]
fn tracelink_on_extends_only_commissioning_events_with_a_packaging_level() {
    let mut no_level = commissioning();
    no_level.packaging_level = None;
    let mut packed = packing();
    packed.packaging_level = Some(crate::epcis::PackagingLevel::Case);
    let xml = valid_doc(
        &header_with(false, true),
        &[no_level, packed, decommission()],
    );
    assert!(xml.contains(r#"xmlns:tl="http://epcis.tracelink.com/ns""#));
    assert!(!xml.contains("<tl:"), "{xml}");
}

#[test]
fn every_event_with_every_extension_validates_in_one_document() {
    let xml = valid_doc(&header_with(true, true), &every_event());
    assert_eq!(xml.matches("<ObjectEvent>").count(), 4);
    assert_eq!(xml.matches("<AggregationEvent>").count(), 2);
    assert_eq!(
        xml.matches("<tl:packagingLevel>EA</tl:packagingLevel>")
            .count(),
        1
    );
    assert_eq!(
        xml.matches("<gs1ushc:dscsaTransactionStatement>").count(),
        1
    );
}

#[test]
fn the_streaming_writer_hands_back_its_sink_with_the_same_bytes() {
    let mut w = Epcis12Writer::begin(Vec::new(), &header()).expect("begin");
    for e in every_event() {
        w.event(&e).expect("event");
    }
    let streamed = w.finish().expect("finish");
    assert_eq!(
        streamed,
        write_epcis12(&header(), &every_event()).expect("write")
    );
    assert!(streamed.ends_with(b"</epcis:EPCISDocument>\n"));
}

#[test]
fn a_partner_vocabulary_uri_is_written_as_given() {
    let mut e = decommission();
    e.biz_step = Some(crate::epcis::Term::biz_step(
        "https://partner.example.com/voc/release",
    ));
    let xml = valid_doc(&header(), &[e]);
    assert!(xml.contains("<bizStep>https://partner.example.com/voc/release</bizStep>"));
}

/// A sink that refuses every write.
struct Broken;

impl std::io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk gone"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_is_an_error_not_a_panic() {
    assert!(Epcis12Writer::begin(Broken, &header()).is_err());
}

#[test]
fn the_schema_check_can_fail() {
    let good = write_epcis12(&header(), &[commissioning()]).expect("write");
    assert!(xmllint(&good, XSD_12).is_ok());
    let text = String::from_utf8(good).expect("utf8");
    for broken in [
        text.replace("<action>ADD</action>", "<action>ADDX</action>"),
        text.replace("cbvmda:lotNumber", "lotNumber"),
        text.replace("<eventTimeZoneOffset>+01:00</eventTimeZoneOffset>", ""),
    ] {
        assert!(xmllint(broken.as_bytes(), XSD_12).is_err(), "{broken}");
    }
    assert!(
        xmllint(&text.into_bytes(), XSD_20).is_err(),
        "a 1.2 document must not pass the 2.0 XSD"
    );
}
