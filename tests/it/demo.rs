//! `linegate demo`, the README's main-job command, run as a user runs it.
//!
//! The real binary in a fresh working directory, with nothing else running: it must start its
//! embedded broker, gateway and upstream receiver, play the 10,000-unit batch, exit 0 having
//! stopped cleanly, and leave in `linegate-demo/upstream/` one document that validates against
//! the official EPCIS 1.2 XSD and holds every identifier the batch commissioned. A second run in
//! the same directory wipes and recreates it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use tokio::process::Command;

use crate::support::daemon::BIN;
use crate::support::{EpcisDoc, validate_epcis12};

async fn run_demo(cwd: &std::path::Path) -> Result<String> {
    let out = Command::new(BIN)
        .arg("demo")
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .context("linegate demo did not finish within 300 s")??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(
        out.status.success(),
        "linegate demo exited {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_a_schema_valid_document_and_exits_0() -> Result<()> {
    let started = Instant::now();
    let cwd = tempfile::Builder::new()
        .prefix("linegate-demo-it-")
        .tempdir()?;
    let stdout = run_demo(cwd.path()).await?;
    for expected in [
        "ok: exactly the faulty messages the line sent",
        "ok: the reconciliation matches the line's own counts",
        "gateway stopped cleanly",
        "schema: valid EPCIS 1.2",
        "demo: done, everything agrees.",
    ] {
        ensure!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let upstream = cwd.path().join("linegate-demo/upstream");
    let docs: Vec<_> = std::fs::read_dir(&upstream)?.collect::<Result<_, _>>()?;
    ensure!(
        docs.len() == 1,
        "expected one document in {}: {docs:?}",
        upstream.display()
    );
    let xml = std::fs::read_to_string(docs[0].path())?;
    validate_epcis12(&xml, cwd.path(), "demo-document.xml").await?;
    let doc = EpcisDoc::parse(&xml)?;
    // 10,000 units, 100 cases and 5 pallets commissioned; the default End of Batch leaves the
    // units taken out (rejects and samples) out of it.
    let taken_out: usize = stdout
        .split("Rejects and samples on the line (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .context("no count of rejects and samples in the demo's report")?;
    let commissioned = doc.commissioned();
    ensure!(
        commissioned.len() == 10_105 - taken_out,
        "{} EPCs commissioned, {taken_out} taken out",
        commissioned.len()
    );
    let unique: std::collections::HashSet<&String> = commissioned.iter().collect();
    ensure!(
        unique.len() == commissioned.len(),
        "an EPC commissioned twice"
    );
    ensure!(
        doc.events
            .iter()
            .filter(|e| e.kind == "AggregationEvent")
            .count()
            == 105,
        "one aggregation per case and pallet"
    );
    ensure!(
        !doc.released().is_empty(),
        "no product release event in the document"
    );
    let first = started.elapsed();

    let again = run_demo(cwd.path()).await?;
    ensure!(again.contains("demo: done"), "second run:\n{again}");
    let docs = std::fs::read_dir(&upstream)?.count();
    ensure!(
        docs == 1,
        "the second run did not start from a fresh directory ({docs} documents)"
    );
    eprintln!(
        "demo: first run {first:?}, both runs {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_to_wipe_a_directory_it_did_not_make() -> Result<()> {
    let cwd = tempfile::Builder::new()
        .prefix("linegate-demo-it-")
        .tempdir()?;
    let precious = cwd.path().join("linegate-demo");
    std::fs::create_dir(&precious)?;
    std::fs::write(precious.join("notes.txt"), "keep me")?;
    let out = Command::new(BIN)
        .arg("demo")
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("was not made by `linegate demo`"),
        "{stderr}"
    );
    ensure!(precious.join("notes.txt").exists());
    Ok(())
}
