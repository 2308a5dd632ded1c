//! Per-event reporting on a real SQLite file, the line messages applied through the real ingest
//! path and the documents built by the real reporter build: one document per message a partner
//! takes, in order, nothing for the kinds it does not take; the cursor survives a reopen and a
//! second build of the same message records nothing; a partner added later starts at the end;
//! each kind reads exactly the identifiers its message changed.

use serde_json::Value;

use super::super::batch_rows::tests::{CASE_GTIN, Feed, UNIT_GTIN, open_store, sgtin, sscc};
use super::super::event_record::apply;
use super::super::{DB_FILE, Wakeups, writer};
use super::*;
use crate::assemble::AssemblerConfig;
use crate::assemble::partner::{Format, MessageKind, Partner};
use crate::assemble::single_task::{builder, interest};
use crate::gs1::Gln;
use crate::model::{LineEvent, UnitAction};
use crate::store::StoreThread;

fn partner(name: &str, kinds: &[MessageKind]) -> Partner {
    let mut p = Partner::new(
        name,
        Gln::parse("0361414000001").expect("gln"),
        Gln::parse("0614141000005").expect("gln"),
    );
    p.format = Format::Epcis20Json;
    p.messages = kinds.to_vec();
    p
}

fn config(partners: Vec<Partner>) -> AssemblerConfig {
    let sgln = |s: &str| EpcUri::parse(s).expect("sgln");
    AssemblerConfig {
        biz_location: sgln("urn:epc:id:sgln:0361414.00000.0"),
        read_points: [("L1".to_string(), sgln("urn:epc:id:sgln:0361414.00001.L1"))].into(),
        partners,
        tz_offset: Some("+01:00".into()),
    }
}

fn u(serial: &str) -> String {
    sgtin(UNIT_GTIN, serial)
}

fn units(serials: &[&str]) -> Vec<String> {
    serials.iter().map(|s| u(s)).collect()
}

/// A line with its store: `feed` holds the next messages, `send` ingests them.
struct Site {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    store: Option<(Store, StoreThread)>,
    feed: Feed,
}

impl Site {
    /// Batch B1 open.
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rt, store, thread) = open_store(dir.path());
        let mut feed = Feed::new();
        feed.open("B1", UNIT_GTIN, CASE_GTIN);
        let mut site = Site {
            dir,
            rt,
            store: Some((store, thread)),
            feed,
        };
        site.send();
        site
    }

    fn store(&self) -> &Store {
        &self.store.as_ref().expect("open").0
    }

    fn send(&mut self) {
        let store = self.store.as_ref().expect("open").0.clone();
        self.feed.run(&self.rt, &store);
    }

    fn commission(&mut self, codes: &[String]) {
        self.feed.commission("B1", codes);
        self.send();
    }

    fn start(&self, names: &[&str]) {
        let names = names.iter().map(|s| s.to_string()).collect();
        self.rt
            .block_on(self.store().start_cursors(names))
            .expect("started");
    }

    /// Reports until every cursor is at the end; what each step reported.
    fn report(&self, cfg: &AssemblerConfig) -> Vec<(i64, MessageKind, usize)> {
        let mut steps = Vec::new();
        loop {
            let step = self
                .store()
                .report_next_event(interest(&cfg.partners), builder(cfg));
            match self.rt.block_on(step).expect("reported") {
                None => return steps,
                Some(Reported::Documents {
                    seq,
                    kind,
                    document_ids,
                }) => steps.push((seq, kind, document_ids.len())),
                Some(failed) => panic!("{failed:?}"),
            }
        }
    }

    fn close_store(&mut self) {
        let (store, thread) = self.store.take().expect("open");
        drop(store);
        thread.join();
    }

    /// `upstream`'s documents in sending order: kind and events.
    fn documents(&self, upstream: &str) -> Vec<(String, Vec<Value>)> {
        let read = ReadOnlyStore::open(self.dir.path()).expect("read-only");
        (read.outbox().expect("outbox").into_iter())
            .filter(|r| r.upstream == upstream)
            .map(|r| {
                let body = read.document_body(&r.document_id).expect("read");
                let doc: Value = serde_json::from_slice(&body.expect("a body")).expect("JSON");
                let events = doc["epcisBody"]["eventList"].as_array().expect("events");
                (r.kind, events.clone())
            })
            .collect()
    }
}

/// The serial part of each EPC under `key` (a list, or one EPC).
fn serials(e: &Value, key: &str) -> Vec<String> {
    let one = std::slice::from_ref(&e[key]);
    (e[key].as_array().map_or(one, |a| a.as_slice()).iter())
        .filter_map(|v| v.as_str()?.rsplit('.').next().map(String::from))
        .collect()
}

fn lists(events: &[Value]) -> Vec<Vec<String>> {
    events.iter().map(|e| serials(e, "epcList")).collect()
}

#[test]
fn a_partner_gets_one_document_per_message_it_takes_in_order_and_nothing_else() {
    let mut site = Site::new();
    let cfg = config(vec![
        partner("mah", &[MessageKind::EndOfBatch, MessageKind::Commission]),
        partner("packer", &[MessageKind::Aggregation]),
        partner("eob-only", &[MessageKind::EndOfBatch]),
    ]);
    site.start(&["mah", "packer"]);
    site.commission(&[u("A1"), u("A2"), sscc(1)]);
    site.commission(&units(&["A3"]));
    site.feed.aggregate(&sscc(1), &units(&["A1", "A2"]));
    site.feed
        .units(UnitAction::Decommission, &units(&["A3"]), None);
    site.commission(&units(&["A4"]));
    let steps = site.report(&cfg);
    let kinds: Vec<MessageKind> = steps.iter().map(|s| s.1).collect();
    use MessageKind::{Aggregation, Commission};
    let expected = [Commission, Commission, Aggregation, Commission];
    assert_eq!(kinds, expected, "the decommission nobody takes is skipped");
    assert!(
        steps.windows(2).all(|w| w[0].0 < w[1].0),
        "in the order applied"
    );
    let mah: Vec<String> = (site.documents("mah").iter())
        .map(|(k, events)| format!("{k} {:?}", lists(events)))
        .collect();
    assert_eq!(
        mah,
        [
            r#"commission [["A1", "A2"], ["0000000001"]]"#,
            r#"commission [["A3"]]"#,
            r#"commission [["A4"]]"#,
        ]
    );
    let packer = site.documents("packer");
    assert_eq!(packer.len(), 1);
    assert_eq!(serials(&packer[0].1[0], "parentID"), ["0000000001"]);
    assert_eq!(serials(&packer[0].1[0], "childEPCs"), ["A1", "A2"]);
    assert!(site.documents("eob-only").is_empty());
    assert!(site.report(&cfg).is_empty(), "nothing twice");
}

#[test]
fn the_cursor_survives_a_reopen_and_a_second_build_of_a_message_records_nothing() {
    let mut site = Site::new();
    let cfg = config(vec![partner("mah", &[MessageKind::Commission])]);
    site.start(&["mah"]);
    site.commission(&units(&["A1"]));
    assert_eq!(site.report(&cfg).len(), 1);
    site.commission(&units(&["A2"]));
    site.close_store();
    let (rt, store, thread) = open_store(site.dir.path());
    (site.rt, site.store) = (rt, Some((store, thread)));
    site.start(&["mah"]); // as every start does: the stored cursor stands
    site.commission(&units(&["A3"]));
    assert_eq!(site.report(&cfg).len(), 2);
    let docs: Vec<Vec<String>> = (site.documents("mah").iter())
        .map(|(_, e)| serials(&e[0], "epcList"))
        .collect();
    assert_eq!(docs, [["A1"], ["A2"], ["A3"]], "none lost, none twice");

    // Two builds of the next message, as a crash between build and record (or a race) makes.
    site.commission(&units(&["A4"]));
    site.close_store();
    let build = || build_next(site.dir.path(), &interest(&cfg.partners), builder(&cfg));
    let first = build().expect("reads").expect("a message").expect("built");
    let second = build().expect("reads").expect("a message").expect("built");
    let db = site.dir.path().join(DB_FILE);
    let mut conn = writer::open_connection(&db).expect("db");
    let wakeups = Wakeups::default();
    let recorded = apply(&mut conn, Write::Record(Box::new(first)), &wakeups).expect("records");
    assert!(
        matches!(recorded, Some(Reported::Documents { ref document_ids, .. }) if document_ids.len() == 1)
    );
    let stale = second.files.clone();
    let again = apply(&mut conn, Write::Record(Box::new(second)), &wakeups).expect("no error");
    assert_eq!(again, None);
    assert!(
        stale.iter().all(|f| !f.exists()),
        "the discarded build's files are removed"
    );
    assert_eq!(site.documents("mah").len(), 4);
}

#[test]
fn a_partner_added_later_starts_at_the_end_of_the_log() {
    let mut site = Site::new();
    site.start(&["first"]);
    site.commission(&units(&["A1"]));
    site.commission(&units(&["A2"]));
    let cfg = config(vec![
        partner("first", &[MessageKind::Commission]),
        partner("late", &[MessageKind::Commission]),
    ]);
    site.start(&["first", "late"]);
    site.commission(&units(&["A3"]));
    site.report(&cfg);
    assert_eq!(site.documents("first").len(), 3);
    let late = site.documents("late");
    assert_eq!(late.len(), 1, "not flooded with history");
    assert_eq!(serials(&late[0].1[0], "epcList"), ["A3"]);
}

#[test]
fn each_kind_reads_exactly_what_its_message_changed() {
    let mut site = Site::new();
    use MessageKind::*;
    let all = [
        Commission,
        Aggregation,
        Disaggregation,
        Decommission,
        Destroy,
        Sample,
        StatusUpdate,
    ];
    let cfg = config(vec![partner("all", &all)]);
    site.start(&["all"]);
    let case = sgtin(CASE_GTIN, "C1");
    site.commission(&[sscc(1), u("A1"), u("A2"), u("A3"), u("A4"), case.clone()]);
    let f = &mut site.feed;
    f.aggregate(&case, &units(&["A1", "A2"]));
    f.aggregate(&sscc(1), std::slice::from_ref(&case));
    let unpack = |f: &mut Feed, parent: &str, children: Option<&[&str]>| {
        let children = children.map(|c| c.iter().map(|s| f.code(&u(s))).collect());
        f.push(LineEvent::Disaggregate {
            parent: f.code(parent),
            children,
        });
    };
    unpack(f, &case, Some(&["A2"]));
    f.units(UnitAction::Decommission, &units(&["A3"]), None);
    f.units(UnitAction::Destroy, &units(&["A2"]), Some("damaged"));
    f.units(UnitAction::Sample, &units(&["A4"]), None);
    f.units(UnitAction::CorrectStatus, &units(&["A4"]), None);
    unpack(f, &sscc(1), None);
    site.send();
    site.report(&cfg);
    let docs = site.documents("all");
    let summary: Vec<String> = (docs.iter())
        .map(|(kind, events)| {
            let e = &events[0];
            let what = match kind.as_str() {
                "aggregation" | "disaggregation" => {
                    format!(
                        "{:?} > {:?}",
                        serials(e, "parentID"),
                        serials(e, "childEPCs")
                    )
                }
                _ => format!("{:?}", lists(events)),
            };
            format!("{kind} {} {what}", e["bizStep"].as_str().unwrap_or("-"))
        })
        .collect();
    assert_eq!(
        summary,
        [
            r#"commission commissioning [["A1", "A2", "A3", "A4"], ["C1"], ["0000000001"]]"#,
            r#"aggregation packing ["C1"] > ["A1", "A2"]"#,
            r#"aggregation packing ["0000000001"] > ["C1"]"#,
            r#"disaggregation unpacking ["C1"] > ["A2"]"#,
            r#"decommission decommissioning [["A3"]]"#,
            r#"destroy destroying [["A2"]]"#,
            r#"sample decommissioning [["A4"]]"#,
            r#"status_update - [["A4"]]"#,
            r#"disaggregation unpacking ["0000000001"] > ["C1"]"#,
        ]
    );
    let commission = &docs[0].1;
    assert_eq!(commission[0]["ilmd"]["cbvmda:lotNumber"], "LOT1");
    assert_eq!(
        commission[1]["ilmd"]["cbvmda:lotNumber"], "LOT1",
        "a case SGTIN has its lot"
    );
    assert!(commission[2]["ilmd"].is_null(), "an SSCC has none");
}
