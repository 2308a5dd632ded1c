//! Shipments judged whole against the in-memory ledger of `rules::tests`: what leaves, what may
//! be voided, what comes back.

use crate::gs1::EpcUri;
use crate::model::{
    CodeRecord, LineEvent, Party, Receipt, RejectCode, Shipment, ShipmentKind, UnitAction,
};
use crate::rules::serial::SerialState;
use crate::rules::tests::{CASE_G, G, Ledger, code, commission, ledger, msg, verdict};
use crate::rules::{BatchState, LedgerView};

fn uri(s: &str) -> EpcUri {
    EpcUri::parse(s).expect("an EPC URI")
}

/// SSCC 0361414 500000001 (key and EPC).
fn sscc() -> CodeRecord {
    CodeRecord {
        key: "(00)003614145000000013".into(),
        epc: uri("urn:epc:id:sscc:0361414.0500000001"),
        gtin: None,
        lot: None,
        expiry: None,
    }
}

/// Ships one top-level identifier.
fn ship(id: &str, kind: ShipmentKind, code: &CodeRecord) -> LineEvent {
    LineEvent::Ship(Box::new(Shipment {
        shipment: id.into(),
        kind,
        codes: vec![code.clone()],
        po: Some("PO-1".into()),
        from_party: None,
        from_location: None,
        to_party: Party {
            gln: "0614141000005".into(),
            sgln: uri("urn:epc:id:sgln:0614141.00000.0"),
        },
        to_location: uri("urn:epc:id:sgln:0614141.00020.0"),
    }))
}

fn void(id: &str) -> LineEvent {
    LineEvent::VoidShipment {
        shipment: id.into(),
        reason: "ORDER_CANCELLED".into(),
    }
}

fn receive(codes: &[CodeRecord], shipment: Option<&str>) -> LineEvent {
    LineEvent::Receive(Receipt {
        document: "REC-1".into(),
        codes: codes.to_vec(),
        shipment: shipment.map(Into::into),
    })
}

/// Applies `event` if accepted; returns the refusal code (None: applied).
fn step(l: &mut Ledger, event: LineEvent) -> Option<(RejectCode, String)> {
    match verdict(l, "L1", event.clone()) {
        Ok(plan) => {
            l.apply_message(&msg("L1", event), plan);
            None
        }
        Err(r) => Some((r.code, r.reason)),
    }
}

fn state(l: &Ledger, c: &CodeRecord) -> (SerialState, Option<String>) {
    let r = l.serial(&c.key).ok().flatten().expect("known");
    (r.facts.state, r.parent)
}

/// A pallet holding two cases of two units each, and a loose unit.
struct World {
    l: Ledger,
    pallet: CodeRecord,
    cases: Vec<CodeRecord>,
    units: Vec<CodeRecord>,
}

fn world() -> World {
    let mut l = ledger(BatchState::Running);
    let units: Vec<CodeRecord> = (0..5).map(|i| code(G, &format!("U{i}"), None)).collect();
    let cases: Vec<CodeRecord> = (0..2)
        .map(|i| code(CASE_G, &format!("C{i}"), None))
        .collect();
    let pallet = sscc();
    let all = [&units[..], &cases[..], std::slice::from_ref(&pallet)].concat();
    assert_eq!(step(&mut l, commission(all)), None);
    for (case, content) in cases.iter().zip(units.chunks(2)) {
        let pack = LineEvent::Aggregate {
            parent: case.clone(),
            children: content.to_vec(),
        };
        assert_eq!(step(&mut l, pack), None);
    }
    let pack = LineEvent::Aggregate {
        parent: pallet.clone(),
        children: cases.clone(),
    };
    assert_eq!(step(&mut l, pack), None);
    World {
        l,
        pallet,
        cases,
        units,
    }
}

#[test]
fn shipping_a_pallet_ships_everything_under_it_once() {
    let mut w = world();
    let plan = verdict(&w.l, "L1", ship("D1", ShipmentKind::Sale, &w.pallet)).expect("ships");
    let mut shipped: Vec<&str> = plan.serials.iter().map(|s| s.key.as_str()).collect();
    shipped.sort();
    let all = [&w.units[..4], &w.cases[..], std::slice::from_ref(&w.pallet)].concat();
    let mut expected: Vec<&str> = all.iter().map(|c| c.key.as_str()).collect();
    expected.sort();
    assert_eq!(
        shipped, expected,
        "the pallet, both cases and their four units"
    );
    assert!(plan.serials.iter().all(|s| s.state == SerialState::Shipped));
    step(&mut w.l, ship("D1", ShipmentKind::Sale, &w.pallet));
    assert_eq!(
        state(&w.l, &w.units[0]),
        (SerialState::Shipped, Some(w.cases[0].key.clone()))
    );
    assert_eq!(
        state(&w.l, &w.units[4]).0,
        SerialState::Commissioned,
        "loose, not shipped"
    );

    let (rc, reason) = step(&mut w.l, ship("D1", ShipmentKind::Sale, &w.units[4]))
        .expect("a despatch advice number is used once");
    assert_eq!(rc, RejectCode::ShipmentExists, "{reason}");
    assert!(reason.contains("D1"), "{reason}");
}

#[test]
fn shipping_a_destroyed_decommissioned_or_sampled_unit_is_refused_with_the_reason() {
    let World {
        mut l,
        pallet,
        units,
        ..
    } = world();
    let loose = |i: usize| vec![units[i].clone()];
    let units_ev = |action, codes: Vec<CodeRecord>| LineEvent::Units {
        action,
        codes,
        reason: None,
    };
    assert_eq!(step(&mut l, units_ev(UnitAction::Destroy, loose(4))), None);
    let (rc, reason) = step(&mut l, ship("D2", ShipmentKind::Sale, &units[4])).expect("refused");
    assert_eq!(rc, RejectCode::Destroyed);
    assert!(reason.contains("destroyed unit never leaves"), "{reason}");
    assert!(reason.contains(&units[4].key), "{reason}");

    let extra: Vec<CodeRecord> = (5..7).map(|i| code(G, &format!("U{i}"), None)).collect();
    assert_eq!(step(&mut l, commission(extra.clone())), None);
    assert_eq!(
        step(
            &mut l,
            units_ev(UnitAction::Decommission, extra[..1].to_vec())
        ),
        None
    );
    assert_eq!(
        step(&mut l, units_ev(UnitAction::Sample, extra[1..].to_vec())),
        None
    );
    for (unit, state) in [(&extra[0], "decommissioned"), (&extra[1], "sampled")] {
        let (rc, reason) = step(&mut l, ship("D3", ShipmentKind::Sale, unit)).expect("no");
        assert_eq!(rc, RejectCode::InvalidTransition, "{reason}");
        assert!(
            reason.contains(&format!("is {state}; only a commissioned unit")),
            "{reason}"
        );
    }
    // A container whose contents are out of line does not leave either (the store could hold
    // this after a manual repair; the rules never make it).
    l.serials.get_mut(&units[0].key).expect("unit").facts.state = SerialState::Destroyed;
    let (rc, reason) = step(&mut l, ship("D4", ShipmentKind::Sale, &pallet)).expect("refused");
    assert_eq!(rc, RejectCode::Destroyed, "{reason}");
    assert!(
        reason.contains(&units[0].key) && reason.contains("unpack"),
        "{reason}"
    );
    assert!(l.shipments.is_empty(), "nothing was shipped");
}

#[test]
fn only_a_sale_can_be_voided_and_only_once() {
    let mut w = world();
    assert_eq!(
        step(&mut w.l, ship("T1", ShipmentKind::Transfer, &w.pallet)),
        None
    );
    let (rc, reason) = step(&mut w.l, void("T1")).expect("a transfer is not voided");
    assert_eq!(rc, RejectCode::InvalidTransition);
    assert!(
        reason.contains("transfer") && reason.contains("only a sale"),
        "{reason}"
    );
    assert_eq!(
        state(&w.l, &w.pallet).0,
        SerialState::Shipped,
        "nothing changed"
    );

    let (rc, _) = step(&mut w.l, void("NOPE")).expect("unknown");
    assert_eq!(rc, RejectCode::UnknownShipment);

    assert_eq!(
        step(&mut w.l, ship("S1", ShipmentKind::Sale, &w.units[4])),
        None
    );
    assert_eq!(step(&mut w.l, void("S1")), None);
    assert_eq!(state(&w.l, &w.units[4]), (SerialState::Commissioned, None));
    let (rc, reason) = step(&mut w.l, void("S1")).expect("voided once");
    assert_eq!(rc, RejectCode::InvalidTransition);
    assert!(reason.contains("voided"), "{reason}");
}

#[test]
fn a_void_takes_back_the_whole_hierarchy_in_its_containers() {
    let mut w = world();
    assert_eq!(
        step(&mut w.l, ship("S1", ShipmentKind::Sale, &w.pallet)),
        None
    );
    assert_eq!(step(&mut w.l, void("S1")), None);
    assert_eq!(state(&w.l, &w.pallet), (SerialState::Commissioned, None));
    assert_eq!(
        state(&w.l, &w.cases[1]),
        (SerialState::Commissioned, Some(w.pallet.key.clone()))
    );
    assert_eq!(
        state(&w.l, &w.units[3]),
        (SerialState::Commissioned, Some(w.cases[1].key.clone()))
    );
    // Shipped again under a new number: the first void cannot be repeated on it.
    assert_eq!(
        step(&mut w.l, ship("S2", ShipmentKind::Sale, &w.pallet)),
        None
    );
    let (rc, _) = step(&mut w.l, void("S1")).expect("S1 is voided");
    assert_eq!(rc, RejectCode::InvalidTransition);
}

#[test]
fn a_void_refuses_units_that_came_back_or_left_again() {
    let mut w = world();
    assert_eq!(
        step(&mut w.l, ship("S1", ShipmentKind::Sale, &w.pallet)),
        None
    );
    assert_eq!(
        step(&mut w.l, receive(&[w.pallet.clone()], Some("S1"))),
        None
    );
    let (rc, reason) = step(&mut w.l, void("S1")).expect("received back");
    assert_eq!(rc, RejectCode::InvalidTransition);
    assert!(reason.contains("commissioned"), "{reason}");
    assert_eq!(
        step(&mut w.l, ship("S2", ShipmentKind::Sale, &w.pallet)),
        None
    );
    let (rc, reason) = step(&mut w.l, void("S1")).expect("left again");
    assert_eq!(rc, RejectCode::InvalidTransition);
    assert!(reason.contains("later shipment"), "{reason}");
    assert_eq!(step(&mut w.l, void("S2")), None);
}

#[test]
fn a_receipt_takes_shipped_top_level_units_back_with_their_contents() {
    let mut w = world();
    let (rc, reason) = step(&mut w.l, receive(&[w.pallet.clone()], None)).expect("not shipped");
    assert_eq!(rc, RejectCode::InvalidTransition, "{reason}");
    assert!(reason.contains("only shipped units"), "{reason}");
    assert_eq!(
        step(&mut w.l, ship("T1", ShipmentKind::Transfer, &w.pallet)),
        None
    );

    let (rc, _) = step(&mut w.l, receive(&[w.cases[0].clone()], None)).expect("packed");
    assert_eq!(rc, RejectCode::Packed);
    let (rc, _) = step(&mut w.l, receive(&[w.pallet.clone()], Some("X9"))).expect("unknown");
    assert_eq!(rc, RejectCode::UnknownShipment);
    assert_eq!(
        step(&mut w.l, ship("S2", ShipmentKind::Sale, &w.units[4])),
        None
    );
    let (rc, reason) =
        step(&mut w.l, receive(&[w.pallet.clone()], Some("S2"))).expect("other shipment");
    assert_eq!(rc, RejectCode::InvalidTransition);
    assert!(reason.contains("shipment S2"), "{reason}");

    assert_eq!(
        step(&mut w.l, receive(&[w.pallet.clone()], Some("T1"))),
        None
    );
    assert_eq!(state(&w.l, &w.pallet), (SerialState::Commissioned, None));
    assert_eq!(
        state(&w.l, &w.units[1]),
        (SerialState::Commissioned, Some(w.cases[0].key.clone()))
    );
    assert_eq!(
        state(&w.l, &w.units[4]).0,
        SerialState::Shipped,
        "S2 is still out"
    );
}
