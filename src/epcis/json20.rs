//! The EPCIS 2.0 JSON-LD writer, and the eventIDs of every format.
//!
//! Partners on EPCIS 2.0 take the JSON-LD form, and the GS1 event hash (`hash`) is defined over
//! it, so this module is both a writer and the place where an event gets its `eventID`:
//! [`assign_event_id`] hashes [`event_value`] in the context [`document_context`] that every
//! document written here declares, and the id then travels unchanged into 1.2 and 2.0 XML.
//!
//! Events are written as GS1's examples write them: CBV terms as bare words (`commissioning`),
//! partner values as their URI, times in UTC with milliseconds, identifiers as EPC URIs, ILMD
//! as `cbvmda:` fields with the prefix declared inline and `type` first in every
//! bizTransaction/source/destination, so that GS1's reference hash tool, reading the document,
//! computes the same eventID (docs/epcis-event-hash.md). The packaging level is a TraceLink
//! extension of EPCIS 1.2 and is not written in 2.0. [`Json20Writer`] streams a document: the
//! header first, then each event as it comes (one per line), never the whole list in memory.
//! Pure: the only I/O is the caller's sink. The layout is in docs/epcis-formats.md.

use std::io::Write;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::EpcisError;
use super::event::{Event, EventKind, Header, SourceDest, Term};
use super::hash::EventHasher;

#[cfg(test)]
#[path = "json20_tests.rs"]
mod tests;

/// The GS1 EPCIS 2.0.0 JSON-LD context every document names first.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// The CBV master-data namespace of ILMD fields, as the JSON-LD context has it (final colon).
pub const CBVMDA: &str = "urn:epcglobal:cbv:mda:";
/// GS1 US healthcare (DSCSA) extensions. The XML namespace is `http://epcis.gs1us.org/hc/ns`;
/// JSON-LD 1.1 takes a term as a prefix only when its IRI ends in a delimiter, so the `/` is
/// added, as GS1 added `:` to `urn:epcglobal:cbv:mda`.
pub const GS1USHC: &str = "http://epcis.gs1us.org/hc/ns/";

/// A JSON value whose object keys keep the order they were written in (serde_json's `Value`
/// sorts them), so documents read like GS1's examples and `type` precedes the identifier.
enum J {
    Str(String),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    fn to_value(&self) -> Value {
        match self {
            J::Str(s) => Value::String(s.clone()),
            J::Bool(b) => Value::Bool(*b),
            J::Arr(items) => Value::Array(items.iter().map(J::to_value).collect()),
            J::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// `to_value` that moves the strings instead of copying them (hashing a 10,000-EPC event).
    fn into_value(self) -> Value {
        match self {
            J::Str(s) => Value::String(s),
            J::Bool(b) => Value::Bool(b),
            J::Arr(items) => Value::Array(items.into_iter().map(J::into_value).collect()),
            J::Obj(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into_value()))
                    .collect(),
            ),
        }
    }
}

impl Serialize for J {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Str(v) => s.serialize_str(v),
            J::Bool(b) => s.serialize_bool(*b),
            J::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            J::Obj(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

fn s(v: impl Into<String>) -> J {
    J::Str(v.into())
}

/// UTC with milliseconds and `Z`, the form the event hash normalises to.
fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn term(t: &Term) -> J {
    s(t.bare())
}

fn parties(list: &[SourceDest], key: &'static str) -> J {
    J::Arr(
        list.iter()
            .map(|p| J::Obj(vec![("type", term(&p.kind)), (key, s(p.id.as_str()))]))
            .collect(),
    )
}

/// The event in written order; `with_id` leaves out `eventID` (for hashing).
fn event_json(e: &Event, with_id: bool) -> J {
    let mut f: Vec<(&'static str, J)> = Vec::with_capacity(16);
    let kind = match e.kind {
        EventKind::Object { .. } => "ObjectEvent",
        EventKind::Aggregation { .. } => "AggregationEvent",
    };
    f.push(("type", s(kind)));
    f.push(("eventTime", s(time(&e.event_time))));
    f.push(("eventTimeZoneOffset", s(e.tz_offset.as_str())));
    if let (true, Some(id)) = (with_id, &e.event_id) {
        f.push(("eventID", s(id.as_str())));
    }
    match &e.kind {
        EventKind::Object { epcs } => {
            let epcs = epcs.iter().map(|x| s(x.as_str())).collect();
            f.push(("epcList", J::Arr(epcs)));
        }
        EventKind::Aggregation { parent, children } => {
            if let Some(p) = parent {
                f.push(("parentID", s(p.as_str())));
            }
            // A DELETE without children unpacks everything; 2.0 says so by leaving them out.
            if !children.is_empty() {
                let children = children.iter().map(|x| s(x.as_str())).collect();
                f.push(("childEPCs", J::Arr(children)));
            }
        }
    }
    f.push(("action", s(e.action.as_str())));
    if let Some(t) = &e.biz_step {
        f.push(("bizStep", term(t)));
    }
    if let Some(t) = &e.disposition {
        f.push(("disposition", term(t)));
    }
    if let Some(p) = &e.read_point {
        f.push(("readPoint", J::Obj(vec![("id", s(p.as_str()))])));
    }
    if let Some(p) = &e.biz_location {
        f.push(("bizLocation", J::Obj(vec![("id", s(p.as_str()))])));
    }
    if !e.biz_transactions.is_empty() {
        let list = e
            .biz_transactions
            .iter()
            .map(|b| J::Obj(vec![("type", term(&b.kind)), ("bizTransaction", s(&*b.id))]))
            .collect();
        f.push(("bizTransactionList", J::Arr(list)));
    }
    if !e.sources.is_empty() {
        f.push(("sourceList", parties(&e.sources, "source")));
    }
    if !e.destinations.is_empty() {
        f.push(("destinationList", parties(&e.destinations, "destination")));
    }
    if let Some(ilmd) = &e.ilmd {
        f.push((
            "ilmd",
            J::Obj(vec![
                ("cbvmda:lotNumber", s(ilmd.lot.as_str())),
                (
                    "cbvmda:itemExpirationDate",
                    s(ilmd.expiry.format("%Y-%m-%d").to_string()),
                ),
            ]),
        ));
    }
    J::Obj(f)
}

/// The EPCIS 2.0 JSON-LD form of one event (`eventID` included when set). The keys of a
/// `serde_json::Value` are sorted; the writer keeps the written order.
pub fn event_value(e: &Event) -> Value {
    event_json(e, true).to_value()
}

/// The `@context` of every document this module writes: GS1's context, then the prefixes the
/// events and header use, declared inline as GS1's examples do.
pub fn document_context() -> Value {
    document_context_json().to_value()
}

fn document_context_json() -> J {
    J::Arr(vec![
        s(EPCIS_CONTEXT),
        J::Obj(vec![("cbvmda", s(CBVMDA)), ("gs1ushc", s(GS1USHC))]),
    ])
}

/// Sets `e.event_id` to the GS1 event hash of its JSON-LD form in [`document_context`]. The
/// hash leaves `eventID` out, so assigning twice gives the same id.
pub fn assign_event_id(e: &mut Event) -> Result<(), EpcisError> {
    EventIds::new()?.assign(e)
}

/// [`assign_event_id`] for many events: the document context is read once.
#[derive(Debug, Clone)]
pub struct EventIds {
    hasher: EventHasher,
}

impl EventIds {
    pub fn new() -> Result<Self, EpcisError> {
        Ok(EventIds {
            hasher: EventHasher::new(Some(&document_context()))?,
        })
    }

    /// Sets `e.event_id` (the same id whichever format the event is then written in).
    pub fn assign(&self, e: &mut Event) -> Result<(), EpcisError> {
        let id = self.hasher.event_id(&event_json(e, false).into_value())?;
        e.event_id = Some(id);
        Ok(())
    }
}

/// Writes one EPCIS 2.0 JSON-LD document to `sink`, an event at a time: `begin` writes the
/// header, each `event` one line of the event list, `finish` closes the document.
pub struct Json20Writer<W: Write> {
    sink: W,
    events: usize,
}

impl<W: Write> Json20Writer<W> {
    pub fn begin(mut sink: W, header: &Header) -> Result<Self, EpcisError> {
        let mut doc: Vec<(&'static str, J)> = vec![
            ("@context", document_context_json()),
            ("type", s("EPCISDocument")),
            ("schemaVersion", s("2.0")),
            ("creationDate", s(time(&header.created))),
        ];
        if let Ok(uuid) = uuid::Uuid::parse_str(&header.instance_id) {
            doc.push(("id", s(uuid.urn().to_string())));
        }
        doc.push(("instanceIdentifier", s(header.instance_id.as_str())));
        doc.push(("sender", s(header.sender_gln.as_str())));
        doc.push(("receiver", s(header.receiver_gln.as_str())));
        if let Some(statement) = &header.dscsa_statement {
            let mut st = vec![("gs1ushc:affirmTransactionStatement", J::Bool(true))];
            if let Some(notice) = &statement.legal_notice {
                st.push(("gs1ushc:legalNotice", s(notice.as_str())));
            }
            let ext = J::Obj(vec![("gs1ushc:dscsaTransactionStatement", J::Obj(st))]);
            doc.push(("epcisHeader", ext));
        }
        // Everything but the body, as JSON, then the body opened by hand.
        let head = serde_json::to_string(&J::Obj(doc)).map_err(std::io::Error::from)?;
        let head = head.strip_suffix('}').unwrap_or(&head);
        sink.write_all(head.as_bytes())?;
        sink.write_all(b",\"epcisBody\":{\"eventList\":[")?;
        Ok(Self { sink, events: 0 })
    }

    /// Writes one event, as `event_value` has it, in written key order on a line of its own.
    pub fn event(&mut self, e: &Event) -> Result<(), EpcisError> {
        let sep: &[u8] = if self.events == 0 { b"\n" } else { b",\n" };
        self.sink.write_all(sep)?;
        serde_json::to_writer(&mut self.sink, &event_json(e, true))
            .map_err(std::io::Error::from)?;
        self.events += 1;
        Ok(())
    }

    /// Closes the event list and the document, flushes and gives the sink back.
    pub fn finish(mut self) -> Result<W, EpcisError> {
        self.sink.write_all(b"\n]}}\n")?;
        self.sink.flush()?;
        Ok(self.sink)
    }
}
