//! How long `linegate audit verify` takes over a long audit trail (issue 8's target: an
//! untouched chain of 1,000,000 rows verifies in at most 5 s).
//!
//! The trail is filled in a fresh data directory under the temp dir through the store's own
//! append path (`Store::audit_all`: the same hashing and chaining as every audit row, in
//! transactions of 50,000 rows; not timed), with rows shaped like the commonest kind — a
//! serial state change from an MQTT line. The figure is the wall time of the release binary's
//! `linegate audit verify --json` as a child process (configuration read, database opened,
//! every row re-hashed and linked), and the run checks that it reported every row intact.
//!
//! `LINEGATE_BENCH_ROWS` (default 1000000) sets the length; `LINEGATE_BENCH_KEEP=1` keeps the
//! directory. Run with `cargo bench --bench audit_verify`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use linegate::rules::RulesPolicy;
use linegate::store::{AuditEntry, Store};

const TARGET_SECONDS: f64 = 5.0;
const BIN: &str = env!("CARGO_BIN_EXE_linegate");
const CHUNK: usize = 50_000;

fn config(dir: &Path) -> String {
    format!(
        r#"[gateway]
data_dir = "{data}"
site_gln = "0361414000001"

[gs1]
company_prefixes = ["0361414"]

[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "bench/plant"

[[line]]
id = "L1"
sgln = "urn:epc:id:sgln:0361414.00001.L1"

[[upstream]]
name = "mah"
url = "https://127.0.0.1:9/epcis"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
"#,
        data = dir.join("data").display(),
    )
}

/// Row `n`: a unit commissioned by the line.
fn row(n: usize) -> AuditEntry {
    AuditEntry {
        actor: "mqtt:bench/plant/lines/L1/events".into(),
        action: "serial_state".into(),
        subject: format!("(01)00361414567894(21)S{n:012}"),
        old_value: None,
        new_value: Some("commissioned".into()),
        reason: None,
        detail: Some(format!("line L1, message c-{}", n / 100)),
    }
}

fn fill(dir: &Path, rows: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (store, thread) =
        Store::open(&dir.join("data"), RulesPolicy::default()).expect("the store opens");
    let started = Instant::now();
    runtime.block_on(async {
        let mut n = 0;
        while n < rows {
            let end = (n + CHUNK).min(rows);
            let entries = (n..end).map(row).collect();
            store.audit_all(entries).await.expect("appended");
            n = end;
        }
    });
    drop(store);
    thread.join();
    eprintln!(
        "filled {rows} audit rows in {:.1} s (not timed)",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let rows: usize = std::env::var("LINEGATE_BENCH_ROWS")
        .ok()
        .map(|v| v.parse().expect("LINEGATE_BENCH_ROWS is a number"))
        .unwrap_or(1_000_000);
    let dir = tempfile::Builder::new()
        .prefix("linegate-audit-bench-")
        .tempdir()
        .expect("a temp dir");
    let cfg = dir.path().join("linegate.toml");
    std::fs::write(&cfg, config(dir.path())).expect("the configuration");
    fill(dir.path(), rows);

    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["audit", "verify", "--json", "--config"])
        .arg(&cfg)
        .output()
        .expect("linegate runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "audit verify failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("verify --json prints JSON");
    assert_eq!(report["rows"], rows, "{report}");
    assert_eq!(report["intact"], true, "{report}");
    println!(
        "audit_verify: {rows} rows verified intact in {seconds:.2} s ({:.0} rows/s); target <= {TARGET_SECONDS} s: {}",
        rows as f64 / seconds,
        if seconds <= TARGET_SECONDS {
            "met"
        } else {
            "MISSED"
        }
    );
    if std::env::var_os("LINEGATE_BENCH_KEEP").is_some() {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
}
