//! Domain values shared by the line rules, the store and the assembler.
//!
//! These types are what a line *said*, after it was decoded and its identifiers were validated:
//! nothing here knows JSON, MQTT, SQL or XML. The store persists them, the rules judge them and
//! the assembler turns them into EPCIS. Keeping them plain (strings that were already validated
//! by `gs1`, dates, times) is what lets the store stay ignorant of GS1 parsing.

use chrono::{DateTime, NaiveDate, Utc};
use std::path::PathBuf;

use crate::gs1::EpcUri;

/// One message from a line, accepted by the decoder and ready for the line rules.
#[derive(Debug, Clone, PartialEq)]
pub struct LineMessage {
    /// The line the message came from (from the MQTT topic), as configured in `[[line]]`.
    pub line: String,
    /// The sender's unique message id: the de-duplication key together with `line`.
    pub message_id: String,
    /// When the event happened on the line (the message's `time`, else the receive time).
    pub time: DateTime<Utc>,
    pub event: LineEvent,
}

/// What happened on the line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineEvent {
    BatchOpen(BatchOpen),
    Commission {
        batch: String,
        codes: Vec<CodeRecord>,
    },
    /// Pack `children` into `parent` (case, bundle, pallet).
    Aggregate {
        parent: CodeRecord,
        children: Vec<CodeRecord>,
    },
    /// Unpack `children` from `parent`; None unpacks everything it holds.
    Disaggregate {
        parent: CodeRecord,
        children: Option<Vec<CodeRecord>>,
    },
    /// Decommission, destroy, sample, correct or ship loose units.
    Units {
        action: UnitAction,
        codes: Vec<CodeRecord>,
        reason: Option<String>,
    },
    BatchClose {
        batch: String,
    },
    BatchCancel {
        batch: String,
        reason: Option<String>,
    },
    /// QA release of a closed batch (from the supervisor's command line, not from a line).
    BatchRelease {
        batch: String,
    },
    /// A shipment leaves the site (`ship`, from the warehouse system or `linegate ship`).
    Ship(Box<Shipment>),
    /// A sale that did not leave after all: its units are available again.
    VoidShipment {
        shipment: String,
        /// The partner's change-reason code.
        reason: String,
    },
    /// Units shipped earlier come back to the site.
    Receive(Receipt),
}

/// Whether a shipment changes ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentKind {
    /// Ownership passes to the buyer; only a sale can be voided.
    Sale,
    /// To another site of the same owner; ends with a receipt there.
    Transfer,
}

impl ShipmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentKind::Sale => "sale",
            ShipmentKind::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ShipmentKind::Sale, ShipmentKind::Transfer]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A trading party: its GLN-13 (business-transaction ids) and its SGLN (source/destination).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub gln: String,
    pub sgln: EpcUri,
}

/// What a `ship` message says: a despatch advice.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    /// The despatch-advice number: unique for the site.
    pub shipment: String,
    pub kind: ShipmentKind,
    /// The top-level identifiers (pallets, loose cases, loose units); their contents go along.
    pub codes: Vec<CodeRecord>,
    /// The buyer's purchase order.
    pub po: Option<String>,
    /// Who ships and from where; None: the site (`gateway.site_gln`).
    pub from_party: Option<Party>,
    pub from_location: Option<EpcUri>,
    pub to_party: Party,
    /// SGLN of the place it goes to.
    pub to_location: EpcUri,
}

/// What a `receive` message says.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// The receiving document (receiving advice) number.
    pub document: String,
    /// The top-level identifiers received; their contents come with them.
    pub codes: Vec<CodeRecord>,
    /// The shipment they arrive from, when the receiver knows it.
    pub shipment: Option<String>,
}

/// What happens to the units of a `LineEvent::Units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitAction {
    Decommission,
    Destroy,
    Sample,
    /// A unit wrongly recorded as sampled goes back to commissioned (a status correction).
    CorrectStatus,
    /// Leaves the site as a top-level unit, with everything packed in it, without a shipment
    /// record or document: the judgement `LineEvent::Ship` builds on (the protocol's `ship`).
    Ship,
}

impl UnitAction {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitAction::Decommission => "decommission",
            UnitAction::Destroy => "destroy",
            UnitAction::Sample => "sample",
            UnitAction::CorrectStatus => "correct_status",
            UnitAction::Ship => "ship",
        }
    }
}

impl LineEvent {
    /// The protocol's name for the event, as stored in the message log.
    pub fn kind(&self) -> &'static str {
        match self {
            LineEvent::BatchOpen(_) => "batch_open",
            LineEvent::Commission { .. } => "commission",
            LineEvent::Aggregate { .. } => "aggregate",
            LineEvent::Disaggregate { .. } => "disaggregate",
            LineEvent::Units { action, .. } => action.as_str(),
            LineEvent::BatchClose { .. } => "batch_close",
            LineEvent::BatchCancel { .. } => "batch_cancel",
            LineEvent::BatchRelease { .. } => "batch_release",
            LineEvent::Ship(_) => "ship",
            LineEvent::VoidShipment { .. } => "void_shipment",
            LineEvent::Receive(_) => "receive",
        }
    }
}

/// The master data of a batch as the line announced it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOpen {
    pub batch: String,
    /// GTIN-14 of the saleable unit, already validated.
    pub gtin: String,
    /// GTIN-14s of the bundles and cases this batch commissions (SSCCs need none).
    pub pack_gtins: Vec<String>,
    pub lot: String,
    pub expiry: NaiveDate,
    pub work_order: Option<String>,
    pub planned_quantity: Option<u64>,
}

/// One serialised identifier read on the line, validated and rendered once.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRecord {
    /// Canonical element-string key, e.g. `(01)00361414567894(21)ABC123`; unique in the registry.
    pub key: String,
    /// EPC pure-identity URI used in EPCIS documents.
    pub epc: EpcUri,
    /// GTIN-14 of an SGTIN (None for an SSCC).
    pub gtin: Option<String>,
    /// Lot and expiry if the code carried them (AI 10 / AI 17), for wrong-label detection.
    pub lot: Option<String>,
    pub expiry: Option<NaiveDate>,
}

/// Why a message was refused: a machine code for the line and a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: RejectCode, reason: impl Into<String>) -> Self {
        Rejection {
            code,
            reason: reason.into(),
        }
    }
}

/// The closed set of rejection codes published on the rejects topic (protocol v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    InvalidJson,
    PayloadTooLarge,
    MissingField,
    InvalidField,
    UnknownType,
    InvalidCode,
    UnknownLine,
    BatchNotOpen,
    BatchExists,
    BatchLimit,
    UnaggregatedUnits,
    DuplicateCode,
    DuplicateScan,
    CommissionConflict,
    InvalidTransition,
    NotCommissioned,
    Packed,
    NotPacked,
    HasChildren,
    Destroyed,
    InOtherParent,
    AlreadyInParent,
    NotInParent,
    AggregationCycle,
    RepeatedChild,
    GtinMismatch,
    LabelMismatch,
    ShipmentExists,
    UnknownShipment,
}

impl RejectCode {
    /// Every code, in the order the protocol documentation lists them.
    pub const ALL: [RejectCode; 29] = [
        RejectCode::InvalidJson,
        RejectCode::PayloadTooLarge,
        RejectCode::MissingField,
        RejectCode::InvalidField,
        RejectCode::UnknownType,
        RejectCode::InvalidCode,
        RejectCode::UnknownLine,
        RejectCode::BatchNotOpen,
        RejectCode::BatchExists,
        RejectCode::BatchLimit,
        RejectCode::UnaggregatedUnits,
        RejectCode::DuplicateCode,
        RejectCode::DuplicateScan,
        RejectCode::CommissionConflict,
        RejectCode::InvalidTransition,
        RejectCode::NotCommissioned,
        RejectCode::Packed,
        RejectCode::NotPacked,
        RejectCode::HasChildren,
        RejectCode::Destroyed,
        RejectCode::InOtherParent,
        RejectCode::AlreadyInParent,
        RejectCode::NotInParent,
        RejectCode::AggregationCycle,
        RejectCode::RepeatedChild,
        RejectCode::GtinMismatch,
        RejectCode::LabelMismatch,
        RejectCode::ShipmentExists,
        RejectCode::UnknownShipment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::PayloadTooLarge => "payload_too_large",
            RejectCode::MissingField => "missing_field",
            RejectCode::InvalidField => "invalid_field",
            RejectCode::UnknownType => "unknown_type",
            RejectCode::InvalidCode => "invalid_code",
            RejectCode::UnknownLine => "unknown_line",
            RejectCode::BatchNotOpen => "batch_not_open",
            RejectCode::BatchExists => "batch_exists",
            RejectCode::BatchLimit => "batch_limit",
            RejectCode::UnaggregatedUnits => "unaggregated_units",
            RejectCode::DuplicateCode => "duplicate_code",
            RejectCode::DuplicateScan => "duplicate_scan",
            RejectCode::CommissionConflict => "commission_conflict",
            RejectCode::InvalidTransition => "invalid_transition",
            RejectCode::NotCommissioned => "not_commissioned",
            RejectCode::Packed => "packed",
            RejectCode::NotPacked => "not_packed",
            RejectCode::HasChildren => "has_children",
            RejectCode::Destroyed => "destroyed",
            RejectCode::InOtherParent => "in_other_parent",
            RejectCode::AlreadyInParent => "already_in_parent",
            RejectCode::NotInParent => "not_in_parent",
            RejectCode::AggregationCycle => "aggregation_cycle",
            RejectCode::RepeatedChild => "repeated_child",
            RejectCode::GtinMismatch => "gtin_mismatch",
            RejectCode::LabelMismatch => "label_mismatch",
            RejectCode::ShipmentExists => "shipment_exists",
            RejectCode::UnknownShipment => "unknown_shipment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A message that could not be accepted, with everything the quarantine keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub line: Option<String>,
    pub topic: String,
    pub message_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub rejection: Rejection,
    /// The payload as received, cut to `QUARANTINE_PAYLOAD_MAX` bytes.
    pub payload: Vec<u8>,
    /// The full payload length, so an operator sees how large the original was.
    pub payload_len: usize,
}

/// How much of a rejected payload the quarantine keeps (the rest of a 10 MB blob is noise).
pub const QUARANTINE_PAYLOAD_MAX: usize = 64 * 1024;

/// A document the assembler filed in the outbox, to be recorded with its delivery: its bytes
/// are in `file` (under the store's outbox directory), written and made durable before this
/// is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// The SBDH InstanceIdentifier; also the `Idempotency-Key` on every delivery attempt.
    pub document_id: String,
    /// The message it is (`MessageKind::as_str`, e.g. `end_of_batch`).
    pub kind: String,
    pub content_type: String,
    /// The upstream it is addressed to (`[[upstream]] name`).
    pub upstream: String,
    /// Its file name in the outbox directory.
    pub file: String,
    /// Which part of the message it is (1-based, sending order), of `parts`.
    pub part: usize,
    pub parts: usize,
    /// The partner's format (`Format::as_str`).
    pub format: String,
    /// The file's size.
    pub bytes: u64,
}

/// One document on its way to one upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The SBDH InstanceIdentifier / EPCIS document id: the `Idempotency-Key`, the same on every
    /// attempt and every replay.
    pub document_id: String,
    pub upstream: String,
    /// The message kind (`end_of_batch`, `shipment`, `commission`, …).
    pub kind: String,
    pub batch: Option<String>,
    /// Which part of its message this document is (1-based) of `parts`.
    pub part: u32,
    pub parts: u32,
    pub content_type: String,
    /// The file name the document had in the outbox (`<document id>.<extension>`): a pickup
    /// directory gets the same name.
    pub file_name: String,
    pub body: Body,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Where a document's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A file under `<data_dir>/outbox/` (every document since migration 3).
    File { path: PathBuf, len: u64 },
    /// Stored in the row (documents written before documents were files).
    Inline(Vec<u8>),
}

impl Body {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::File { len, .. } => *len,
            Body::Inline(b) => b.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::RejectCode;

    /// The published JSON Schema lists exactly the codes the daemon can send.
    #[test]
    fn the_reject_notice_schema_lists_every_code() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/reject-notice-v1.schema.json"
        );
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
                .expect("json");
        let listed: Vec<&str> = schema["properties"]["code"]["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(!listed.is_empty());
        for code in &listed {
            let parsed = RejectCode::parse(code)
                .unwrap_or_else(|| panic!("schema lists unknown code {code}"));
            assert_eq!(parsed.as_str(), *code);
        }
        let docs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/mqtt-protocol-v1.md"
        ))
        .expect("docs");
        for code in &listed {
            assert!(
                docs.contains(&format!("| `{code}` |")),
                "docs/mqtt-protocol-v1.md does not explain {code}"
            );
        }
        assert_eq!(
            listed.len(),
            RejectCode::ALL.len(),
            "a code was added to RejectCode but not to the schema, or the reverse"
        );
    }
}
