//! EPCIS documents: one internal model, and writers that turn it into bytes.
//!
//! The model (`event`: a `Header` and `Event`s) holds only what linegate emits, already
//! validated (EPC URIs come from `gs1`, CBV values are `Term`s). Writers stream a document into
//! a caller's sink — `begin(sink, &header)`, `event(&e)` per event, `finish()` — so no batch is
//! ever held whole; they do no I/O but the sink's and fail only when the sink does. EPCIS 1.2
//! XML with SBDH (`xml12`) and EPCIS 2.0 XML (`xml20`); EPCIS 2.0 JSON-LD is `json20`.
//! `hash` computes an event's `eventID`, the GS1 event hash, from its EPCIS 2.0 JSON-LD form.

pub mod event;
mod hash;
mod json20;
mod xml12;
mod xml20;
mod xml_common;

#[cfg(test)]
pub(crate) use xml_common::testkit;

pub use event::{
    Action, BizTransaction, DscsaStatement, Event, EventKind, Header, Ilmd, PackagingLevel,
    SourceDest, Term, Vocabulary, cbv,
};
pub use hash::{EventHashError, EventHasher, event_id};
pub use json20::{EventIds, Json20Writer, assign_event_id, document_context, event_value};
pub use xml12::{Epcis12Writer, write_epcis12};
pub use xml20::{Epcis20XmlWriter, write_epcis20_xml};

/// Errors of the writers. Identifiers arrive as validated `gs1` types, so only the sink can fail.
#[derive(Debug, thiserror::Error)]
pub enum EpcisError {
    #[error("cannot write the document: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot compute the eventID: {0}")]
    EventHash(#[from] EventHashError),
}
