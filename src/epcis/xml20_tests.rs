//! Snapshot tests of the EPCIS 2.0 XML writer: fixture events (`xml_common::testkit`, fixed
//! times and ids) in, expected XML out; every document is also validated with xmllint against
//! the official XSD.

use super::*;
use crate::epcis::event::{Event, Header};
use crate::epcis::xml_common::testkit::*;

/// Writes `events` under `header`, checks the document against the official XSD and returns it.
fn valid_doc(header: &Header, events: &[Event]) -> String {
    let xml = write_epcis20_xml(header, events).expect("write");
    assert_valid(&xml, XSD_20);
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

/// ObjectEvent ADD commissioning: eventID after the offset, ilmd in the event.
#[test]
fn commissioning_with_event_id_and_ilmd() {
    assert_events(
        &header(),
        commissioning(),
        r#"      <ObjectEvent>
        <eventTime>2026-03-04T10:15:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <eventID>ni:///sha-256;0a1b2c3d?ver=CBV2.0</eventID>
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
        <ilmd>
          <cbvmda:lotNumber>L&lt;1&gt;</cbvmda:lotNumber>
          <cbvmda:itemExpirationDate>2027-06-30</cbvmda:itemExpirationDate>
        </ilmd>
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

/// DELETE with no children unpacks everything: childEPCs is optional in 2.0 and omitted.
#[test]
fn aggregation_delete_unpacking_all_omits_child_epcs() {
    assert_events(
        &header(),
        unpacking_all(),
        r#"      <AggregationEvent>
        <eventTime>2026-03-04T10:25:00.000Z</eventTime>
        <eventTimeZoneOffset>+01:00</eventTimeZoneOffset>
        <parentID>urn:epc:id:sscc:0361414.0500000001</parentID>
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

/// Shipping OBSERVE with bizTransactionList, source/destination lists and the DSCSA statement after EPCISBody (the 2.0 header takes no foreign elements): the
/// whole document.
#[test]
fn shipping_with_transactions_parties_and_dscsa_statement_whole_document() {
    let xml = valid_doc(&header_with(true, false), &[shipping()]);
    assert_eq!(
        xml,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" xmlns:sbdh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader" xmlns:cbvmda="urn:epcglobal:cbv:mda" xmlns:gs1ushc="http://epcis.gs1us.org/hc/ns" schemaVersion="2.0" creationDate="2026-03-04T18:00:00.000Z">
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
        <sbdh:TypeVersion>2.0</sbdh:TypeVersion>
        <sbdh:InstanceIdentifier>doc-1</sbdh:InstanceIdentifier>
        <sbdh:Type>Events</sbdh:Type>
        <sbdh:CreationDateAndTime>2026-03-04T18:00:00.000Z</sbdh:CreationDateAndTime>
      </sbdh:DocumentIdentification>
    </sbdh:StandardBusinessDocumentHeader>
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
        <sourceList>
          <source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:sgln:0361414.00000.0</source>
          <source type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:0361414.00001.DOCK1</source>
        </sourceList>
        <destinationList>
          <destination type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:sgln:0614141.00000.0</destination>
          <destination type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:0614141.00020.0</destination>
        </destinationList>
      </ObjectEvent>
    </EventList>
  </EPCISBody>
  <gs1ushc:dscsaTransactionStatement>
    <gs1ushc:affirmTransactionStatement>true</gs1ushc:affirmTransactionStatement>
    <gs1ushc:legalNotice>Seller has complied with 21 U.S.C. 360eee-1 &amp; co</gs1ushc:legalNotice>
  </gs1ushc:dscsaTransactionStatement>
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
fn no_tracelink_extensions_in_2_0() {
    let with = valid_doc(&header_with(false, true), &every_event());
    let without = valid_doc(&header(), &every_event());
    assert_eq!(with, without);
    assert!(!with.contains("tl:"), "{with}");
    assert!(!with.contains("baseExtension") && !with.contains("<extension>"));
}

#[test]
fn every_event_with_the_dscsa_statement_validates_in_one_document() {
    let xml = valid_doc(&header_with(true, true), &every_event());
    assert_eq!(xml.matches("<ObjectEvent>").count(), 4);
    assert_eq!(xml.matches("<AggregationEvent>").count(), 2);
    assert!(xml.contains(r#"xmlns:epcis="urn:epcglobal:epcis:xsd:2""#));
    assert!(xml.contains(r#"schemaVersion="2.0""#));
    assert_eq!(
        xml.matches("<gs1ushc:dscsaTransactionStatement>").count(),
        1
    );
}

#[test]
fn the_streaming_writer_hands_back_its_sink_with_the_same_bytes() {
    let mut w = Epcis20XmlWriter::begin(Vec::new(), &header()).expect("begin");
    for e in every_event() {
        w.event(&e).expect("event");
    }
    let streamed = w.finish().expect("finish");
    assert_eq!(
        streamed,
        write_epcis20_xml(&header(), &every_event()).expect("write")
    );
}

#[test]
fn the_schema_check_can_fail() {
    let good = write_epcis20_xml(&header(), &[commissioning()]).expect("write");
    assert!(xmllint(&good, XSD_20).is_ok());
    let text = String::from_utf8(good).expect("utf8");
    for broken in [
        text.replace("<action>ADD</action>", "<action>ADDX</action>"),
        text.replace("cbvmda:lotNumber", "lotNumber"),
        // The 1.2 wrapper is not 2.0.
        text.replace("<eventID>", "<baseExtension><eventID>")
            .replace("</eventID>", "</eventID></baseExtension>"),
    ] {
        assert!(xmllint(broken.as_bytes(), XSD_20).is_err(), "{broken}");
    }
    assert!(
        xmllint(&text.into_bytes(), XSD_12).is_err(),
        "a 2.0 document must not pass the 1.2 XSD"
    );
}
