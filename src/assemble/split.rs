//! One message written as one or more documents: events go in, in causal order, and come out
//! in a partner's format, split where the partner's `max_events_per_document` or
//! `max_bytes_per_document` would be exceeded. Each part is a complete document with its own
//! header and instance id; the parts keep the events' order, so commissions always reach the
//! partner before the aggregations that need them.
//!
//! Every event gets its `eventID` (the GS1 event hash) here, just before it is written. Hashing
//! is half the cost of a large document, so it runs on a thread of its own: events go to it
//! through a small bounded channel and come back, in order, to be written while the caller
//! reads and builds the next ones (two cores: a million-unit End of Batch in about half the
//! time). The thread only computes; it ends when the splitter finishes or is dropped.
//!
//! Streaming: an event is written into a small staging buffer, the size checked, and the bytes
//! moved on to the part's sink. Nothing else of a document is held. When an event does not fit,
//! the current part is closed and the event written again at the start of the next one; an
//! event larger than the byte limit on its own gets a part to itself (the limit cannot be kept,
//! and dropping the event is not an option).

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};

use super::partner::{Format, Limits};
use super::rows::{AssembleError, Visit};
use crate::epcis::{
    DscsaStatement, Epcis12Writer, Epcis20XmlWriter, Event, EventIds, Header, Json20Writer,
};
use crate::gs1::{EpcUri, Gln};

/// Room left for a document's closing tags when checking the byte limit.
const FOOTER_ALLOWANCE: u64 = 1024;
/// Events on their way to or from the hashing thread (each at most `max_epcs_per_event` EPCs).
const IN_FLIGHT: usize = 4;

/// Where the parts go: a file per part for the outbox, memory for tests.
pub trait DocumentSink {
    type W: Write;
    /// A new part with this instance id is starting.
    fn open(&mut self, document_id: &str) -> io::Result<Self::W>;
    /// The part is complete: make it durable (the outbox fsyncs and renames here).
    fn close(&mut self, document_id: &str, w: Self::W) -> io::Result<()>;
}

/// One written part.
#[derive(Debug, Clone, PartialEq)]
pub struct PartInfo {
    pub document_id: String,
    /// 1-based, in sending order.
    pub part: usize,
    pub events: usize,
    pub bytes: u64,
}

/// Collects parts in memory (tests, `linegate export` to stdout).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub parts: Vec<(String, Vec<u8>)>,
}

impl DocumentSink for MemorySink {
    type W = Vec<u8>;
    fn open(&mut self, _document_id: &str) -> io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn close(&mut self, document_id: &str, w: Vec<u8>) -> io::Result<()> {
        self.parts.push((document_id.to_string(), w));
        Ok(())
    }
}

/// The header fields shared by every part of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderTemplate {
    pub created: DateTime<Utc>,
    pub sender_gln: Gln,
    pub receiver_gln: Gln,
    pub dscsa_statement: Option<DscsaStatement>,
    pub tracelink_extensions: bool,
}

/// A shared byte buffer the format writer writes into; the splitter drains it.
#[derive(Clone, Default)]
struct Staging(Rc<RefCell<Vec<u8>>>);

impl Write for Staging {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum FormatWriter {
    Xml12(Epcis12Writer<Staging>),
    Xml20(Epcis20XmlWriter<Staging>),
    Json20(Json20Writer<Staging>),
}

impl FormatWriter {
    fn begin(format: Format, staging: Staging, header: &Header) -> Result<Self, AssembleError> {
        Ok(match format {
            Format::Epcis12 => FormatWriter::Xml12(Epcis12Writer::begin(staging, header)?),
            Format::Epcis20Xml => FormatWriter::Xml20(Epcis20XmlWriter::begin(staging, header)?),
            Format::Epcis20Json => FormatWriter::Json20(Json20Writer::begin(staging, header)?),
        })
    }

    fn event(&mut self, e: &Event) -> Result<(), AssembleError> {
        match self {
            FormatWriter::Xml12(w) => w.event(e)?,
            FormatWriter::Xml20(w) => w.event(e)?,
            FormatWriter::Json20(w) => w.event(e)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), AssembleError> {
        match self {
            FormatWriter::Xml12(w) => drop(w.finish()?),
            FormatWriter::Xml20(w) => drop(w.finish()?),
            FormatWriter::Json20(w) => drop(w.finish()?),
        }
        Ok(())
    }
}

struct Open<W> {
    id: String,
    writer: FormatWriter,
    sink: W,
    events: usize,
    bytes: u64,
}

/// Writes a message's events into as many documents as the limits need.
pub struct Splitter<'a, S: DocumentSink> {
    format: Format,
    limits: Limits,
    template: HeaderTemplate,
    sink: &'a mut S,
    new_id: &'a mut dyn FnMut() -> String,
    to_hasher: Option<SyncSender<Event>>,
    from_hasher: Receiver<Result<Event, crate::epcis::EpcisError>>,
    hasher: Option<JoinHandle<()>>,
    pushed: usize,
    staging: Staging,
    open: Option<Open<S::W>>,
    done: Vec<PartInfo>,
}

impl<'a, S: DocumentSink> Splitter<'a, S> {
    pub fn new(
        format: Format,
        limits: Limits,
        template: HeaderTemplate,
        sink: &'a mut S,
        new_id: &'a mut dyn FnMut() -> String,
    ) -> Result<Self, AssembleError> {
        let ids = EventIds::new()?;
        let (to_hasher, inbox) = sync_channel::<Event>(IN_FLIGHT);
        let (outbox, from_hasher) = sync_channel(IN_FLIGHT);
        let hasher = std::thread::Builder::new()
            .name("event-hash".into())
            .spawn(move || {
                for mut e in inbox {
                    let done = ids.assign(&mut e).map(|()| e);
                    if outbox.send(done).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Splitter {
            format,
            limits,
            template,
            sink,
            new_id,
            to_hasher: Some(to_hasher),
            from_hasher,
            hasher: Some(hasher),
            pushed: 0,
            staging: Staging::default(),
            open: None,
            done: Vec::new(),
        })
    }

    /// Events pushed so far (written, or on their way).
    pub fn events(&self) -> usize {
        self.pushed
    }

    fn drain(&self, into: &mut S::W) -> io::Result<u64> {
        let mut buf = self.staging.0.borrow_mut();
        into.write_all(&buf)?;
        let n = buf.len() as u64;
        buf.clear();
        Ok(n)
    }

    fn start_part(&mut self) -> Result<(), AssembleError> {
        let id = (self.new_id)();
        let header = Header {
            instance_id: id.clone(),
            created: self.template.created,
            sender_gln: self.template.sender_gln.clone(),
            receiver_gln: self.template.receiver_gln.clone(),
            dscsa_statement: self.template.dscsa_statement.clone(),
            tracelink_extensions: self.template.tracelink_extensions,
        };
        let mut sink = self.sink.open(&id)?;
        let writer = FormatWriter::begin(self.format, self.staging.clone(), &header)?;
        let bytes = self.drain(&mut sink)?;
        self.open = Some(Open {
            id,
            writer,
            sink,
            events: 0,
            bytes,
        });
        Ok(())
    }

    fn close_part(&mut self) -> Result<(), AssembleError> {
        let Some(mut open) = self.open.take() else {
            return Ok(());
        };
        self.staging.0.borrow_mut().clear();
        open.writer.finish()?;
        open.bytes += self.drain(&mut open.sink)?;
        self.sink.close(&open.id, open.sink)?;
        self.done.push(PartInfo {
            document_id: open.id,
            part: self.done.len() + 1,
            events: open.events,
            bytes: open.bytes,
        });
        Ok(())
    }

    fn full_by_count(&self) -> bool {
        let max = self.limits.max_events_per_document;
        max > 0 && self.open.as_ref().is_some_and(|o| o.events >= max)
    }

    /// Hands the event on to get its id; writes every event whose id is ready, in order.
    pub fn push(&mut self, e: Event) -> Result<(), AssembleError> {
        self.pushed += 1;
        let mut e = e;
        loop {
            let to_hasher = self.to_hasher.as_ref().ok_or_else(hasher_gone)?;
            match to_hasher.try_send(e) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    e = back;
                    let done = self.from_hasher.recv().map_err(|_| hasher_gone())?;
                    self.write(done?)?;
                }
                Err(TrySendError::Disconnected(_)) => return Err(hasher_gone()),
            }
        }
        while let Ok(done) = self.from_hasher.try_recv() {
            self.write(done?)?;
        }
        Ok(())
    }

    /// Writes one event (its id assigned), opening a new part first when a limit says so.
    fn write(&mut self, e: Event) -> Result<(), AssembleError> {
        if self.full_by_count() {
            self.close_part()?;
        }
        if self.open.is_none() {
            self.start_part()?;
        }
        let max_bytes = self.limits.max_bytes_per_document;
        let open = self.open.as_mut().expect("a part is open");
        open.writer.event(&e)?;
        let staged = self.staging.0.borrow().len() as u64;
        if max_bytes > 0 && open.events > 0 && open.bytes + staged + FOOTER_ALLOWANCE > max_bytes {
            // Does not fit: this part ends before the event, which starts the next one.
            self.close_part()?;
            self.start_part()?;
            let open = self.open.as_mut().expect("a part is open");
            open.writer.event(&e)?;
        }
        let mut open = self.open.take().expect("a part is open");
        open.bytes += self.drain(&mut open.sink)?;
        open.events += 1;
        self.open = Some(open);
        Ok(())
    }

    /// Closes the last part; returns every part in order (none when no event was pushed).
    pub fn finish(mut self) -> Result<Vec<PartInfo>, AssembleError> {
        drop(self.to_hasher.take());
        while let Ok(done) = self.from_hasher.recv() {
            self.write(done?)?;
        }
        if let Some(h) = self.hasher.take() {
            h.join().map_err(|_| hasher_gone())?;
        }
        self.close_part()?;
        Ok(self.done)
    }
}

/// Pushes one event per `max` identifiers that `walk` visits, `make` turning each chunk into
/// its event (release and shipping events over a walk of top-level identifiers).
pub fn push_chunks<S: DocumentSink>(
    out: &mut Splitter<'_, S>,
    max: usize,
    make: impl Fn(Vec<EpcUri>) -> Event,
    walk: impl FnOnce(Visit<'_, EpcUri>) -> Result<(), AssembleError>,
) -> Result<(), AssembleError> {
    let mut chunk = Vec::new();
    walk(&mut |epc| {
        chunk.push(epc);
        if chunk.len() >= max {
            out.push(make(std::mem::take(&mut chunk)))?;
        }
        Ok(())
    })?;
    if !chunk.is_empty() {
        out.push(make(chunk))?;
    }
    Ok(())
}

fn hasher_gone() -> AssembleError {
    AssembleError::Data("the event-hash thread stopped".into())
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
