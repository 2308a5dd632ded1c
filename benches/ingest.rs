//! How many line events per second the store makes durable with every line rule applied: a
//! whole batch (by default 1,000,000 units, 100 units per case, 40 cases per pallet, so 10,000
//! cases and 250 pallets) goes through `Store::submit_ingest`, the daemon's path for every
//! message, into a real SQLite file (WAL, `synchronous=FULL`, one writer thread with group
//! commit). Each message is judged by `rules::judge` inside the writing transaction (batch state,
//! wrong-label check, one commissioning per serial, packing checks with the parent's ancestors)
//! and written to the message log, the serial registry and its history. Per case the line sends
//! one `commission` of its 100 units, one of the case SGTIN and one `aggregate`; per pallet one
//! `commission` of its SSCC and one `aggregate` of its 40 cases; then `batch_close`, whose
//! reconciliation report over every unit is timed on its own. Like the MQTT source, the
//! benchmark keeps a window of submissions in flight and waits for them in order, so group
//! commit works; every outcome must be `Applied` (a benchmark that measured refusals would lie).
//!
//! An event is one commissioned identifier or one packed child (about 2.02 million for the
//! default batch). A line makes a few hundred per second and a gateway serves several lines,
//! so the target is at least 50,000 events per second, durable. Messages are built (codes parsed
//! with `gs1::parse_code`, which `gs1_parse` measures) in chunks of about a tenth of the batch
//! with the clock stopped; only submitting and committing are timed, and the window is drained
//! at the end of each chunk. Run with `cargo bench --bench ingest` (release profile);
//! `LINEGATE_BENCH_UNITS=40000 cargo bench --bench ingest` is a quick smoke run (the unit count
//! must be a multiple of 4,000, one pallet); `LINEGATE_BENCH_CODES_PER_MESSAGE=1` commissions
//! each unit in its own message (a scanner-per-unit line) instead of a case's 100 at once. The database lives in a temporary directory under
//! `TMPDIR`: put that on the disk you want to measure (a tmpfs measures no fsync at all).
//! Besides the wall-clock figures it prints the writer thread's own CPU time (Linux `/proc`),
//! which stays meaningful on a shared machine, and, after the writer stopped, row counts and
//! the stored reconciliation report read with a read-only connection.

use std::path::Path;
use std::time::{Duration, Instant};

use linegate::rules::RulesPolicy;
use linegate::store::{DB_FILE, Store};

const TARGET_EVENTS_PER_SECOND: f64 = 50_000.0;

#[path = "common/batch_line.rs"]
mod batch_line;
use batch_line::*;

/// CPU time of the store's writer thread so far, from `/proc/self/task/*/schedstat` (Linux):
/// on a shared machine it shows what the writer itself costs, whatever the wall clock says.
fn writer_cpu() -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "store-writer" {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let nanos = stat.split_whitespace().next()?.parse().ok()?;
            return Some(Duration::from_nanos(nanos));
        }
    }
    None
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The batch as the supervisor sees it, read after the writer stopped (through the store's
/// read-only view: only `store` knows SQL).
fn print_rows(db: &Path) {
    let dir = db
        .parent()
        .expect("the database sits in the data directory");
    let store = linegate::store::ReadOnlyStore::open(dir).expect("the database opens read-only");
    let b = store
        .batch(BATCH)
        .expect("the batch reads")
        .expect("the batch exists");
    let r = &b.report;
    println!(
        "ingest: batch {BATCH} {}: {} identifiers, good_units {}, yield {} %, loose {}, inconsistencies {}",
        b.row.state,
        b.row.serials,
        r.good_units,
        r.yield_percent
            .map_or("-".to_string(), |y| format!("{y:.2}")),
        r.loose,
        r.inconsistencies.len()
    );
}

fn main() {
    let units = units_from_env();
    let pallets = units / UNITS_PER_PALLET;
    let cases = units / UNITS_PER_CASE;
    // About ten chunks, each built with the clock stopped, then fed and timed.
    let chunk = pallets.div_ceil(10);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join(DB_FILE);
    let (store, writer) = Store::open(dir.path(), RulesPolicy::default()).expect("the store opens");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "ingest: {units} units, {cases} cases, {pallets} pallets into {}",
        db.display()
    );

    let mut line = Line::new();
    let mut messages = 0usize;
    let mut events_done = 0usize;
    let mut elapsed = Duration::ZERO;
    let mut built = Duration::ZERO;
    let mut items = vec![line.batch_open(units)];
    let mut p = 0;
    while p < pallets {
        let end = (p + chunk).min(pallets);
        let t = Instant::now();
        for pallet in p..end {
            line.pallet(pallet, &mut items);
        }
        built += t.elapsed();
        messages += items.len();
        events_done += items.iter().map(events).sum::<usize>();
        elapsed += runtime.block_on(feed(&store, std::mem::take(&mut items)));
        p = end;
        eprintln!(
            "ingest: {:3}% {p}/{pallets} pallets, {messages} messages, {events_done} events, {:.1} s, {:.0} events/s so far",
            p * 100 / pallets,
            elapsed.as_secs_f64(),
            events_done as f64 / elapsed.as_secs_f64()
        );
    }

    let writer_busy = writer_cpu();
    let close = line.batch_close();
    let close_time = runtime.block_on(feed(&store, vec![close]));
    let wal_before_shutdown = file_len(&db.with_extension("db-wal"));
    drop(store);
    writer.join();
    let (db_bytes, wal_bytes) = (file_len(&db), file_len(&db.with_extension("db-wal")));

    let secs = elapsed.as_secs_f64();
    let per_second = events_done as f64 / secs;
    let verdict = if per_second >= TARGET_EVENTS_PER_SECOND {
        "meets"
    } else {
        "BELOW"
    };
    println!(
        "ingest: built {messages} messages in {:.1} s (not timed)",
        built.as_secs_f64()
    );
    println!("ingest: {messages} messages, {events_done} unit events in {secs:.2} s");
    println!(
        "ingest: {per_second:.0} events/s durable ({verdict} the target of {TARGET_EVENTS_PER_SECOND:.0}), {:.0} messages/s",
        messages as f64 / secs
    );
    println!(
        "ingest: batch_close (reconciliation of {} identifiers) {:.3} s; with it {:.0} events/s",
        units + cases + pallets,
        close_time.as_secs_f64(),
        events_done as f64 / (secs + close_time.as_secs_f64())
    );
    println!(
        "ingest: database {:.1} MB ({DB_FILE} {:.1} MB + WAL {:.1} MB after the shutdown checkpoint; WAL was {:.1} MB before)",
        mb(db_bytes + wal_bytes),
        mb(db_bytes),
        mb(wal_bytes),
        mb(wal_before_shutdown)
    );
    if let Some(busy) = writer_busy {
        println!(
            "ingest: store writer thread on CPU {:.2} s of the {secs:.2} s ({:.0} events per writer CPU second, {:.1} µs of writer CPU per message)",
            busy.as_secs_f64(),
            events_done as f64 / busy.as_secs_f64(),
            busy.as_secs_f64() * 1e6 / messages as f64
        );
    }
    print_rows(&db);
}
