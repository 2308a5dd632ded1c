//! Sources: where line events come in.
//!
//! A source turns what a line sends into `store::IngestItem`s and acknowledges to the line only
//! after the store has committed them. Sources never talk to the assembler or the forwarders.
//! Today there is MQTT; issue "line inputs" adds serial scanner stations.

pub mod mqtt;
