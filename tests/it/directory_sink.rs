//! The pickup-folder upstream (`url = "file:///…"`): what an SFTP or AS2 tool finds there.
//!
//! Such a tool takes every file it sees, whenever it looks, so a half-written document in the
//! folder would leave the plant. The daemon writes each document to a hidden temp directory,
//! fsyncs it and renames it into place, so the folder only ever shows complete documents —
//! even when the daemon is SIGKILLed mid-write, which the second scenario does at several
//! random moments while a watcher thread reads every file the moment it appears. In the end
//! every document of the outbox is in the folder exactly once, under its own name, and every
//! code the line commissioned is in its batch's documents.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use crate::support::xml::parse_complete;
use crate::support::{
    DOC_DEADLINE, Gateway, cli_json, poll_until, run_tag, serials, sgtin, validate_epcis12,
};

/// Small events and documents: a batch's End of Batch comes in several parts.
const SPLIT: &str = "max_epcs_per_event = 50\nmax_events_per_document = 2\n";
const TEMP_DIR: &str = ".linegate-tmp";

/// The part of an `outbox list --json` row these scenarios read.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    document_id: String,
    batch: Option<String>,
    state: String,
}

async fn rows(gw: &Gateway) -> Result<Vec<Row>> {
    cli_json(&["outbox", "list"], &gw.config).await
}

/// Waits until every batch in `batches` has its documents in the outbox and all are delivered.
async fn all_delivered(gw: &Gateway, batches: &[String]) -> Result<Vec<Row>> {
    poll_until("every document delivered", DOC_DEADLINE, async || {
        let rows = rows(gw).await?;
        let have: HashSet<&str> = rows.iter().filter_map(|r| r.batch.as_deref()).collect();
        let done = batches.iter().all(|b| have.contains(b.as_str()))
            && rows.iter().all(|r| r.state == "delivered");
        Ok(done.then_some(rows))
    })
    .await
}

/// The files a pickup tool sees (not hidden), by name.
fn visible(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(files);
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            files.insert(name, e.path());
        }
    }
    Ok(files)
}

/// A file of the pickup folder: a complete EPCIS document named after its own id. Returns the
/// EPCs it commissions.
fn check_file(name: &str, path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {name}"))?;
    let doc = parse_complete(&text).with_context(|| format!("{name} ({} bytes)", text.len()))?;
    let id = doc.instance_id()?;
    ensure!(name == format!("{id}.xml"), "{name} holds document {id}");
    Ok(doc.commissioned())
}

/// The folder holds exactly the outbox's documents, each complete, and each batch's documents
/// together commission exactly its codes.
fn check_folder(dir: &Path, rows: &[Row], codes: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let files = visible(dir)?;
    let expected: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{}.xml", r.document_id))
        .collect();
    let names: BTreeSet<String> = files.keys().cloned().collect();
    ensure!(
        names == expected,
        "pickup folder has {} files, the outbox {} documents; extra {:?}, missing {:?}",
        names.len(),
        expected.len(),
        names.difference(&expected).take(5).collect::<Vec<_>>(),
        expected.difference(&names).take(5).collect::<Vec<_>>()
    );
    let mut commissioned: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in rows {
        let name = format!("{}.xml", r.document_id);
        let epcs = check_file(&name, &files[&name])?;
        let batch = r.batch.as_deref().context("a document of no batch")?;
        commissioned.entry(batch).or_default().extend(epcs);
    }
    for (batch, serials) in codes {
        let expected: Vec<String> = serials.iter().map(|s| sgtin(s)).collect();
        let got = commissioned
            .get(batch.as_str())
            .cloned()
            .unwrap_or_default();
        crate::support::check_epcs(&got, &expected, &[])
            .with_context(|| format!("batch {batch}"))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_appear_complete_and_are_delivered() -> Result<()> {
    let gw = Gateway::start_with_dead_upstream().await?;
    let pickup = gw.dir.path().join("spool/outgoing");
    gw.set_upstream(&format!("file://{}", pickup.display()), SPLIT)?;
    let _daemon = gw.daemon().await?;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    ensure!(
        mode(&pickup)? == 0o700,
        "the daemon creates a missing folder 0700"
    );

    let client = gw.line_client("dir-sink").await?;
    let tag = run_tag();
    let mut codes = BTreeMap::new();
    for b in 0..3 {
        let batch = format!("F{tag}{b}");
        let s = serials(&format!("{tag}{b}"), 120);
        gw.publish_batch(&client, &batch, &s, 40).await?;
        codes.insert(batch, s);
    }
    let batches: Vec<String> = codes.keys().cloned().collect();
    let rows = all_delivered(&gw, &batches).await?;
    ensure!(rows.len() > 3, "each batch in several parts: {rows:#?}");
    check_folder(&pickup, &rows, &codes)?;

    let files = visible(&pickup)?;
    let (name, first) = files.iter().next().context("no file")?;
    ensure!(
        mode(first)? == 0o640,
        "{name} is readable by the pickup tool's group"
    );
    validate_epcis12(
        &std::fs::read_to_string(first)?,
        gw.dir.path(),
        "picked-up.xml",
    )
    .await?;
    let left = std::fs::read_dir(pickup.join(TEMP_DIR))?.count();
    ensure!(left == 0, "{left} temp files left behind");
    Ok(())
}

/// Reads every file of the folder the moment it appears (again whenever it is replaced) until
/// told to stop; returns what it found wrong and how many files it checked.
fn watch(dir: PathBuf, stop: Arc<AtomicBool>, wrong: Arc<Mutex<Vec<String>>>) -> usize {
    let mut checked: HashSet<(String, u64, u64)> = HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let files = visible(&dir).unwrap_or_default();
        for (name, path) in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !checked.insert((name.clone(), meta.ino(), meta.len())) {
                continue;
            }
            if let Err(e) = check_file(&name, &path) {
                wrong.lock().unwrap().push(format!("{e:#}"));
            }
        }
        // A pace for the loop, not a wait for anything: the listing is taken again at once.
        std::thread::sleep(Duration::from_millis(1));
    }
    checked.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_files_are_never_visible_even_under_sigkill() -> Result<()> {
    const BATCHES: usize = 16;
    const KILLS: usize = 16;
    let gw = Gateway::start_with_dead_upstream().await?;
    let pickup = gw.dir.path().join("pickup");
    // Larger parts (up to 1000 EPCs each) so a write takes a while.
    let split = "max_epcs_per_event = 500\nmax_events_per_document = 2\n";
    gw.set_upstream(&format!("file://{}", pickup.display()), split)?;
    let mut daemon = gw.daemon().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let watcher = std::thread::spawn({
        let (dir, stop, wrong) = (pickup.clone(), stop.clone(), wrong.clone());
        move || watch(dir, stop, wrong)
    });

    let client = gw.line_client("dir-sink-kill").await?;
    let tag = run_tag();
    let mut codes = BTreeMap::new();
    for b in 0..BATCHES {
        let batch = format!("K{tag}{b}");
        let s = serials(&format!("{tag}{b}"), 1500);
        gw.publish_batch(&client, &batch, &s, 250).await?;
        codes.insert(batch, s);
    }
    // Each batch: 3 commission + 3 release events of up to 500 EPCs, 2 per document.
    let total = BATCHES * 3;
    let mut at: Vec<usize> = (0..KILLS)
        .map(|_| fastrand::usize(1..total * 3 / 4))
        .collect();
    at.sort_unstable();
    let mut interrupted = 0;
    for (k, threshold) in at.iter().enumerate() {
        // Kill right after the folder reached `threshold` files (the next write is under way
        // then, or about to be), a random few milliseconds later.
        let deadline = Instant::now() + DOC_DEADLINE;
        while visible(&pickup)?.len() < *threshold {
            ensure!(
                Instant::now() < deadline,
                "the folder never reached {threshold} files"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..5000))).await;
        daemon.kill9().await?;
        // Frozen mid-work: the folder shows only complete documents.
        for (name, path) in visible(&pickup)? {
            check_file(&name, &path).context("right after SIGKILL")?;
        }
        let temps = std::fs::read_dir(pickup.join(TEMP_DIR))?.count();
        interrupted += usize::from(temps > 0);
        eprintln!(
            "directory_sink: SIGKILL #{} at {} files, {temps} temp file(s) left",
            k + 1,
            visible(&pickup)?.len()
        );
        daemon = gw.daemon().await?;
    }

    let batches: Vec<String> = codes.keys().cloned().collect();
    let rows = all_delivered(&gw, &batches).await?;
    stop.store(true, Ordering::Relaxed);
    let checked = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("watcher panicked"))?;
    let wrong = wrong.lock().unwrap().clone();
    if !wrong.is_empty() {
        bail!("the watcher saw incomplete documents: {wrong:#?}");
    }
    check_folder(&pickup, &rows, &codes)?;
    let left = std::fs::read_dir(pickup.join(TEMP_DIR))?.count();
    ensure!(left == 0, "{left} temp files left after the last start");
    ensure!(daemon.is_running(), "daemon died");
    eprintln!(
        "directory_sink: {} documents, {KILLS} kills ({interrupted} interrupted a write), watcher checked {checked} files",
        rows.len()
    );
    Ok(())
}
