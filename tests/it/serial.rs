//! Serial scanner stations through real ptys and the real daemon: every framing, camera frames,
//! wrong labels, replies after commit, and a scanner unplugged and replugged twenty times.
//!
//! Each scanner is a pty behind a by-id style symlink (support/pty.rs); the test writes what a
//! scanner sends and reads the daemon's one-byte reply (ACK after a committed read, NAK after a
//! refused one). The reply is the synchronisation: when it arrives, `linegate serial show` (a
//! separate process reading the store) must already see the unit — the reply comes only after
//! the commit (and a NAK can only be chosen from the rules' verdict, which the store hands out
//! after `COMMIT`). A refusal must be in the quarantine with the raw frame's length. Unplugging is
//! closing the pty; replugging is pointing the link at a new one, and a code sent right after
//! the replug — before the daemon reopened the port — must still be committed.

use anyhow::{Context, Result, ensure};

use crate::support::ledger::{LineSession, batch_open_with, check_digit};
use crate::support::pty::{ACK, NAK, Scanner};
use crate::support::{Daemon, GTIN, Gateway, code, run_tag};

/// A daemon with `scanners` configured (each `(scanner, extra toml)`) and one open batch.
pub struct World {
    pub line: LineSession,
    pub daemon: Daemon,
    pub gw: Gateway,
    pub batch: String,
    pub tag: String,
}

pub async fn world(
    gw: Gateway,
    scanners: &[(&Scanner, &str)],
    pack_gtins: &[&str],
) -> Result<World> {
    let mut text = std::fs::read_to_string(&gw.config)?;
    for (s, extra) in scanners {
        text.push_str(&s.toml(extra));
    }
    std::fs::write(&gw.config, text)?;
    let daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, "serial-line").await?;
    let tag = run_tag();
    let batch = format!("SER{tag}");
    line.send(batch_open_with("open", &batch, GTIN, pack_gtins, None))
        .await?;
    line.sync().await?;
    Ok(World {
        line,
        daemon,
        gw,
        batch,
        tag,
    })
}

impl World {
    /// The unit must be committed in this world's batch with `state`.
    pub async fn expect_state(&self, code: &str, state: &str) -> Result<()> {
        let s = self
            .gw
            .serial(code)
            .await
            .with_context(|| format!("serial show {code}"))?;
        ensure!(
            s.state == state && s.batch == self.batch,
            "{code}: {} in {}, expected {state} in {}",
            s.state,
            s.batch,
            self.batch
        );
        Ok(())
    }

    /// The unit must be unknown to the store.
    pub async fn expect_unknown(&self, code: &str) -> Result<()> {
        let out = self.gw.supervisor(&["serial", "show", code]).await?;
        ensure!(
            !out.status.success(),
            "{code} is in the store: {}",
            out.stdout
        );
        Ok(())
    }
}

/// `]d2` raw DataMatrix data with GTIN, expiry, lot, GS, serial: what a 2D scanner sends.
fn raw_datamatrix(serial: &str) -> String {
    format!("]d201{GTIN}17270331 10LOT-4711\u{1d}21{serial}").replace(' ', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framing_commissions_and_replies_only_after_the_commit() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let dir = gw.dir.path().to_path_buf();
    let cr = Scanner::plugged(&dir, "cr")?;
    let lf = Scanner::plugged(&dir, "lf")?;
    let crlf = Scanner::plugged(&dir, "crlf")?;
    let stx = Scanner::plugged(&dir, "stx")?;
    let custom = Scanner::plugged(&dir, "custom")?;
    let camera = Scanner::plugged(&dir, "camera")?;
    let c = "station = \"commission\"\n";
    let w = world(
        gw,
        &[
            (&cr, &format!("{c}framing = \"cr\"")),
            (&lf, &format!("{c}framing = \"lf\"")),
            (&crlf, &format!("{c}framing = \"crlf\"")),
            (&stx, &format!("{c}framing = \"stx_etx\"")),
            (&custom, &format!("{c}framing = \"custom\"\nterminator = \"\\u0004\"\nstrip_prefix = \"SCN:\"\nstrip_suffix = \"!\"")),
            (&camera, &format!("{c}framing = \"crlf\"\nmulti_code_separator = \";\"")),
        ],
        &[],
    )
    .await?;
    let t = &w.tag;
    let frames: [(&Scanner, String, String); 5] = [
        (
            &cr,
            format!("(01){GTIN}(21)CR{t}\r"),
            code(&format!("CR{t}")),
        ),
        (
            &lf,
            format!("\n(01){GTIN}(21)LF{t}\n"),
            code(&format!("LF{t}")),
        ),
        (
            &crlf,
            format!("(01){GTIN}(21)CRLF{t}\r\n"),
            code(&format!("CRLF{t}")),
        ),
        (
            &stx,
            format!("noise\u{2}{}\u{3}", raw_datamatrix(&format!("STX{t}"))),
            code(&format!("STX{t}")),
        ),
        (
            &custom,
            format!("SCN:(01){GTIN}(21)EOT{t}!\u{4}"),
            code(&format!("EOT{t}")),
        ),
    ];
    for (scanner, frame, expect) in &frames {
        let reply = scanner.read(frame.as_bytes()).await?;
        ensure!(
            reply == ACK,
            "{}: reply {reply:#04x} to {frame:?}",
            scanner.id
        );
        // The reply came after the commit: another process sees the unit at once.
        w.expect_state(expect, "commissioned").await?;
    }

    // A frame split over several writes is one read; a camera frame is one message of codes.
    let cam: Vec<String> = (0..3).map(|n| code(&format!("CAM{t}{n}"))).collect();
    camera.pty.send(cam[0].as_bytes()).await?;
    let reply = camera
        .read(format!(";{};{}\r\n", cam[1], cam[2]).as_bytes())
        .await?;
    ensure!(reply == ACK, "camera reply {reply:#04x}");
    for c in &cam {
        w.expect_state(c, "commissioned").await?;
    }

    // Wrong labels and bad reads are refused (NAK), stored nowhere but the quarantine.
    let other_body = "0036141400001";
    let other_gtin = format!("{other_body}{}", check_digit(other_body));
    let bad = [
        format!("(01){GTIN}(21)W1{t}(10)WRONGLOT"),
        format!("(01){GTIN}(21)W2{t}(17)291231"),
        format!("(01){other_gtin}(21)W3{t}"),
        "hello scanner".to_string(),
    ];
    for frame in &bad {
        let reply = cr.read(format!("{frame}\r").as_bytes()).await?;
        ensure!(reply == NAK, "reply {reply:#04x} to wrong label {frame}");
    }
    for key in [code(&format!("W1{t}")), code(&format!("W2{t}"))] {
        w.expect_unknown(&key).await?;
    }
    // A second read of a committed unit is harmless: quarantined as duplicate_scan, answered ACK.
    let again = lf.read(format!("(01){GTIN}(21)LF{t}\n").as_bytes()).await?;
    ensure!(again == ACK, "repeated read got {again:#04x}");

    let mut q = w.gw.quarantine().await?;
    q.retain(|r| r.topic.starts_with("scanner/")); // not the line session's sync probes
    let got: Vec<(&str, &str, u64)> = q
        .iter()
        .map(|r| (r.topic.as_str(), r.code.as_str(), r.payload_len))
        .collect();
    let expected: Vec<(&str, &str, u64)> = vec![
        ("scanner/cr", "label_mismatch", bad[0].len() as u64),
        ("scanner/cr", "label_mismatch", bad[1].len() as u64),
        ("scanner/cr", "gtin_mismatch", bad[2].len() as u64),
        ("scanner/cr", "invalid_code", bad[3].len() as u64),
        ("scanner/lf", "duplicate_scan", frames[1].2.len() as u64),
    ];
    ensure!(got == expected, "quarantine {got:#?}");
    ensure!(
        q.iter().all(|r| r
            .message_id
            .as_deref()
            .is_some_and(|id| id.starts_with(&r.topic[8..]))),
        "message ids name the scanner: {q:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_replugged_twenty_times_is_reopened_within_2_s_and_loses_no_read() -> Result<()> {
    let gw = Gateway::start(&[]).await?;
    let mut scanner = Scanner::plugged(gw.dir.path(), "replug")?;
    let w = world(gw, &[(&scanner, "station = \"commission\"")], &[]).await?;
    let codes: Vec<String> = (0..21)
        .map(|n| code(&format!("RP{}{n:02}", w.tag)))
        .collect();
    for (round, c) in codes.iter().enumerate() {
        if round > 0 {
            scanner.replug()?;
        }
        // Sent at once after the replug: it waits in the port until the daemon reopens it.
        let reply = scanner.read(format!("{c}\r").as_bytes()).await?;
        ensure!(reply == ACK, "round {round}: reply {reply:#04x}");
    }
    for c in &codes {
        w.expect_state(c, "commissioned").await?;
    }
    let log = without_ansi(&w.daemon.log());
    let lost = log.matches("scanner port lost").count();
    ensure!(
        lost == 20,
        "{lost} outages logged, expected one per unplug (20)"
    );
    let down: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("scanner port open"))
        .filter_map(|l| {
            l.split("down_ms=")
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    ensure!(
        down.len() == 21,
        "port opened {} times: {down:?}",
        down.len()
    );
    ensure!(
        down[1..].iter().all(|ms| *ms < 2000),
        "a reopen took 2 s or more: {down:?}"
    );
    Ok(())
}

/// The daemon's log without terminal colours (tracing colours field names).
fn without_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            plain.push(c);
        }
    }
    plain
}
