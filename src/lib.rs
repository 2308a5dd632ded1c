//! linegate: an edge gateway for pharmaceutical packaging lines.
//!
//! Lines report commission and batch events over MQTT; linegate stores each event durably in
//! SQLite before acknowledging it, checks it against the line's rules, assembles GS1 EPCIS
//! documents when a batch closes and forwards them upstream at least once.
//!
//! # Layout (see ARCHITECTURE.md for the invariants)
//! * `config`: the TOML file, read strictly, every problem reported at once.
//! * `gs1`: pure parsing and rendering of GS1 identifiers (GTIN, SSCC, GLN, EPC URIs).
//! * `model`: domain values shared by rules, store and assembler.
//! * `protocol`: the MQTT protocol v1 decoder (JSON → `model`), pure.
//! * `rules`: the line rules, pure; judged inside the store's transaction.
//! * `store`: the SQLite store, the only module that knows SQL; one writer thread, group commit.
//! * `sources`: inputs (MQTT); acknowledge only after the store committed.
//! * `epcis`: EPCIS document model and the 1.2 XML writer, pure.
//! * `assemble`: turns closed batches into outbox documents in one store transaction.
//! * `forward`: delivers outbox documents to upstreams (HTTP), at least once.
//! * `inspect`: the `linegate code` command (what the parser reads in a code).
//! * `supervise`: `linegate batch close|release|cancel`, judged like line messages.
//! * `ship_cli`: `linegate ship`, a shipment recorded like the warehouse's `ship` message.
//! * `outbox_cli`: `linegate outbox list|show|retry|replay|reject`, the operator's outbox.
//! * `health`: what is wrong right now, per part, and each scanner station's state (logged
//!   once per change, systemd STATUS, line state).
//! * `disk_guard`: closes the sources' intake while free disk space is low.
//! * `reload`: SIGHUP re-reads the configuration file; applies what can change live.
//! * `simulate`: `linegate simulate`, a seeded packaging line (pure plan; MQTT and serial transports).
//! * `broker`: the embedded MQTT broker (rumqttd) for `mqtt.embedded_broker`.
//! * `demo`: `linegate demo`, the main job end to end on embedded defaults.
//! * `bench_cli`: `linegate bench backlog`, a backlog of real documents in the outbox (load tools).
//! * `app`: wiring, startup and ordered shutdown.

pub mod api;
pub mod app;
pub mod assemble;
pub mod audit_cli;
pub mod bench_cli;
pub mod broker;
pub mod cli;
pub mod config;
pub mod demo;
pub mod disk_guard;
pub mod epcis;
pub mod export;
pub mod forward;
pub mod gs1;
pub mod health;
pub mod inspect;
pub mod model;
pub mod outbox_cli;
pub mod protocol;
pub mod reload;
pub mod rules;
pub mod ship_cli;
pub mod shutdown;
pub mod simulate;
pub mod sources;
pub mod store;
pub mod supervise;
pub mod watchdog;
