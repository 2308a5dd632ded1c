//! The line ledger seen from outside: messages that pack, unpack and end units, and the
//! supervisor's views of batches and serials.
//!
//! The aggregation and reconciliation scenarios talk to the daemon like a line does (MQTT) and
//! look at the result like a supervisor does (`linegate serial show`, `batch show`, `batch list`
//! with `--json`). A `LineSession` wraps the line client: it publishes messages, expects the
//! reject notices that must come, and synchronises on the daemon without sleeping — it publishes
//! a probe that is always refused and waits for that probe's notice. The daemon answers messages
//! in arrival order, so once the probe's notice is in, every earlier message is committed, and
//! any other notice that arrived meanwhile is an unexpected refusal.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde_json::{Value, json};

use super::daemon::CliOutput;
use super::{
    COMPANY_PREFIX_LEN, EXPIRY, EpcisDoc, Gateway, LINE, LOT, MqttClient, Recorded, check_epcs,
    cli, cli_json, events_topic, validate_epcis12,
};

/// The case GTIN the aggregation scenarios commission cases with (indicator digit 5 of the saleable GTIN).
pub const CASE_GTIN: &str = "50361414567899";

/// How long a reject notice (or a probe's) may take on a loaded 2-core box.
const NOTICE_DEADLINE: Duration = Duration::from_secs(60);

/// GS1 mod-10 check digit of `digits` (all digits but the check digit).
pub fn check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).expect("digits only");
            if i % 2 == 0 { 3 * d } else { d }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// `(01)GTIN(21)SERIAL` for any GTIN.
pub fn code_of(gtin: &str, serial: &str) -> String {
    format!("(01){gtin}(21){serial}")
}

/// A case SGTIN of [`CASE_GTIN`].
pub fn case_code(serial: &str) -> String {
    code_of(CASE_GTIN, serial)
}

/// The SGTIN EPC URI of `serial` of any GTIN under the 7-digit company prefix.
pub fn sgtin_of(gtin: &str, serial: &str) -> String {
    let (indicator, rest) = gtin.split_at(1);
    let without_check = &rest[..rest.len() - 1];
    let (prefix, item) = without_check.split_at(COMPANY_PREFIX_LEN);
    format!("urn:epc:id:sgtin:{prefix}.{indicator}{item}.{serial}")
}

/// The SSCC `(00)…` of pallet number `n` (extension 0, company prefix 0361414).
pub fn sscc_code(n: u32) -> String {
    let body = format!("00361414{n:09}");
    format!("(00){body}{}", check_digit(&body))
}

/// `batch_open` with the master data the aggregation scenarios need.
pub fn batch_open_with(
    id: &str,
    batch: &str,
    gtin: &str,
    pack_gtins: &[&str],
    planned_quantity: Option<u64>,
) -> String {
    let mut m = json!({"id": id, "type": "batch_open", "batch": batch, "gtin": gtin,
                       "lot": LOT, "expiry": EXPIRY});
    if !pack_gtins.is_empty() {
        m["pack_gtins"] = json!(pack_gtins);
    }
    if let Some(q) = planned_quantity {
        m["planned_quantity"] = json!(q);
    }
    m.to_string()
}

pub fn aggregate(id: &str, parent: &str, children: &[String]) -> String {
    json!({"id": id, "type": "aggregate", "parent": parent, "children": children}).to_string()
}

/// `disaggregate`; `children: None` unpacks everything.
pub fn disaggregate(id: &str, parent: &str, children: Option<&[String]>) -> String {
    let mut m = json!({"id": id, "type": "disaggregate", "parent": parent});
    if let Some(c) = children {
        m["children"] = json!(c);
    }
    m.to_string()
}

/// `decommission`, `destroy` or `sample`.
pub fn unit_event(id: &str, kind: &str, codes: &[String], reason: Option<&str>) -> String {
    let mut m = json!({"id": id, "type": kind, "codes": codes});
    if let Some(r) = reason {
        m["reason"] = json!(r);
    }
    m.to_string()
}

/// A reject notice: `{"id", "code", "reason"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Notice {
    pub id: String,
    pub code: String,
    pub reason: String,
}

/// A line-side MQTT session on [`LINE`] with reject-notice bookkeeping.
pub struct LineSession {
    pub client: MqttClient,
    topic: String,
    probes: std::sync::atomic::AtomicUsize,
}

impl LineSession {
    pub async fn connect(gw: &Gateway, name: &str) -> Result<LineSession> {
        Ok(LineSession {
            client: gw.line_client(name).await?,
            topic: events_topic(LINE),
            probes: Default::default(),
        })
    }

    /// Publishes one message (QoS 1); its `id` is the tag.
    pub async fn send(&self, payload: String) -> Result<()> {
        let v: Value = serde_json::from_str(&payload).context("test message is JSON")?;
        let tag = v["id"].as_str().unwrap_or("?").to_string();
        self.client.publish(&self.topic, payload, &tag).await
    }

    /// The next reject notice, whatever it is.
    pub async fn next_notice(&self) -> Result<Notice> {
        let (topic, payload) = self.client.next_message(NOTICE_DEADLINE).await?;
        ensure!(topic.ends_with("/rejects"), "unexpected message on {topic}");
        serde_json::from_slice(&payload).with_context(|| {
            format!(
                "notice is not {{id, code, reason}}: {}",
                String::from_utf8_lossy(&payload)
            )
        })
    }

    /// The next notice must refuse message `id` with `code`; returns it.
    pub async fn expect_reject(&self, id: &str, code: &str) -> Result<Notice> {
        let n = self
            .next_notice()
            .await
            .with_context(|| format!("waiting for the {code} refusal of {id}"))?;
        ensure!(
            n.id == id && n.code == code,
            "expected {id} to be refused with {code}, got {n:?}"
        );
        Ok(n)
    }

    /// Waits until the daemon has committed everything sent so far, and fails if it refused
    /// any of it: publishes a message of an unknown type and waits for exactly its notice.
    pub async fn sync(&self) -> Result<()> {
        let n = self
            .probes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("sync-{n}");
        self.send(json!({"id": id, "type": "sync_probe"}).to_string())
            .await?;
        let got = self
            .next_notice()
            .await
            .context("waiting for a sync probe")?;
        ensure!(
            got.id == id && got.code == "unknown_type",
            "a message sent before {id} was refused: {got:?}"
        );
        Ok(())
    }
}

/// `linegate serial show CODE --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SerialDetail {
    pub key: String,
    pub epc: String,
    pub batch: String,
    pub state: String,
    pub parents: Vec<String>,
    pub children: Vec<String>,
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryRow {
    pub time: String,
    pub event: String,
    pub state: String,
    pub parent: Option<String>,
    pub line: String,
    pub message_id: String,
    pub reason: Option<String>,
}

/// A row of `linegate batch list --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchRow {
    pub batch: String,
    pub line: String,
    pub state: String,
    pub gtin: String,
    pub lot: String,
    pub expiry: String,
    pub planned_quantity: Option<u64>,
    pub serials: u64,
    pub document: Option<String>,
    pub opened_at: String,
    pub closed_at: Option<String>,
}

/// `linegate batch show BATCH --json`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchDetail {
    #[serde(flatten)]
    pub row: BatchRow,
    pub pack_gtins: Vec<String>,
    pub work_order: Option<String>,
    pub released_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub failure: Option<String>,
    pub report_final: bool,
    pub report: Report,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub planned: Option<u64>,
    pub good_units: u64,
    pub yield_percent: Option<f64>,
    /// Keyed `each`, `pack`, `logistic`; a level without identifiers is absent.
    pub levels: BTreeMap<String, LevelCounts>,
    pub loose: u64,
    pub inconsistencies: Vec<String>,
}

impl Report {
    /// The counts of `level`, zero when the batch has none of it.
    pub fn level(&self, level: &str) -> LevelCounts {
        self.levels.get(level).copied().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct LevelCounts {
    pub commissioned: u64,
    pub aggregated: u64,
    pub unaggregated: u64,
    pub decommissioned: u64,
    pub destroyed: u64,
    pub sampled: u64,
    pub shipped: u64,
}

impl Gateway {
    /// `linegate serial show CODE --config … --json`.
    pub async fn serial(&self, code: &str) -> Result<SerialDetail> {
        cli_json(&["serial", "show", code], &self.config).await
    }

    /// `linegate batch show BATCH --config … --json`.
    pub async fn batch(&self, batch: &str) -> Result<BatchDetail> {
        cli_json(&["batch", "show", batch], &self.config).await
    }

    /// `linegate batch list --config … --json`.
    pub async fn batches(&self) -> Result<Vec<BatchRow>> {
        cli_json(&["batch", "list"], &self.config).await
    }

    /// `linegate ARGS… --config …`, whatever its exit status.
    pub async fn supervisor(&self, args: &[&str]) -> Result<CliOutput> {
        let config = self.config.to_str().context("non-UTF-8 config path")?;
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        cli(&all).await
    }

    /// Checks a delivered End-of-Batch document (the default variant: commission, aggregation,
    /// product release): headers, XSD validity, commissioning events (ADD) holding exactly
    /// `epcs` (every level the batch commissioned) with the batch's lot and expiry, and a product
    /// release event (OBSERVE / inspecting) last.
    pub async fn check_end_of_batch(&self, req: &Recorded, epcs: &[String]) -> Result<EpcisDoc> {
        ensure!(
            req.method == "POST" && req.path == "/epcis",
            "{} {}",
            req.method,
            req.path
        );
        let body = req.body_text()?;
        let name = format!("end-of-batch-{}.xml", fastrand::u32(..));
        validate_epcis12(body, self.dir.path(), &name).await?;
        let doc = EpcisDoc::parse(body)?;
        let key = req
            .header("idempotency-key")
            .context("no Idempotency-Key header")?;
        ensure!(
            key == doc.instance_id()?,
            "Idempotency-Key {key} != InstanceIdentifier"
        );
        let commissioning = "urn:epcglobal:cbv:bizstep:commissioning";
        let first_other = doc
            .events
            .iter()
            .position(|e| e.biz_step != commissioning)
            .unwrap_or(doc.events.len());
        ensure!(
            first_other > 0
                && doc.events[..first_other]
                    .iter()
                    .all(|e| e.kind == "ObjectEvent" && e.action == "ADD"),
            "the document does not start with its commissioning events: {:?}",
            doc.events
        );
        ensure!(
            doc.events[first_other..]
                .iter()
                .all(|e| e.biz_step != commissioning),
            "commissioning events after other events: {:?}",
            doc.biz_steps
        );
        check_epcs(&doc.commissioned(), epcs, &[])?;
        let last = doc.events.last().context("no events")?;
        ensure!(
            last.kind == "ObjectEvent"
                && last.action == "OBSERVE"
                && last.biz_step == "urn:epcglobal:cbv:bizstep:inspecting",
            "the last event is not the product release: {last:?}"
        );
        ensure!(
            !doc.lot_numbers.is_empty() && doc.lot_numbers.iter().all(|l| l == LOT),
            "lotNumber {:?}",
            doc.lot_numbers
        );
        ensure!(
            doc.expiry_dates.len() == doc.lot_numbers.len()
                && doc.expiry_dates.iter().all(|d| d == EXPIRY),
            "itemExpirationDate {:?}",
            doc.expiry_dates
        );
        Ok(doc)
    }
}

/// `events` of a serial's history as `(event, state, parent)`, for one-line comparisons.
pub fn history_of(s: &SerialDetail) -> Vec<(String, String, Option<String>)> {
    s.history
        .iter()
        .map(|h| (h.event.clone(), h.state.clone(), h.parent.clone()))
        .collect()
}

/// Fails unless the CLI run exited 1 and its stderr names the refusal `code`.
pub fn expect_refusal(out: &CliOutput, code: &str, what: &str) -> Result<()> {
    if out.status.code() != Some(1) || !out.stderr.contains(code) {
        bail!(
            "{what}: expected exit 1 with {code:?} on stderr, got {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }
    Ok(())
}

/// Fails unless the CLI run exited 0.
pub fn expect_success(out: &CliOutput, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what}: expected exit 0, got {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }
    Ok(())
}
