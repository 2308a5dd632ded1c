//! How fast, and in how little memory, linegate writes the End of Batch of a large batch: by
//! default 1,000,000 units (10,000 cases of 100, 250 pallets of 40 — the `ingest` benchmark's
//! batch, built through the same store path), then `linegate export B1 --format F --output FILE`
//! run as a separate process for each of the three formats, so what is measured is exactly the
//! command an operator runs: reading the batch from SQLite, computing every eventID, writing
//! and fsyncing the document. The targets for EPCIS 1.2 XML: at most 3 s and a peak resident
//! set of at most 64 MB (the document is streamed; nothing holds the batch whole).
//!
//! The peak RSS is the child's own `ru_maxrss`: each export is started by a small wrapper
//! process (this binary again, with `LINEGATE_BENCH_CHILD=1`) that has no other child, so
//! `getrusage(RUSAGE_CHILDREN)` there is the export's figure alone. Every written document is
//! then validated: XML with `xmllint --stream --schema` against GS1's official XSD, JSON-LD
//! with the `jsonschema` crate against GS1's JSON Schema (neither is timed).
//!
//! Run with `cargo bench --bench end_of_batch`; `LINEGATE_BENCH_UNITS=40000` is a smoke run.
//! The database lives under `TMPDIR`; `LINEGATE_BENCH_DIR=/path` keeps it there and reuses it
//! on the next run (to profile the export alone).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use linegate::rules::RulesPolicy;
use linegate::store::Store;

#[path = "common/batch_line.rs"]
mod batch_line;
use batch_line::*;

const TARGET_SECONDS: f64 = 3.0;
const TARGET_RSS_MB: f64 = 64.0;
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference");

fn config(data_dir: &Path) -> String {
    format!(
        r#"[gateway]
data_dir = "{}"
site_gln = "0361414000001"
timezone_offset = "+01:00"

[gs1]
company_prefixes = ["{COMPANY_PREFIX}"]

[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "linegate"

[[line]]
id = "{LINE}"
sgln = "urn:epc:id:sgln:0361414.00001.{LINE}"

[[upstream]]
name = "mah"
url = "https://epcis.example.com/receive"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
"#,
        data_dir.display()
    )
}

/// Wrapper mode: run the command after `--`, wait, print its peak RSS, exit with its status.
fn child_wrapper() -> ! {
    let args: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    let status = Command::new(&args[0])
        .args(&args[1..])
        .status()
        .expect("the export runs");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!("maxrss_kb={}", usage.max_rss());
    std::process::exit(status.code().unwrap_or(1));
}

fn fill(dir: &Path, units: usize) {
    let (store, writer) = Store::open(dir, RulesPolicy::default()).expect("the store opens");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut line = Line::new();
    let mut items = vec![line.batch_open(units)];
    let pallets = units / UNITS_PER_PALLET;
    let t = Instant::now();
    for p in 0..pallets {
        line.pallet(p, &mut items);
        if items.len() > 20_000 || p + 1 == pallets {
            runtime.block_on(feed(&store, std::mem::take(&mut items)));
        }
    }
    runtime.block_on(feed(&store, vec![line.batch_close()]));
    drop(store);
    writer.join();
    eprintln!(
        "end_of_batch: batch of {units} units stored in {:.1} s (not timed)",
        t.elapsed().as_secs_f64()
    );
}

/// Runs the export of `format` to `out`: (seconds, peak RSS in MB).
fn export(config: &Path, format: &str, out: &Path) -> (f64, f64) {
    let me = std::env::current_exe().expect("own path");
    let t = Instant::now();
    let output = Command::new(me)
        .env("LINEGATE_BENCH_CHILD", "1")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_linegate"))
        .args(["export", BATCH, "--format", format, "--output"])
        .arg(out)
        .arg("--config")
        .arg(config)
        .output()
        .expect("the wrapper runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "export {format} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kb: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .expect("the wrapper reports maxrss");
    (secs, kb / 1024.0)
}

fn validate(format: &str, doc: &Path) -> Result<(), String> {
    if format == "epcis-2.0-json" {
        let text = std::fs::read(doc).map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        let schema_text =
            std::fs::read_to_string(format!("{REFERENCE}/epcis-2.0/epcis-json-schema.json"))
                .map_err(|e| e.to_string())?;
        let schema: serde_json::Value =
            serde_json::from_str(&schema_text).map_err(|e| e.to_string())?;
        let validator = jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|e| e.to_string())
            .collect();
        return if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        };
    }
    let xsd = match format {
        "epcis-1.2" => "epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd",
        _ => "epcis-2.0/xsd/EPCglobal-epcis-2_0.xsd",
    };
    let out = Command::new("xmllint")
        .args(["--stream", "--noout", "--nonet", "--schema"])
        .arg(PathBuf::from(REFERENCE).join(xsd))
        .arg(doc)
        .output()
        .map_err(|e| format!("cannot run xmllint: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(2000)
            .collect())
    }
}

fn main() {
    if std::env::var_os("LINEGATE_BENCH_CHILD").is_some() {
        child_wrapper();
    }
    let units = units_from_env();
    // LINEGATE_BENCH_DIR keeps the database there and reuses it on the next run (profiling).
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir =
        std::env::var_os("LINEGATE_BENCH_DIR").map_or(temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("the bench directory");
    if !dir.join("linegate.db").exists() {
        fill(&dir, units);
    }
    let config_path = dir.join("linegate.toml");
    std::fs::write(&config_path, config(&dir)).expect("config");
    let mut failed = false;
    for format in ["epcis-1.2", "epcis-2.0-json", "epcis-2.0-xml"] {
        let out = dir.join(format!("eob.{format}"));
        let (secs, rss) = export(&config_path, format, &out);
        let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        let valid = validate(format, &out);
        let verdict = if secs <= TARGET_SECONDS && rss <= TARGET_RSS_MB {
            "meets"
        } else {
            "MISSES"
        };
        println!(
            "end_of_batch: {format}: {units} units in {secs:.2} s, peak RSS {rss:.1} MB, {:.1} MB written, schema-valid: {} ({verdict} the targets of {TARGET_SECONDS} s and {TARGET_RSS_MB} MB)",
            bytes as f64 / 1e6,
            match &valid {
                Ok(()) => "yes".to_string(),
                Err(e) => format!("NO ({e})"),
            }
        );
        failed |= valid.is_err();
    }
    assert!(!failed, "a document did not validate");
}
