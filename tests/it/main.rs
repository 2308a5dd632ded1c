//! The single integration-test binary of `linegate`.
//!
//! One binary (declared as `[[test]] name = "it"` in Cargo.toml) so the
//! harness in `support` is compiled once and shared; each scenario module
//! below says in its own header which promise of the daemon it checks.
//! Run with `cargo test --test it` from the crate root (the EPCIS schema is
//! looked up at `../shared/reference/epcis-1.2/xsd/`); mosquitto and xmllint
//! must be installed.

mod aggregation;
mod api;
mod api_client;
mod api_health;
mod api_metrics;
mod api_writes;
mod audit;
mod backlog_drain;
mod bad_input;
mod cli;
mod code_cmd;
mod delivery_crash;
mod demo;
mod directory_sink;
mod durability;
mod end_to_end;
mod export;
mod harness_selftest;
mod https_sink;
mod line_rules;
mod model_check;
mod mqtt_backpressure;
mod mqtt_reconnect;
mod mqtt_security;
mod mqtt_sink;
mod mqtt_world;
mod no_secrets;
mod outbox_cli;
mod per_event;
mod reconciliation;
mod reload;
mod serial;
mod serial_disk_guard;
mod serial_stations;
mod shipment;
mod simulate;
mod simulate_serial;
mod support;
mod systemd_notify;
mod upstream_outage;
