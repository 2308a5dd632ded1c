//! The GS1 EPCIS event hash ("EPCIS Event Hash ID", CBV 2.0): the `eventID` linegate gives every
//! event, `ni:///sha-256;<64 hex digits>?ver=CBV2.0`, so that an event sent twice is recognisably
//! the same event upstream.
//!
//! The hash is SHA-256 over a *pre-hash string* (written by `hash_canon.rs`): `eventType=…`, then
//! the event's fields in a fixed order, each written `name=value` with nothing in between, the
//! entries of every list sorted, every value in one canonical form (`hash_values.rs`: UTC
//! timestamps with milliseconds, CBV values as web URIs, CURIEs expanded, numbers without
//! trailing zeros; `hash_ids.rs`: EPC URIs as GS1 Digital Link URIs). `eventID`, `recordTime` and
//! `errorDeclaration` are left out, so setting them does not change the hash; neither does the
//! order of keys or of list entries.
//!
//! Where the written rules leave room, this follows GS1's reference implementation
//! (`epcis-event-hash-generator` 1.9.3), whose output the official expected hashes record:
//! `docs/epcis-event-hash.md` lists those choices. Pure: no I/O, no clock; any input gives a
//! hash or an [`EventHashError`] that names the field.

use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "hash_canon.rs"]
mod canon;
#[path = "hash_ids.rs"]
mod ids;
#[cfg(test)]
#[path = "hash_rules_tests.rs"]
mod rules_tests;
#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
#[path = "hash_values.rs"]
mod values;

use canon::{Pre, kind};
use values::{Prefixes, Vocab};

/// The version of the algorithm the IDs name (`?ver=`).
const VERSION: &str = "CBV2.0";

const EVENT_TYPES: [&str; 5] = [
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

/// Fields that take no part in the hash (`type` is written first, as `eventType`).
const LEFT_OUT: [&str; 5] = [
    "type",
    "eventID",
    "recordTime",
    "errorDeclaration",
    "@context",
];

/// Deeper user extensions than this are refused rather than followed.
const MAX_DEPTH: usize = 64;

/// Why an event could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventHashError {
    #[error("an EPCIS event must be a JSON object, not {found}")]
    NotAnObject { found: &'static str },
    #[error("the event has no `{field}`")]
    Missing { field: &'static str },
    #[error("`type` is {value:?}, not one of {}", EVENT_TYPES.join(", "))]
    UnknownEventType { value: String },
    #[error("`{path}` must be {expected}, not {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("`{path}` is {value}, not a date and time with a UTC offset (xsd:dateTimeStamp)")]
    BadTimestamp { path: String, value: String },
    #[error(
        "`{path}` is not an EPCIS field; a user extension needs a namespace prefix or a full IRI"
    )]
    UnknownField { path: String },
    #[error(
        "`{path}` uses the prefix `{prefix}:`, which no @context of the event or document declares"
    )]
    UndeclaredPrefix { path: String, prefix: String },
    #[error("`{path}` is nested more than {max} levels deep", max = MAX_DEPTH)]
    TooDeep { path: String },
    #[error("@context: {reason}")]
    BadContext { reason: String },
}

/// Computes event hashes for the events of one EPCIS 2.0 JSON-LD document. Built once per
/// document from its `@context` (the namespace prefixes of user extensions); an event's own
/// `@context` adds to it for that event.
#[derive(Debug, Clone)]
pub struct EventHasher {
    prefixes: Prefixes,
}

impl EventHasher {
    pub fn new(document_context: Option<&Value>) -> Result<Self, EventHashError> {
        let mut prefixes = Prefixes::standard();
        if let Some(context) = document_context {
            prefixes.add_context(context)?;
        }
        Ok(Self { prefixes })
    }

    /// The event's hash as `ni:///sha-256;…?ver=CBV2.0`.
    pub fn event_id(&self, event: &Value) -> Result<String, EventHashError> {
        Ok(ni_uri(&self.pre_hash(event)?))
    }

    /// The string that is hashed (useful when comparing with another implementation).
    pub fn pre_hash(&self, event: &Value) -> Result<String, EventHashError> {
        let Value::Object(event) = event else {
            return Err(EventHashError::NotAnObject { found: kind(event) });
        };
        match event.get("@context") {
            None => Pre::new(&self.prefixes).event(event),
            Some(context) => {
                let mut prefixes = self.prefixes.clone();
                prefixes.add_context(context)?;
                Pre::new(&prefixes).event(event)
            }
        }
    }
}

/// The hash of one event; `document_context` is the `@context` of the document it travels in.
pub fn event_id(event: &Value, document_context: Option<&Value>) -> Result<String, EventHashError> {
    EventHasher::new(document_context)?.event_id(event)
}

fn ni_uri(pre_hash: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(pre_hash.as_bytes());
    let mut id = String::with_capacity(90);
    id.push_str("ni:///sha-256;");
    for byte in digest {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id.push_str("?ver=");
    id.push_str(VERSION);
    id
}

/// How a value is canonicalised.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Time,
    Vocab(Vocab),
}

/// How a top-level field is written.
#[derive(Clone, Copy)]
enum Shape {
    One(Kind),
    /// One value or a list of them, each entry `name=value`.
    Many,
    /// `name` then `epc=…` per entry.
    Epcs,
    /// `name` then `quantityElement…` per entry.
    Quantities,
    PersistentDisposition,
    /// `readPoint` / `bizLocation`: `name` then `id=…` and its extensions.
    Location,
    Sensors,
    /// `name` then, per entry, `type=…` and `<id key>=…`.
    Typed(&'static str, Vocab),
    Ilmd,
}

/// The fixed part of the pre-hash string, in this order.
const FIXED: [(&str, Shape); 20] = [
    ("eventTime", Shape::One(Kind::Time)),
    ("eventTimeZoneOffset", Shape::One(Kind::Text)),
    ("certificationInfo", Shape::Many),
    ("parentID", Shape::One(Kind::Text)),
    ("epcList", Shape::Epcs),
    ("inputEPCList", Shape::Epcs),
    ("childEPCs", Shape::Epcs),
    ("quantityList", Shape::Quantities),
    ("childQuantityList", Shape::Quantities),
    ("inputQuantityList", Shape::Quantities),
    ("outputEPCList", Shape::Epcs),
    ("outputQuantityList", Shape::Quantities),
    ("action", Shape::One(Kind::Text)),
    ("transformationID", Shape::One(Kind::Text)),
    ("bizStep", Shape::One(Kind::Vocab(Vocab::BizStep))),
    ("disposition", Shape::One(Kind::Vocab(Vocab::Disposition))),
    ("persistentDisposition", Shape::PersistentDisposition),
    ("readPoint", Shape::Location),
    ("bizLocation", Shape::Location),
    ("sensorElementList", Shape::Sensors),
];

/// After the fixed part, these and the user extensions are each written out and the pieces sorted
/// as strings, as the reference implementation does: `destinationList` thus comes before `ilmd`
/// and `sourceList`, and extensions (`{namespace}name`) come last.
const SORTED: [(&str, Shape); 4] = [
    (
        "bizTransactionList",
        Shape::Typed("bizTransaction", Vocab::BizTransactionType),
    ),
    (
        "sourceList",
        Shape::Typed("source", Vocab::SourceDestinationType),
    ),
    (
        "destinationList",
        Shape::Typed("destination", Vocab::SourceDestinationType),
    ),
    ("ilmd", Shape::Ilmd),
];

const QUANTITY: [(&str, Kind); 3] = [
    ("epcClass", Kind::Text),
    ("quantity", Kind::Text),
    ("uom", Kind::Text),
];

const LOCATION: [(&str, Kind); 1] = [("id", Kind::Text)];

const SENSOR_METADATA: [(&str, Kind); 8] = [
    ("time", Kind::Time),
    ("startTime", Kind::Time),
    ("endTime", Kind::Time),
    ("deviceID", Kind::Text),
    ("deviceMetadata", Kind::Text),
    ("rawData", Kind::Text),
    ("dataProcessingMethod", Kind::Text),
    ("bizRules", Kind::Text),
];

const SENSOR_REPORT: [(&str, Kind); 23] = [
    ("type", Kind::Vocab(Vocab::MeasurementType)),
    ("exception", Kind::Vocab(Vocab::SensorAlert)),
    ("deviceID", Kind::Text),
    ("deviceMetadata", Kind::Text),
    ("rawData", Kind::Text),
    ("dataProcessingMethod", Kind::Text),
    ("time", Kind::Time),
    ("microorganism", Kind::Text),
    ("chemicalSubstance", Kind::Text),
    ("value", Kind::Text),
    ("component", Kind::Vocab(Vocab::Component)),
    ("stringValue", Kind::Text),
    ("booleanValue", Kind::Text),
    ("hexBinaryValue", Kind::Text),
    ("uriValue", Kind::Text),
    ("minValue", Kind::Text),
    ("maxValue", Kind::Text),
    ("meanValue", Kind::Text),
    ("sDev", Kind::Text),
    ("percRank", Kind::Text),
    ("percValue", Kind::Text),
    ("uom", Kind::Text),
    ("coordinateReferenceSystem", Kind::Text),
];
