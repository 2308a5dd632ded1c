//! Checks an EPCIS 1.2 document the way the receiving side would.
//!
//! Schema validity is judged by `xmllint` against the official GS1 XSD kept in
//! `../shared/reference/epcis-1.2/xsd/` (no network), and content is read back
//! with a namespace-aware quick-xml parser so that the tests compare what was
//! sent on the line (codes, lot, expiry) with what the document says, whatever
//! prefixes the daemon chose.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

const SCHEMA_REL: &str = "../shared/reference/epcis-1.2/xsd/EPCglobal-epcis-1_2.xsd";
const NS_CBVMDA: &str = "urn:epcglobal:cbv:mda";
const NS_SBDH: &str = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader";

/// Writes `xml` to `DIR/NAME` and validates it with xmllint against the
/// EPCIS 1.2 XSD; the error carries xmllint's diagnostics.
pub async fn validate_epcis12(xml: &str, dir: &Path, name: &str) -> Result<()> {
    // Cargo runs integration tests from the crate root, which is also where
    // CARGO_MANIFEST_DIR points; use the latter so the path is unambiguous.
    let schema: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_REL);
    if !schema.is_file() {
        bail!(
            "EPCIS 1.2 schema not found at {} (expected {SCHEMA_REL} relative to the crate root)",
            schema.display()
        );
    }
    let file = dir.join(name);
    std::fs::write(&file, xml).with_context(|| format!("write {}", file.display()))?;
    let out = tokio::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg(&file)
        .output()
        .await
        .context("run xmllint")?;
    if !out.status.success() {
        let diag = String::from_utf8_lossy(&out.stderr);
        let head: Vec<&str> = diag.lines().take(30).collect();
        bail!(
            "{} does not validate against EPCIS 1.2 ({}):\n{}",
            file.display(),
            out.status,
            head.join("\n")
        );
    }
    Ok(())
}

/// One event of a document: its kind (`ObjectEvent`, `AggregationEvent`), action, bizStep,
/// parentID and `<epc>`s (epcList or childEPCs) in order.
#[derive(Debug, Default, Clone)]
pub struct DocEvent {
    pub kind: String,
    pub action: String,
    pub biz_step: String,
    pub parent: Option<String>,
    pub epcs: Vec<String>,
}

/// The parts of an EPCIS document the scenarios assert on.
#[derive(Debug, Default)]
pub struct EpcisDoc {
    /// Every `<epc>` text in document order (an identifier shows up in each event naming it).
    pub epcs: Vec<String>,
    /// The events in document order.
    pub events: Vec<DocEvent>,
    pub lot_numbers: Vec<String>,
    pub expiry_dates: Vec<String>,
    pub instance_ids: Vec<String>,
    pub object_events: usize,
    pub actions: Vec<String>,
    pub biz_steps: Vec<String>,
}

impl EpcisDoc {
    pub fn parse(xml: &str) -> Result<EpcisDoc> {
        let mut reader = NsReader::from_str(xml);
        let mut doc = EpcisDoc::default();
        // (namespace, local name) of open elements, and the text collected
        // for the innermost one.
        let mut stack: Vec<(Option<String>, String)> = Vec::new();
        let mut text = String::new();
        let mut current: Option<DocEvent> = None;
        loop {
            let (ns, event) = reader.read_resolved_event().context("parse EPCIS XML")?;
            match event {
                Event::Start(e) => {
                    let ns = match ns {
                        ResolveResult::Bound(n) => Some(n.into_inner().to_string()),
                        _ => None,
                    };
                    let local = e.local_name().as_ref().to_string();
                    if local == "ObjectEvent" {
                        doc.object_events += 1;
                    }
                    if local == "ObjectEvent" || local == "AggregationEvent" {
                        current = Some(DocEvent {
                            kind: local.clone(),
                            ..DocEvent::default()
                        });
                    }
                    stack.push((ns, local));
                    text.clear();
                }
                Event::Empty(e) if e.local_name().as_ref() == "ObjectEvent" => {
                    doc.object_events += 1;
                }
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::CData(t) => text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    let raw: &str = &r;
                    let ch = match raw {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    text.push(ch.with_context(|| format!("unknown entity &{raw};"))?);
                }
                Event::End(_) => {
                    let (ns, local) = stack.pop().context("unbalanced XML")?;
                    let value = text.trim().to_string();
                    text.clear();
                    let event = current.as_mut();
                    match (ns.as_deref(), local.as_str()) {
                        (None, "ObjectEvent" | "AggregationEvent") => {
                            doc.events.extend(current.take());
                        }
                        (None, "epc") => {
                            if let Some(e) = event {
                                e.epcs.push(value.clone());
                            }
                            doc.epcs.push(value)
                        }
                        (None, "parentID") => {
                            if let Some(e) = event {
                                e.parent = Some(value);
                            }
                        }
                        (None, "action") => {
                            if let Some(e) = event {
                                e.action = value.clone();
                            }
                            doc.actions.push(value)
                        }
                        (None, "bizStep") => {
                            if let Some(e) = event {
                                e.biz_step = value.clone();
                            }
                            doc.biz_steps.push(value)
                        }
                        (Some(NS_CBVMDA), "lotNumber") => doc.lot_numbers.push(value),
                        (Some(NS_CBVMDA), "itemExpirationDate") => doc.expiry_dates.push(value),
                        (Some(NS_SBDH), "InstanceIdentifier") => doc.instance_ids.push(value),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(doc)
    }

    /// The EPCs of the events with bizStep `step` (`commissioning`, `inspecting`, …), in order.
    pub fn epcs_at(&self, step: &str) -> Vec<String> {
        let urn = format!("urn:epcglobal:cbv:bizstep:{step}");
        self.events
            .iter()
            .filter(|e| e.biz_step == urn)
            .flat_map(|e| e.epcs.iter().cloned())
            .collect()
    }

    /// What the document commissions: the EPCs of its commissioning events.
    pub fn commissioned(&self) -> Vec<String> {
        self.epcs_at("commissioning")
    }

    /// What its product release event(s) name: the batch's top-level identifiers.
    pub fn released(&self) -> Vec<String> {
        self.epcs_at("inspecting")
    }

    /// The single SBDH InstanceIdentifier, or an error if there is not exactly one.
    pub fn instance_id(&self) -> Result<&str> {
        match self.instance_ids.as_slice() {
            [one] if !one.is_empty() => Ok(one),
            other => bail!("expected exactly one sbdh:InstanceIdentifier, found {other:?}"),
        }
    }
}

/// Parses a document that must be complete: one root element, closed, every end tag matching
/// its start (a document cut off mid-write fails here, where `EpcisDoc::parse` stops quietly).
pub fn parse_complete(xml: &str) -> Result<EpcisDoc> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        match reader.read_event().context("not well-formed XML")? {
            Event::Start(_) => {
                roots += usize::from(depth == 0);
                depth += 1;
            }
            Event::End(_) => depth = depth.checked_sub(1).context("an end tag with no start")?,
            Event::Empty(_) => roots += usize::from(depth == 0),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || roots != 1 {
        bail!("incomplete XML: {roots} root element(s), {depth} element(s) left open at the end");
    }
    EpcisDoc::parse(xml)
}

/// Checks a document's EPC list: no EPC twice, every EPC of `must` present,
/// and nothing outside `must` and `may`. Errors list a few offenders of each kind.
pub fn check_epcs(actual: &[String], must: &[String], may: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    let dupes: BTreeSet<&String> = actual.iter().filter(|e| !seen.insert(*e)).collect();
    let missing: BTreeSet<&String> = must.iter().filter(|e| !seen.contains(e)).collect();
    let allowed: HashSet<&String> = must.iter().chain(may).collect();
    let unexpected: BTreeSet<&String> = actual.iter().filter(|e| !allowed.contains(e)).collect();
    if dupes.is_empty() && missing.is_empty() && unexpected.is_empty() {
        return Ok(());
    }
    let few = |set: &BTreeSet<&String>| set.iter().take(5).cloned().cloned().collect::<Vec<_>>();
    bail!(
        "EPC list wrong ({} in document, {} required): {} duplicated {:?}, {} missing {:?}, {} unexpected {:?}",
        actual.len(),
        must.len(),
        dupes.len(),
        few(&dupes),
        missing.len(),
        few(&missing),
        unexpected.len(),
        few(&unexpected)
    )
}
