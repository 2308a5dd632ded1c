//! The serial-number state machine of the line ledger, as a pure function.
//!
//! Every identifier a line commissions (an SGTIN or an SSCC) has facts: its state, whether it
//! is packed in a parent, how many children it holds. An event either moves those facts to new
//! ones or is refused with a reason an operator understands — nothing here reads or writes
//! anything. The store loads the facts, the judges in `rules` call `transition` inside the
//! transaction that stores the event, and the store writes the result. The full table is in
//! `docs/serial-states.md`; a test renders it from this code, so the two cannot drift.
//!
//! Sources for the transitions: ../shared/reference/MESSAGES.md §4 (CBV, TraceLink, OPEN-SCS).
//! Provisioning, encoding and deactivation of serials before use (pool management) are the
//! serial-number manager's business, not the line gateway's, and are not modelled.

/// Where an identifier is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerialState {
    /// Active on a physical item (CBV `active`).
    Commissioned,
    /// Pulled for QA; must be followed by destroy, decommission or a status correction.
    Sampled,
    /// Identifier detached from the item (CBV `inactive`).
    Decommissioned,
    /// Physically destroyed. Terminal.
    Destroyed,
    /// Left the site (CBV `in_transit`).
    Shipped,
}

impl SerialState {
    pub fn as_str(self) -> &'static str {
        match self {
            SerialState::Commissioned => "commissioned",
            SerialState::Sampled => "sampled",
            SerialState::Decommissioned => "decommissioned",
            SerialState::Destroyed => "destroyed",
            SerialState::Shipped => "shipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SerialState::Commissioned,
            SerialState::Sampled,
            SerialState::Decommissioned,
            SerialState::Destroyed,
            SerialState::Shipped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// What the ledger knows about one identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialFacts {
    pub state: SerialState,
    /// Packed in a parent (case, pallet).
    pub packed: bool,
    /// Number of children packed in it.
    pub children: usize,
}

impl SerialFacts {
    pub const fn loose(state: SerialState) -> Self {
        SerialFacts {
            state,
            packed: false,
            children: 0,
        }
    }
}

/// What happens to one identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerialEvent {
    /// Commissioning; `same_data` says whether GTIN, lot, expiry and batch equal the stored ones.
    Commission {
        same_data: bool,
    },
    /// Packed as a child into a parent.
    Pack,
    /// Unpacked from its parent.
    Unpack,
    Sample,
    Decommission,
    Destroy,
    /// Shipped as a top-level unit (its contents travel with it).
    Ship,
    /// A shipment that was a sale is voided: back to available.
    VoidShipment,
    /// Received back at this site.
    Receive,
    /// A wrong sample is corrected (TraceLink "modifying incorrect product status").
    CorrectStatus,
}

/// Per-partner settings that change the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// A decommissioned serial may be commissioned again (TraceLink allows it; CBV asks for a new id).
    pub allow_recommission: bool,
}

/// Why an event was refused. `code()` is the machine form for the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Commissioned before with the same data: a harmless repeated scan.
    DuplicateScan,
    /// Commissioned before with different data: a conflict (TraceLink would overwrite silently).
    CommissionConflict,
    NotCommissioned,
    /// The state does not allow the event.
    WrongState {
        state: SerialState,
    },
    /// The event needs a unit that is not packed: unpack it first.
    Packed,
    NotPacked,
    /// The event needs an empty container: unpack its children first.
    HasChildren {
        children: usize,
    },
    Terminal,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::DuplicateScan => "duplicate_scan",
            Refusal::CommissionConflict => "commission_conflict",
            Refusal::NotCommissioned => "not_commissioned",
            Refusal::WrongState { .. } => "invalid_transition",
            Refusal::Packed => "packed",
            Refusal::NotPacked => "not_packed",
            Refusal::HasChildren { .. } => "has_children",
            Refusal::Terminal => "destroyed",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::DuplicateScan => {
                write!(f, "already commissioned with the same data (repeated scan)")
            }
            Refusal::CommissionConflict => write!(
                f,
                "already commissioned with different data; a serial is commissioned once"
            ),
            Refusal::NotCommissioned => write!(f, "was never commissioned on this site"),
            Refusal::WrongState { state } => {
                write!(f, "is {}, which does not allow this", state.as_str())
            }
            Refusal::Packed => write!(f, "is packed in a parent; unpack it first"),
            Refusal::NotPacked => write!(f, "is not packed in any parent"),
            Refusal::HasChildren { children } => write!(
                f,
                "still holds {children} packed unit(s); unpack them first"
            ),
            Refusal::Terminal => write!(f, "was destroyed; nothing may happen to it any more"),
        }
    }
}

/// Applies `event` to an identifier with `facts` (None: unknown to the ledger).
pub fn transition(
    facts: Option<SerialFacts>,
    event: SerialEvent,
    policy: Policy,
) -> Result<SerialFacts, Refusal> {
    use SerialEvent as E;
    use SerialState as S;
    let Some(f) = facts else {
        return match event {
            E::Commission { .. } => Ok(SerialFacts::loose(S::Commissioned)),
            _ => Err(Refusal::NotCommissioned),
        };
    };
    if f.state == S::Destroyed {
        return Err(Refusal::Terminal);
    }
    let wrong = Err(Refusal::WrongState { state: f.state });
    // End-of-life and sampling need a loose, empty unit.
    let loose_and_empty = || {
        if f.packed {
            Err(Refusal::Packed)
        } else if f.children > 0 {
            Err(Refusal::HasChildren {
                children: f.children,
            })
        } else {
            Ok(())
        }
    };
    match (event, f.state) {
        (E::Commission { same_data: true }, S::Commissioned) => Err(Refusal::DuplicateScan),
        (E::Commission { .. }, S::Commissioned) => Err(Refusal::CommissionConflict),
        (E::Commission { .. }, S::Decommissioned) if policy.allow_recommission => {
            Ok(SerialFacts::loose(S::Commissioned))
        }
        (E::Commission { .. }, _) => wrong,
        (E::Pack, S::Commissioned) if f.packed => Err(Refusal::Packed),
        (E::Pack, S::Commissioned) => Ok(SerialFacts { packed: true, ..f }),
        (E::Pack, _) => wrong,
        (E::Unpack, _) if !f.packed => Err(Refusal::NotPacked),
        (E::Unpack, S::Commissioned) => Ok(SerialFacts { packed: false, ..f }),
        (E::Unpack, _) => wrong,
        (E::Sample, S::Commissioned) => loose_and_empty().map(|()| SerialFacts::loose(S::Sampled)),
        (E::Sample, _) => wrong,
        (E::Decommission, S::Commissioned | S::Sampled) => {
            loose_and_empty().map(|()| SerialFacts::loose(S::Decommissioned))
        }
        (E::Decommission, _) => wrong,
        (E::Destroy, S::Commissioned | S::Sampled | S::Decommissioned) => {
            loose_and_empty().map(|()| SerialFacts::loose(S::Destroyed))
        }
        (E::Destroy, _) => wrong,
        (E::Ship, S::Commissioned) if f.packed => Err(Refusal::Packed),
        (E::Ship, S::Commissioned) => Ok(SerialFacts {
            state: S::Shipped,
            ..f
        }),
        (E::Ship, _) => wrong,
        (E::VoidShipment | E::Receive, S::Shipped) => Ok(SerialFacts {
            state: S::Commissioned,
            ..f
        }),
        (E::VoidShipment | E::Receive, _) => wrong,
        (E::CorrectStatus, S::Sampled) => Ok(SerialFacts {
            state: S::Commissioned,
            ..f
        }),
        (E::CorrectStatus, _) => wrong,
    }
}

/// The rows (situations) and columns (events) of the documented table.
pub const TABLE_STATES: [(&str, Option<SerialFacts>); 8] = [
    ("unknown", None),
    (
        "commissioned",
        Some(SerialFacts::loose(SerialState::Commissioned)),
    ),
    (
        "commissioned, packed",
        Some(SerialFacts {
            state: SerialState::Commissioned,
            packed: true,
            children: 0,
        }),
    ),
    (
        "commissioned, holds children",
        Some(SerialFacts {
            state: SerialState::Commissioned,
            packed: false,
            children: 2,
        }),
    ),
    ("sampled", Some(SerialFacts::loose(SerialState::Sampled))),
    (
        "decommissioned",
        Some(SerialFacts::loose(SerialState::Decommissioned)),
    ),
    (
        "destroyed",
        Some(SerialFacts::loose(SerialState::Destroyed)),
    ),
    ("shipped", Some(SerialFacts::loose(SerialState::Shipped))),
];

pub const TABLE_EVENTS: [(&str, SerialEvent); 11] = [
    (
        "commission (same data)",
        SerialEvent::Commission { same_data: true },
    ),
    (
        "commission (other data)",
        SerialEvent::Commission { same_data: false },
    ),
    ("pack", SerialEvent::Pack),
    ("unpack", SerialEvent::Unpack),
    ("sample", SerialEvent::Sample),
    ("decommission", SerialEvent::Decommission),
    ("destroy", SerialEvent::Destroy),
    ("ship", SerialEvent::Ship),
    ("void shipment", SerialEvent::VoidShipment),
    ("receive", SerialEvent::Receive),
    ("correct status", SerialEvent::CorrectStatus),
];

fn describe(facts: SerialFacts) -> String {
    let mut s = facts.state.as_str().to_string();
    if facts.packed {
        s.push_str(", packed");
    }
    if facts.children > 0 {
        s.push_str(", holds children");
    }
    s
}

/// The state table as Markdown: one row per situation, one column per event; a cell is the
/// new state or `✗ code`.
pub fn table_markdown(policy: Policy) -> String {
    let mut out = String::from("| state \\ event |");
    for (name, _) in TABLE_EVENTS {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str(&format!("\n|---|{}\n", "---|".repeat(TABLE_EVENTS.len())));
    for (state_name, facts) in TABLE_STATES {
        out.push_str(&format!("| {state_name} |"));
        for (_, event) in TABLE_EVENTS {
            let cell = match transition(facts, event, policy) {
                Ok(next) => format!("→ {}", describe(next)),
                Err(r) => format!("✗ `{}`", r.code()),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
