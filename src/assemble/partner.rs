//! What one receiving partner (`[[upstream]]`) wants to get: which messages, in which format and
//! variant, how large each document may be, and which extensions.
//!
//! The configuration reads these settings (`config::sections`); the builders only look at them.
//! Defaults are what a TraceLink-connected marketing-authorization holder commonly takes: EPCIS
//! 1.2 with SBDH, End of Batch with aggregation and a product-release event at batch close, and
//! shipments with nothing but the shipping event. `docs/upstream-messages.md` explains each.

use crate::epcis::{Action, Term};
use crate::gs1::Gln;

/// The wire format of a partner's documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// EPCIS 1.2 XML with a Standard Business Document Header.
    Epcis12,
    /// EPCIS 2.0 JSON-LD.
    Epcis20Json,
    /// EPCIS 2.0 XML.
    Epcis20Xml,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Epcis12, Format::Epcis20Json, Format::Epcis20Xml];

    /// The name in the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Epcis12 => "epcis-1.2",
            Format::Epcis20Json => "epcis-2.0-json",
            Format::Epcis20Xml => "epcis-2.0-xml",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Epcis12 | Format::Epcis20Xml => "application/xml",
            Format::Epcis20Json => "application/ld+json",
        }
    }

    /// The file extension of a document in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Epcis12 | Format::Epcis20Xml => "xml",
            Format::Epcis20Json => "jsonld",
        }
    }
}

/// Which events an End of Batch carries. Commission events always come first and the product
/// release event always comes; the variants add aggregation and the units taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EobVariant {
    /// commission + aggregation + product release (the default).
    CommissionAggregationRelease,
    /// commission + product release: no packing hierarchy.
    CommissionRelease,
    /// commission + product release + decommission/destroy of the units taken out.
    CommissionReleaseRejects,
    /// commission + aggregation + decommission/destroy + product release.
    CommissionAggregationRejectsRelease,
}

impl EobVariant {
    pub const ALL: [EobVariant; 4] = [
        EobVariant::CommissionAggregationRelease,
        EobVariant::CommissionRelease,
        EobVariant::CommissionReleaseRejects,
        EobVariant::CommissionAggregationRejectsRelease,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EobVariant::CommissionAggregationRelease => "commission-aggregation-release",
            EobVariant::CommissionRelease => "commission-release",
            EobVariant::CommissionReleaseRejects => "commission-release-rejects",
            EobVariant::CommissionAggregationRejectsRelease => {
                "commission-aggregation-rejects-release"
            }
        }
    }

    pub fn parse(s: &str) -> Option<EobVariant> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn aggregation(self) -> bool {
        matches!(
            self,
            EobVariant::CommissionAggregationRelease
                | EobVariant::CommissionAggregationRejectsRelease
        )
    }

    /// Whether units taken out (decommissioned, destroyed, sampled) are reported. When they are
    /// not, they are left out of the commission events too: the partner hears only of units
    /// that are still good.
    pub fn rejects(self) -> bool {
        matches!(
            self,
            EobVariant::CommissionReleaseRejects | EobVariant::CommissionAggregationRejectsRelease
        )
    }
}

/// What a Shipment message carries besides the shipping event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentVariant {
    /// The shipping event only (the partner already has commission and aggregation).
    ShipmentOnly,
    /// commission + aggregation + shipping.
    CommissionAggregation,
    /// commission + shipping.
    Commission,
    /// aggregation + shipping.
    Aggregation,
}

impl ShipmentVariant {
    pub const ALL: [ShipmentVariant; 4] = [
        ShipmentVariant::ShipmentOnly,
        ShipmentVariant::CommissionAggregation,
        ShipmentVariant::Commission,
        ShipmentVariant::Aggregation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentVariant::ShipmentOnly => "shipment",
            ShipmentVariant::CommissionAggregation => "commission-aggregation-shipment",
            ShipmentVariant::Commission => "commission-shipment",
            ShipmentVariant::Aggregation => "aggregation-shipment",
        }
    }

    pub fn parse(s: &str) -> Option<ShipmentVariant> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn commission(self) -> bool {
        matches!(
            self,
            ShipmentVariant::CommissionAggregation | ShipmentVariant::Commission
        )
    }

    pub fn aggregation(self) -> bool {
        matches!(
            self,
            ShipmentVariant::CommissionAggregation | ShipmentVariant::Aggregation
        )
    }
}

/// When the End of Batch is assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EobTrigger {
    /// When the batch closes (`batch_close`).
    Close,
    /// When QA releases it (`linegate batch release`).
    Release,
}

/// The messages a partner can receive; `[[upstream]] messages` lists the ones it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    EndOfBatch,
    Shipment,
    /// One ESM message per line event of that kind (per-event reporting).
    Commission,
    Aggregation,
    Disaggregation,
    Decommission,
    Destroy,
    Sample,
    Receive,
    VoidShipment,
    StatusUpdate,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        MessageKind::EndOfBatch,
        MessageKind::Shipment,
        MessageKind::Commission,
        MessageKind::Aggregation,
        MessageKind::Disaggregation,
        MessageKind::Decommission,
        MessageKind::Destroy,
        MessageKind::Sample,
        MessageKind::Receive,
        MessageKind::VoidShipment,
        MessageKind::StatusUpdate,
    ];

    /// The name in `messages = [...]` and the `kind` of the document in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::EndOfBatch => "end_of_batch",
            MessageKind::Shipment => "shipment",
            MessageKind::Commission => "commission",
            MessageKind::Aggregation => "aggregation",
            MessageKind::Disaggregation => "disaggregation",
            MessageKind::Decommission => "decommission",
            MessageKind::Destroy => "destroy",
            MessageKind::Sample => "sample",
            MessageKind::Receive => "receive",
            MessageKind::VoidShipment => "void_shipment",
            MessageKind::StatusUpdate => "status_update",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The event a product release is reported with. MESSAGES.md §3.11 leaves TraceLink's exact
/// shape UNVERIFIED; the default is ours, explained in `docs/upstream-messages.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseEvent {
    pub action: Action,
    pub biz_step: Term,
    pub disposition: Term,
}

impl Default for ReleaseEvent {
    fn default() -> Self {
        ReleaseEvent {
            action: Action::Observe,
            biz_step: Term::biz_step("inspecting"),
            disposition: Term::disposition("sellable_not_accessible"),
        }
    }
}

/// How large one document may grow; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_events_per_document: usize,
    pub max_bytes_per_document: u64,
    /// Commission, release and end-of-life events list at most this many EPCs; a larger set
    /// becomes several events (what keeps a million-unit batch streaming in bounded memory).
    pub max_epcs_per_event: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events_per_document: 0,
            max_bytes_per_document: 0,
            max_epcs_per_event: 10_000,
        }
    }
}

/// Who sends to whom, and how: one per `[[upstream]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Partner {
    pub upstream: String,
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
    pub format: Format,
    /// The messages this partner takes (never empty).
    pub messages: Vec<MessageKind>,
    pub eob_variant: EobVariant,
    pub eob_trigger: EobTrigger,
    pub release: ReleaseEvent,
    pub shipment_variant: ShipmentVariant,
    pub limits: Limits,
    /// TraceLink `tl:` extensions (EPCIS 1.2 only).
    pub tracelink_extensions: bool,
    /// Sales shipments carry the DSCSA transaction statement (with this legal notice, if any).
    pub dscsa_statement: bool,
    pub dscsa_legal_notice: Option<String>,
}

impl Partner {
    /// A partner with every default: EPCIS 1.2, End of Batch and Shipment.
    pub fn new(upstream: &str, sender_gln: Gln, receiver_gln: Gln) -> Partner {
        Partner {
            upstream: upstream.to_string(),
            sender_gln,
            receiver_gln,
            format: Format::Epcis12,
            messages: vec![MessageKind::EndOfBatch, MessageKind::Shipment],
            eob_variant: EobVariant::CommissionAggregationRelease,
            eob_trigger: EobTrigger::Close,
            release: ReleaseEvent::default(),
            shipment_variant: ShipmentVariant::ShipmentOnly,
            limits: Limits::default(),
            tracelink_extensions: false,
            dscsa_statement: false,
            dscsa_legal_notice: None,
        }
    }

    pub fn takes(&self, kind: MessageKind) -> bool {
        self.messages.contains(&kind)
    }
}
