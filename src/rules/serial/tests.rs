//! The serial state table, written out by hand and checked cell by cell against `transition`,
//! plus the check that docs/serial-states.md shows exactly what the code does.

use super::*;

/// Expected outcome per (situation, event), in `TABLE_STATES` × `TABLE_EVENTS` order:
/// a state description after `→`, or a refusal code after `✗`.
#[rustfmt::skip]
const EXPECTED: [[&str; 11]; 8] = [
    // commission=  commission≠  pack  unpack  sample  decommission  destroy  ship  void  receive  correct
    ["→ commissioned", "→ commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned", "✗ not_commissioned"],
    ["✗ duplicate_scan", "✗ commission_conflict", "→ commissioned, packed", "✗ not_packed", "→ sampled", "→ decommissioned", "→ destroyed", "→ shipped", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition"],
    ["✗ duplicate_scan", "✗ commission_conflict", "✗ packed", "→ commissioned", "✗ packed", "✗ packed", "✗ packed", "✗ packed", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition"],
    ["✗ duplicate_scan", "✗ commission_conflict", "→ commissioned, packed, holds children", "✗ not_packed", "✗ has_children", "✗ has_children", "✗ has_children", "→ shipped, holds children", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition"],
    ["✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "✗ not_packed", "✗ invalid_transition", "→ decommissioned", "→ destroyed", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "→ commissioned"],
    ["✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "✗ not_packed", "✗ invalid_transition", "✗ invalid_transition", "→ destroyed", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition"],
    ["✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed", "✗ destroyed"],
    ["✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "✗ not_packed", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "✗ invalid_transition", "→ commissioned", "→ commissioned", "✗ invalid_transition"],
];

fn outcome(facts: Option<SerialFacts>, event: SerialEvent, policy: Policy) -> String {
    match transition(facts, event, policy) {
        Ok(next) => format!("→ {}", describe(next)),
        Err(r) => format!("✗ {}", r.code()),
    }
}

#[test]
fn every_state_and_event_pair_has_its_outcome() {
    let mut checked = 0;
    for (row, (state_name, facts)) in TABLE_STATES.iter().enumerate() {
        for (col, (event_name, event)) in TABLE_EVENTS.iter().enumerate() {
            let got = outcome(*facts, *event, Policy::default());
            assert_eq!(got, EXPECTED[row][col], "{state_name} × {event_name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 88);
}

#[test]
fn recommissioning_is_a_per_partner_choice() {
    let allow = Policy {
        allow_recommission: true,
    };
    let decommissioned = Some(SerialFacts::loose(SerialState::Decommissioned));
    for same_data in [true, false] {
        let e = SerialEvent::Commission { same_data };
        assert_eq!(outcome(decommissioned, e, allow), "→ commissioned");
        assert_eq!(
            outcome(decommissioned, e, Policy::default()),
            "✗ invalid_transition"
        );
    }
    // Nothing else changes with the policy.
    for (_, facts) in TABLE_STATES.iter().filter(|(n, _)| *n != "decommissioned") {
        for (_, event) in TABLE_EVENTS {
            assert_eq!(
                outcome(*facts, event, allow),
                outcome(*facts, event, Policy::default())
            );
        }
    }
}

#[test]
fn refusals_read_as_sentences() {
    let r = transition(
        Some(SerialFacts::loose(SerialState::Shipped)),
        SerialEvent::Destroy,
        Policy::default(),
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("is shipped, which does not allow this".to_string())
    );
    let r = transition(
        Some(SerialFacts {
            state: SerialState::Commissioned,
            packed: false,
            children: 3,
        }),
        SerialEvent::Sample,
        Policy::default(),
    );
    assert_eq!(
        r.map_err(|e| e.to_string()),
        Err("still holds 3 packed unit(s); unpack them first".to_string())
    );
}

#[test]
fn the_documented_table_is_the_code() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/serial-states.md"
    ))
    .expect("docs/serial-states.md");
    let table = table_markdown(Policy::default());
    assert!(
        doc.contains(&table),
        "docs/serial-states.md is out of date; the table is now:\n{table}"
    );
}
