//! `[[upstream]]`: a partner that receives documents.
//!
//! Two halves: where and how to deliver (URL, timeout, retries, CA — the forwarder's), and what
//! to send (format, messages, End of Batch and Shipment variants, the product release event,
//! document limits, extensions — an `assemble::partner::Partner`, the assembler's). Every key
//! has a default that suits a TraceLink-connected marketing-authorization holder;
//! `config/linegate.toml` and `docs/upstream-messages.md` explain each.

use std::collections::HashSet;
use std::time::Duration;

use super::reader::{Problems, Table};
use super::sections::gln;
use super::upstream_target::Target;
use crate::assemble::partner::{
    EobTrigger, EobVariant, Format, Limits, MessageKind, Partner, ReleaseEvent, ShipmentVariant,
};
use crate::epcis::{Action, Term, Vocabulary};
use crate::gs1::Gln;

/// `[[upstream]]`: a partner that receives documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    /// `url` as configured (for logs and views); `target` is what it means.
    pub url: String,
    /// Where and how documents are delivered (HTTPS, MQTT, directory).
    pub target: Target,
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Documents of different ordering groups (batches) in flight at once.
    pub max_in_flight: usize,
    /// A rejected document holds back the later documents of its ordering group (its batch)
    /// until an operator retries or rejects it for good.
    pub block_on_rejected: bool,
    /// This partner accepts a decommissioned serial being commissioned again.
    pub allow_recommission: bool,
    /// What this partner gets, and in which form (the assembler's settings).
    pub partner: Partner,
}

/// The smallest `max_bytes_per_document` other than 0: below it a document holds little more
/// than its header.
pub const MIN_DOCUMENT_BYTES: u64 = 64 * 1024;

/// No EPC is written in fewer bytes than this in any format (an SSCC URI is 34 characters,
/// then tags or quotes): what `max_epcs_per_event` EPCs surely take.
const MIN_BYTES_PER_EPC: u64 = 32;

/// The CBV bizStep words: GS1's EPCIS 2.0.1 JSON Schema (`bizStep` enum). The last two
/// (`sensor_reporting`, `sampling`) are CBV 2.0 additions; the rest are CBV 1.2's.
const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
];

/// The CBV disposition words: GS1's EPCIS 2.0.1 JSON Schema (`disposition` enum). From
/// `available` on they are later additions (among them `conformant`).
const DISPOSITIONS: &[&str] = &[
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
];

pub(super) fn read(t: &Table<'_>, p: &mut Problems) -> Option<Upstream> {
    let name = t.string("name", p);
    let target = super::upstream_target::read(t, name.as_deref(), p);
    let url = t.opt_string("url", p);
    let sender_gln = gln(t, "sender_gln", p);
    let receiver_gln = gln(t, "receiver_gln", p);
    let timeout = Duration::from_secs(t.int_or("timeout_secs", 30, 1..=600, p));
    let retry_initial =
        Duration::from_millis(t.int_or("retry_initial_ms", 1_000, 10..=3_600_000, p));
    let retry_max = Duration::from_millis(t.int_or("retry_max_ms", 600_000, 10..=86_400_000, p));
    if retry_max < retry_initial {
        p.add(
            t.path_of("retry_max_ms"),
            "must not be smaller than retry_initial_ms",
        );
    }
    let max_in_flight = t.int_or("max_in_flight", 4, 1..=64, p) as usize;
    let block_on_rejected = t.bool_or("block_on_rejected", true, p);
    let allow_recommission = t.bool_or("allow_recommission", false, p);
    let wants = wants(t, p);
    let (name, sender_gln, receiver_gln) = (name?, sender_gln?, receiver_gln?);
    let partner = wants.partner(&name, &sender_gln, &receiver_gln);
    Some(Upstream {
        name,
        url: url?,
        target: target?,
        sender_gln,
        receiver_gln,
        timeout,
        retry_initial,
        retry_max,
        max_in_flight,
        block_on_rejected,
        allow_recommission,
        partner,
    })
}

/// The names of `values`, for `Table::choice` (the first is the default).
fn names<T: Copy>(values: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    values.iter().map(|v| name(*v)).collect()
}

/// What a partner wants: a `Partner` without its names.
struct Wants {
    format: Format,
    messages: Vec<MessageKind>,
    eob_variant: EobVariant,
    eob_trigger: EobTrigger,
    release: ReleaseEvent,
    shipment_variant: ShipmentVariant,
    limits: Limits,
    tracelink_extensions: bool,
    dscsa_statement: bool,
    dscsa_legal_notice: Option<String>,
}

impl Wants {
    fn partner(self, upstream: &str, sender_gln: &Gln, receiver_gln: &Gln) -> Partner {
        Partner {
            upstream: upstream.to_string(),
            sender_gln: sender_gln.clone(),
            receiver_gln: receiver_gln.clone(),
            format: self.format,
            messages: self.messages,
            eob_variant: self.eob_variant,
            eob_trigger: self.eob_trigger,
            release: self.release,
            shipment_variant: self.shipment_variant,
            limits: self.limits,
            tracelink_extensions: self.tracelink_extensions,
            dscsa_statement: self.dscsa_statement,
            dscsa_legal_notice: self.dscsa_legal_notice,
        }
    }
}

/// The default `messages` (as `Partner::new`).
const DEFAULT_MESSAGES: [MessageKind; 2] = [MessageKind::EndOfBatch, MessageKind::Shipment];

/// The keys that say what a partner gets; each absent one takes its default (the first of
/// each list of choices is the default).
fn wants(t: &Table<'_>, p: &mut Problems) -> Wants {
    let format = t.choice("format", &names(&Format::ALL, Format::as_str), p);
    let format = Format::parse(format).unwrap_or(Format::Epcis12);
    let messages = messages(t, p).unwrap_or_else(|| DEFAULT_MESSAGES.to_vec());
    let eob = t.choice(
        "end_of_batch",
        &names(&EobVariant::ALL, EobVariant::as_str),
        p,
    );
    let eob_variant = EobVariant::parse(eob).unwrap_or(EobVariant::CommissionAggregationRelease);
    let eob_trigger = match t.choice("end_of_batch_on", &["close", "release"], p) {
        "release" => EobTrigger::Release,
        _ => EobTrigger::Close,
    };
    let default = ReleaseEvent::default();
    let release = ReleaseEvent {
        action: match t.choice("release_action", &["OBSERVE", "ADD", "DELETE"], p) {
            "ADD" => Action::Add,
            "DELETE" => Action::Delete,
            _ => Action::Observe,
        },
        biz_step: cbv_term(t, "release_biz_step", Vocabulary::BizStep, p)
            .unwrap_or(default.biz_step),
        disposition: cbv_term(t, "release_disposition", Vocabulary::Disposition, p)
            .unwrap_or(default.disposition),
    };
    let shipment = t.choice(
        "shipment",
        &names(&ShipmentVariant::ALL, ShipmentVariant::as_str),
        p,
    );
    let shipment_variant =
        ShipmentVariant::parse(shipment).unwrap_or(ShipmentVariant::ShipmentOnly);
    let limits = limits(t, p);

    let tracelink_extensions = t.bool_or("tracelink_extensions", false, p);
    if tracelink_extensions && format != Format::Epcis12 {
        p.add(
            t.path_of("tracelink_extensions"),
            format!(
                "TraceLink's tl: extensions exist in EPCIS 1.2 only, and format is '{}': set \
                 format = \"epcis-1.2\" or tracelink_extensions = false",
                format.as_str()
            ),
        );
    }
    let dscsa_statement = t.bool_or("dscsa_statement", false, p);
    let dscsa_legal_notice = t.opt_string("dscsa_legal_notice", p);
    if dscsa_legal_notice.is_some() && !dscsa_statement {
        p.add(
            t.path_of("dscsa_legal_notice"),
            "is written only inside the DSCSA transaction statement: set dscsa_statement = true, \
             or remove dscsa_legal_notice",
        );
    }
    Wants {
        format,
        messages,
        eob_variant,
        eob_trigger,
        release,
        shipment_variant,
        limits,
        tracelink_extensions,
        dscsa_statement,
        dscsa_legal_notice,
    }
}

/// Whether `key` is in the table at all. The reader reads an absent list as empty and has no
/// presence test; a probe read into a throwaway list tells the two apart (only an absent key
/// reads as nothing without a problem).
fn present(t: &Table<'_>, key: &str) -> bool {
    let mut probe = Problems::default();
    t.opt_int(key, 0..=0, &mut probe).is_some() || !probe.0.is_empty()
}

/// `messages`: None when absent (the default applies) or unusable (problems were added).
fn messages(t: &Table<'_>, p: &mut Problems) -> Option<Vec<MessageKind>> {
    if !present(t, "messages") {
        return None;
    }
    let before = p.0.len();
    let names = t.strings("messages", p);
    let allowed = names_of_all_messages();
    let path = t.path_of("messages");
    if names.is_empty() {
        if p.0.len() == before {
            p.add(
                path,
                format!(
                    "must list at least one message (of: {allowed}); to send nothing to this \
                     partner, remove its [[upstream]]"
                ),
            );
        }
        return None;
    }
    let mut kinds = Vec::new();
    let mut seen = HashSet::new();
    for name in &names {
        match MessageKind::parse(name) {
            Some(kind) if !seen.insert(kind) => {
                p.add(path.clone(), format!("'{name}' is listed twice"));
            }
            Some(kind) => kinds.push(kind),
            None => p.add(
                path.clone(),
                format!("'{name}' is not a message linegate sends; use any of: {allowed}"),
            ),
        }
    }
    (p.0.len() == before).then_some(kinds)
}

fn names_of_all_messages() -> String {
    names(&MessageKind::ALL, MessageKind::as_str).join(", ")
}

fn limits(t: &Table<'_>, p: &mut Problems) -> Limits {
    let default = Limits::default();
    let max_events_per_document =
        t.int_or("max_events_per_document", 0, 0..=100_000_000, p) as usize;
    let max_bytes_per_document = t.int_or("max_bytes_per_document", 0, 0..=1 << 40, p);
    if (1..MIN_DOCUMENT_BYTES).contains(&max_bytes_per_document) {
        p.add(
            t.path_of("max_bytes_per_document"),
            format!(
                "{max_bytes_per_document} is too small: 0 (no limit) or at least \
                 {MIN_DOCUMENT_BYTES} (64 KiB)"
            ),
        );
    }
    let max_epcs = t.opt_int("max_epcs_per_event", 1..=1_000_000, p);
    let max_epcs_per_event = max_epcs.unwrap_or(default.max_epcs_per_event as u64);
    // A full event must fit in a document, or every part breaks the byte limit.
    let fits = max_bytes_per_document / MIN_BYTES_PER_EPC;
    if max_bytes_per_document >= MIN_DOCUMENT_BYTES && max_epcs_per_event > fits {
        let key = if max_epcs.is_some() {
            "max_epcs_per_event"
        } else {
            "max_bytes_per_document"
        };
        p.add(
            t.path_of(key),
            format!(
                "an event of max_epcs_per_event = {max_epcs_per_event} EPCs takes at least \
                 {} bytes ({MIN_BYTES_PER_EPC} per EPC), more than max_bytes_per_document = \
                 {max_bytes_per_document}: set max_epcs_per_event to at most {fits} (less \
                 leaves room for the rest of the event) or raise max_bytes_per_document",
                max_epcs_per_event * MIN_BYTES_PER_EPC
            ),
        );
    }
    Limits {
        max_events_per_document,
        max_bytes_per_document,
        max_epcs_per_event: max_epcs_per_event as usize,
    }
}

/// A bizStep or disposition: a CBV word, its URN or GS1 web URI, or a partner's own URI.
/// None (and a problem) when unusable, None (and no problem) when absent.
fn cbv_term(t: &Table<'_>, key: &str, vocabulary: Vocabulary, p: &mut Problems) -> Option<Term> {
    let raw = t.opt_string(key, p)?;
    term(&raw, vocabulary)
        .map_err(|why| p.add(t.path_of(key), why))
        .ok()
}

fn term(raw: &str, vocabulary: Vocabulary) -> Result<Term, String> {
    let (what, words, web) = match vocabulary {
        Vocabulary::BizStep => ("bizStep", BIZ_STEPS, "https://ns.gs1.org/cbv/BizStep-"),
        Vocabulary::Disposition => ("disposition", DISPOSITIONS, "https://ns.gs1.org/cbv/Disp-"),
        other => unreachable!("no configured {other:?} term"),
    };
    let urn = vocabulary.urn_prefix();
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "'{raw}' must not contain spaces: a CBV {what} word, its URN ({urn}<word>) or your \
             partner's own URI"
        ));
    }
    let value = raw
        .strip_prefix(urn)
        .or_else(|| raw.strip_prefix(web))
        .unwrap_or(raw);
    if !value.contains(':') {
        if words.contains(&value) {
            return Ok(Term::new(vocabulary, value));
        }
        return Err(format!(
            "'{raw}' is not a CBV {what}: use one of {} (or its URN, {urn}<word>), or your \
             partner's own URI",
            words.join(", ")
        ));
    }
    let gs1 = [
        "urn:epcglobal:cbv:",
        "https://ns.gs1.org/cbv/",
        "http://ns.gs1.org/cbv/",
    ];
    if gs1.iter().any(|g| value.starts_with(g)) {
        return Err(format!(
            "'{raw}' is a CBV URI but not a {what}: a {what} URN starts with {urn}"
        ));
    }
    let (scheme, rest) = value.split_once(':').unwrap_or_default();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok || rest.is_empty() {
        return Err(format!(
            "'{raw}' is neither a CBV {what} word nor a URI (such as \
             https://partner.example/{what}/release or urn:partner:{what}:release)"
        ));
    }
    Ok(Term::new(vocabulary, value))
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
