//! EPCIS documents: one internal model, and writers that turn it into bytes.
//!
//! The model holds only what linegate emits, already validated (EPC URIs come from `gs1`, CBV
//! values are constants here). Writers are pure functions from a `Document` to bytes; they do no
//! I/O and can only fail on a document that cannot be represented. Today there is the EPCIS 1.2
//! XML writer with SBDH (`xml12`); issue "every upstream message" adds EPCIS 2.0 JSON-LD and XML.
//! `hash` computes an event's `eventID`, the GS1 event hash, from its EPCIS 2.0 JSON-LD form.

pub mod event;
mod hash;
mod xml12;

use chrono::{DateTime, NaiveDate, Utc};

use crate::gs1::{EpcUri, Gln};

pub use hash::{EventHashError, EventHasher, event_id};
pub use xml12::write_epcis12;

/// CBV 1.2 vocabulary in the URN form EPCIS 1.2 documents use.
pub mod cbv {
    pub const BIZSTEP_COMMISSIONING: &str = "urn:epcglobal:cbv:bizstep:commissioning";
    pub const DISP_ACTIVE: &str = "urn:epcglobal:cbv:disp:active";
}

/// Errors of the writers. Identifiers arrive as validated `gs1` types, so only the sink can fail.
#[derive(Debug, thiserror::Error)]
pub enum EpcisError {
    #[error("cannot write XML: {0}")]
    Write(#[from] std::io::Error),
}

/// An EPCIS document with its SBDH envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// SBDH `InstanceIdentifier`: unique per document, reused on every resend.
    pub instance_id: String,
    pub created: DateTime<Utc>,
    /// GLN-13 of the sender (the CMO site) and of the receiver (the upstream partner).
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
    pub events: Vec<ObjectEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Observe,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "ADD",
            Action::Observe => "OBSERVE",
            Action::Delete => "DELETE",
        }
    }
}

/// An ObjectEvent as linegate emits it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEvent {
    pub event_time: DateTime<Utc>,
    /// `±hh:mm`, the line's local offset at `event_time`.
    pub tz_offset: String,
    pub epcs: Vec<EpcUri>,
    pub action: Action,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    /// SGLN URIs.
    pub read_point: Option<EpcUri>,
    pub biz_location: Option<EpcUri>,
    pub ilmd: Option<Ilmd>,
}

/// Instance/lot master data carried by a commissioning event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ilmd {
    pub lot: String,
    pub expiry: NaiveDate,
}
