//! End of batch, spine version: one commissioning ObjectEvent per batch, per upstream partner.
//!
//! Pure: from a `BatchSnapshot` read in the assembling transaction, plus the site's and the
//! partner's identities, build the EPCIS document's `Header` and events. The caller supplies the
//! instance id, the creation time and the local offset, so this function is deterministic and
//! testable.
//! Issue "every upstream message" grows this into the End-of-Batch variants.

use chrono::{DateTime, Utc};

use crate::epcis::{Action, Event, Header, Ilmd, cbv};
use crate::gs1::{EpcUri, Gln};
use crate::model::BatchSnapshot;

/// Who sends to whom: one per `[[upstream]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub upstream: String,
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
}

/// Where the batch was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// SGLN of the line (readPoint).
    pub read_point: EpcUri,
    /// SGLN of the site (bizLocation).
    pub biz_location: EpcUri,
}

/// An end-of-batch document: its header and its events, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct EndOfBatch {
    pub header: Header,
    pub events: Vec<Event>,
}

/// Builds the end-of-batch document, or None when the batch commissioned nothing.
pub fn end_of_batch(
    snap: &BatchSnapshot,
    place: &Place,
    partner: &Partner,
    instance_id: String,
    created: DateTime<Utc>,
    tz_offset: &dyn Fn(DateTime<Utc>) -> String,
) -> Option<EndOfBatch> {
    // The commissioning happened over the whole run; the event stands at its last commission.
    let event_time = snap.commissioned.iter().map(|c| c.time).max()?;
    let mut event = Event::object(
        snap.commissioned.iter().map(|c| c.epc.clone()).collect(),
        Action::Add,
        event_time,
        tz_offset(event_time),
    )
    .with_step(cbv::COMMISSIONING, cbv::ACTIVE)
    .at(
        Some(place.read_point.clone()),
        Some(place.biz_location.clone()),
    );
    event.ilmd = Some(Ilmd {
        lot: snap.lot.clone(),
        expiry: snap.expiry,
    });
    Some(EndOfBatch {
        header: Header {
            instance_id,
            created,
            sender_gln: partner.sender_gln.clone(),
            receiver_gln: partner.receiver_gln.clone(),
            dscsa_statement: None,
            tracelink_extensions: false,
        },
        events: vec![event],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Commissioned;
    use chrono::{NaiveDate, TimeZone};

    fn uri(s: &str) -> EpcUri {
        EpcUri::parse(s).expect("a valid EPC URI")
    }

    fn snap(n: usize) -> BatchSnapshot {
        let t0 = Utc
            .with_ymd_and_hms(2026, 3, 4, 10, 0, 0)
            .single()
            .expect("time");
        BatchSnapshot {
            batch: "B1".into(),
            line: "L1".into(),
            gtin: "00361414567894".into(),
            lot: "LOT1".into(),
            expiry: NaiveDate::from_ymd_opt(2027, 6, 30).expect("date"),
            work_order: None,
            planned_quantity: Some(3),
            opened_at: t0,
            closed_at: t0,
            commissioned: (0..n)
                .map(|i| Commissioned {
                    epc: uri(&format!("urn:epc:id:sgtin:0361414.056789.S{i}")),
                    time: t0 + chrono::Duration::seconds(i as i64),
                })
                .collect(),
        }
    }

    fn build(n: usize) -> Option<EndOfBatch> {
        let place = Place {
            read_point: uri("urn:epc:id:sgln:0361414.00001.L1"),
            biz_location: uri("urn:epc:id:sgln:0361414.00000.0"),
        };
        let partner = Partner {
            upstream: "mah".into(),
            sender_gln: Gln::parse("0361414000001").expect("gln"),
            receiver_gln: Gln::parse("0614141000005").expect("gln"),
        };
        end_of_batch(
            &snap(n),
            &place,
            &partner,
            "doc-1".into(),
            Utc::now(),
            &|_| "+01:00".to_string(),
        )
    }

    #[test]
    fn one_commissioning_event_with_every_epc_and_the_batch_ilmd() {
        let doc = build(3).expect("document");
        assert_eq!(doc.events.len(), 1);
        let e = &doc.events[0];
        let crate::epcis::EventKind::Object { epcs } = &e.kind else {
            panic!("an ObjectEvent, got {:?}", e.kind);
        };
        assert_eq!(epcs.len(), 3);
        assert_eq!(epcs[2].as_str(), "urn:epc:id:sgtin:0361414.056789.S2");
        assert_eq!(e.action, Action::Add);
        assert_eq!(
            e.biz_step.as_ref().map(|t| t.urn()).as_deref(),
            Some("urn:epcglobal:cbv:bizstep:commissioning")
        );
        assert_eq!(
            e.disposition.as_ref().map(|t| t.urn()).as_deref(),
            Some("urn:epcglobal:cbv:disp:active")
        );
        assert_eq!(e.event_time, snap(3).commissioned[2].time);
        assert_eq!(e.ilmd.as_ref().map(|i| i.lot.as_str()), Some("LOT1"));
        assert_eq!(e.tz_offset, "+01:00");
        assert_eq!(doc.header.receiver_gln.as_str(), "0614141000005");
    }

    #[test]
    fn an_empty_batch_yields_no_document() {
        assert!(build(0).is_none());
    }
}
