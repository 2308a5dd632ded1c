//! The one event model behind every document linegate sends: EPCIS 1.2 XML, 2.0 JSON-LD and
//! 2.0 XML are three renderings of it (issue "every upstream message").
//!
//! It holds what a CMO line reports — ObjectEvents (commission, decommission, destroy, sample,
//! ship, receive, void shipment, status update, product release) and AggregationEvents (pack,
//! unpack) — with their business context (read point, site, business transactions, source and
//! destination parties), the lot master data (ILMD) and the packaging level. Identifiers arrive
//! typed and validated from `gs1`; CBV values are `Term`s that each writer renders in its own
//! form (`urn:epcglobal:cbv:bizstep:packing` in 1.2 XML, `packing` in 2.0 JSON-LD). The eventID
//! is computed once, from the 2.0 JSON-LD form (`hash`), and the same id is written in every
//! format, so a partner sees the same event whichever format it takes.

use chrono::{DateTime, NaiveDate, Utc};

use crate::gs1::{EpcUri, Gln};

/// Which CBV vocabulary a `Term` belongs to; fixes its URN prefix in EPCIS 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    BizStep,
    Disposition,
    BizTransactionType,
    SourceDestType,
}

impl Vocabulary {
    /// The EPCIS 1.2 URN prefix of standard terms of this vocabulary.
    pub fn urn_prefix(self) -> &'static str {
        match self {
            Vocabulary::BizStep => "urn:epcglobal:cbv:bizstep:",
            Vocabulary::Disposition => "urn:epcglobal:cbv:disp:",
            Vocabulary::BizTransactionType => "urn:epcglobal:cbv:btt:",
            Vocabulary::SourceDestType => "urn:epcglobal:cbv:sdt:",
        }
    }
}

/// A CBV vocabulary value: a standard term, kept as its bare word (`commissioning`), or a
/// partner's own value, kept as the full URI it gave (anything containing `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    vocabulary: Vocabulary,
    value: String,
}

impl Term {
    /// A standard CBV term (`word` without prefix) or a partner URI (`value` with a `:`).
    /// A full standard URN (`urn:epcglobal:cbv:bizstep:packing`) is reduced to its word, so
    /// configuration may use either form.
    pub fn new(vocabulary: Vocabulary, value: &str) -> Term {
        let value = value
            .strip_prefix(vocabulary.urn_prefix())
            .unwrap_or(value)
            .to_string();
        Term { vocabulary, value }
    }

    pub fn biz_step(value: &str) -> Term {
        Term::new(Vocabulary::BizStep, value)
    }

    pub fn disposition(value: &str) -> Term {
        Term::new(Vocabulary::Disposition, value)
    }

    pub fn vocabulary(&self) -> Vocabulary {
        self.vocabulary
    }

    /// Whether this is a standard CBV term (not a partner URI).
    pub fn is_standard(&self) -> bool {
        !self.value.contains(':')
    }

    /// The bare CBV word of a standard term, or the partner URI (EPCIS 2.0 JSON-LD form).
    pub fn bare(&self) -> &str {
        &self.value
    }

    /// The URN form EPCIS 1.2 writes: `urn:epcglobal:cbv:bizstep:packing`, or the partner URI.
    pub fn urn(&self) -> String {
        if self.is_standard() {
            format!("{}{}", self.vocabulary.urn_prefix(), self.value)
        } else {
            self.value.clone()
        }
    }
}

/// The standard CBV terms linegate uses itself.
pub mod cbv {
    pub const COMMISSIONING: &str = "commissioning";
    pub const PACKING: &str = "packing";
    pub const UNPACKING: &str = "unpacking";
    pub const DECOMMISSIONING: &str = "decommissioning";
    pub const DESTROYING: &str = "destroying";
    pub const SAMPLING: &str = "sampling";
    pub const SHIPPING: &str = "shipping";
    pub const RECEIVING: &str = "receiving";
    pub const VOID_SHIPPING: &str = "void_shipping";

    pub const ACTIVE: &str = "active";
    pub const IN_PROGRESS: &str = "in_progress";
    pub const INACTIVE: &str = "inactive";
    pub const DESTROYED: &str = "destroyed";
    pub const IN_TRANSIT: &str = "in_transit";

    pub const BTT_PO: &str = "po";
    pub const BTT_DESADV: &str = "desadv";
    pub const BTT_INV: &str = "inv";

    pub const SDT_OWNING_PARTY: &str = "owning_party";
    pub const SDT_LOCATION: &str = "location";
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

/// What the event is about: objects, or a parent and its children.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// An ObjectEvent over these EPCs.
    Object { epcs: Vec<EpcUri> },
    /// An AggregationEvent. `parent` is required for ADD and DELETE; a DELETE with no
    /// children unpacks everything from the parent.
    Aggregation {
        parent: Option<EpcUri>,
        children: Vec<EpcUri>,
    },
}

/// A business transaction the event belongs to: a purchase order, a despatch advice, …
#[derive(Debug, Clone, PartialEq)]
pub struct BizTransaction {
    /// A `BizTransactionType` term (`po`, `desadv`, `inv`).
    pub kind: Term,
    /// The transaction id, e.g. `urn:epcglobal:cbv:bt:0614141000005:PO-7781`.
    pub id: String,
}

/// A source or destination of a transfer: an owning party or a location.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDest {
    /// A `SourceDestType` term (`owning_party`, `location`).
    pub kind: Term,
    /// SGLN (or other party URI) of the party or location.
    pub id: EpcUri,
}

/// Instance/lot master data carried by a commissioning event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ilmd {
    pub lot: String,
    pub expiry: NaiveDate,
}

/// The packaging level of the event's objects (TraceLink's PackLevel codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackagingLevel {
    /// A saleable unit ("each").
    Each,
    /// A case or bundle.
    Case,
    /// A pallet.
    Pallet,
}

impl PackagingLevel {
    pub fn code(self) -> &'static str {
        match self {
            PackagingLevel::Each => "EA",
            PackagingLevel::Case => "CA",
            PackagingLevel::Pallet => "PL",
        }
    }
}

/// One EPCIS event as linegate emits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub event_time: DateTime<Utc>,
    /// `±hh:mm`, the line's local offset at `event_time`.
    pub tz_offset: String,
    /// `ni:///sha-256;…?ver=CBV2.0`, set from the 2.0 JSON-LD form before writing.
    pub event_id: Option<String>,
    pub action: Action,
    pub biz_step: Option<Term>,
    pub disposition: Option<Term>,
    /// SGLN of the line or station (readPoint).
    pub read_point: Option<EpcUri>,
    /// SGLN of the site (bizLocation).
    pub biz_location: Option<EpcUri>,
    pub biz_transactions: Vec<BizTransaction>,
    pub sources: Vec<SourceDest>,
    pub destinations: Vec<SourceDest>,
    /// ObjectEvents that commission units only.
    pub ilmd: Option<Ilmd>,
    /// Written only where a partner asks for TraceLink extensions (EPCIS 1.2).
    pub packaging_level: Option<PackagingLevel>,
}

impl Event {
    /// An ObjectEvent with no business context yet.
    pub fn object(
        epcs: Vec<EpcUri>,
        action: Action,
        event_time: DateTime<Utc>,
        tz_offset: String,
    ) -> Event {
        Event::new(EventKind::Object { epcs }, action, event_time, tz_offset)
    }

    /// An AggregationEvent with no business context yet.
    pub fn aggregation(
        parent: Option<EpcUri>,
        children: Vec<EpcUri>,
        action: Action,
        event_time: DateTime<Utc>,
        tz_offset: String,
    ) -> Event {
        Event::new(
            EventKind::Aggregation { parent, children },
            action,
            event_time,
            tz_offset,
        )
    }

    fn new(kind: EventKind, action: Action, event_time: DateTime<Utc>, tz_offset: String) -> Event {
        Event {
            kind,
            event_time,
            tz_offset,
            event_id: None,
            action,
            biz_step: None,
            disposition: None,
            read_point: None,
            biz_location: None,
            biz_transactions: Vec::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            ilmd: None,
            packaging_level: None,
        }
    }

    /// Sets bizStep and disposition from standard terms or partner URIs.
    pub fn with_step(mut self, biz_step: &str, disposition: &str) -> Event {
        self.biz_step = Some(Term::biz_step(biz_step));
        self.disposition = Some(Term::disposition(disposition));
        self
    }

    /// Sets readPoint and bizLocation.
    pub fn at(mut self, read_point: Option<EpcUri>, biz_location: Option<EpcUri>) -> Event {
        self.read_point = read_point;
        self.biz_location = biz_location;
        self
    }
}

/// The DSCSA transaction statement a sales shipment carries (GS1 US healthcare extension).
#[derive(Debug, Clone, PartialEq)]
pub struct DscsaStatement {
    /// Optional legal notice text shown with the affirmation.
    pub legal_notice: Option<String>,
}

/// Everything in a document but its events: the SBDH envelope and header extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// SBDH `InstanceIdentifier` (and the 2.0 document id): unique per document, reused on
    /// every resend.
    pub instance_id: String,
    pub created: DateTime<Utc>,
    /// GLN-13 of the sender (the CMO site) and of the receiver (the upstream partner).
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
    /// Sales shipments to a partner that wants it: the DSCSA transaction statement.
    pub dscsa_statement: Option<DscsaStatement>,
    /// Whether to write TraceLink `tl:` extensions (EPCIS 1.2 only).
    pub tracelink_extensions: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standard_term_is_a_word_in_json_and_a_urn_in_1_2() {
        let t = Term::biz_step("commissioning");
        assert!(t.is_standard());
        assert_eq!(t.bare(), "commissioning");
        assert_eq!(t.urn(), "urn:epcglobal:cbv:bizstep:commissioning");
    }

    #[test]
    fn a_configured_urn_is_reduced_to_its_word_and_a_partner_uri_kept() {
        let t = Term::disposition("urn:epcglobal:cbv:disp:in_transit");
        assert_eq!(t.bare(), "in_transit");
        assert_eq!(t.urn(), "urn:epcglobal:cbv:disp:in_transit");
        let own = Term::biz_step("https://partner.example.com/voc/release");
        assert!(!own.is_standard());
        assert_eq!(own.bare(), "https://partner.example.com/voc/release");
        assert_eq!(own.urn(), "https://partner.example.com/voc/release");
    }

    #[test]
    fn builders_fill_the_business_context() {
        let t = DateTime::parse_from_rfc3339("2026-03-04T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let site = EpcUri::parse("urn:epc:id:sgln:0361414.00000.0").expect("sgln");
        let e = Event::aggregation(None, vec![], Action::Observe, t, "+01:00".into())
            .with_step(cbv::PACKING, cbv::IN_PROGRESS)
            .at(None, Some(site.clone()));
        assert_eq!(e.biz_step.as_ref().map(Term::bare), Some("packing"));
        assert_eq!(e.biz_location, Some(site));
        assert!(matches!(
            e.kind,
            EventKind::Aggregation { parent: None, .. }
        ));
    }
}
