//! Sources: where line events come in.
//!
//! A source turns what a line sends into `store::IngestItem`s and acknowledges to the line only
//! after the store has committed them. Sources never talk to the assembler or the forwarders.
//! `mqtt` takes protocol-v1 messages from PLCs and line controllers; `serial` reads barcode
//! scanners and cameras wired to a serial port (one station task per `[[scanner]]`).

pub mod mqtt;
pub mod serial;
