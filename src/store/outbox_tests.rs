//! The assembly steps on a real SQLite file with the real assembler build: each part of an End
//! of Batch is a file of the outbox, recorded once with its delivery; a build that lost the race
//! leaves no file; a partner that takes the End of Batch at the QA release gets it only then.

use std::path::Path;

use super::batch_rows::tests::{CASE_GTIN, Feed, UNIT_GTIN, open_store, sgtin, sscc};
use super::outbox::build_next;
use super::{Assembled, OUTBOX_DIR, ReadOnlyStore};
use crate::assemble::partner::{EobTrigger, Format, Partner};
use crate::assemble::{AssemblerConfig, builder};
use crate::gs1::{EpcUri, Gln};

fn partner(name: &str, format: Format, trigger: EobTrigger) -> Partner {
    let mut p = Partner::new(
        name,
        Gln::parse("0361414000001").expect("a GLN"),
        Gln::parse("0614141000005").expect("a GLN"),
    );
    p.format = format;
    p.eob_trigger = trigger;
    p
}

fn config(partners: Vec<Partner>) -> AssemblerConfig {
    AssemblerConfig {
        biz_location: EpcUri::parse("urn:epc:id:sgln:0361414.00000.0").expect("an SGLN"),
        read_points: [(
            "L1".to_string(),
            EpcUri::parse("urn:epc:id:sgln:0361414.00001.0").expect("an SGLN"),
        )]
        .into(),
        partners,
        tz_offset: Some("+01:00".into()),
    }
}

/// Three units in a case on a pallet, closed.
fn closed_batch(f: &mut Feed) {
    let units: Vec<String> = (1..=3)
        .map(|i| sgtin(UNIT_GTIN, &format!("U{i}")))
        .collect();
    let case = sgtin(CASE_GTIN, "C1");
    f.open("B1", UNIT_GTIN, CASE_GTIN);
    f.commission("B1", &units);
    f.commission("B1", &[case.clone(), sscc(1)]);
    f.aggregate(&case, &units);
    f.aggregate(&sscc(1), &[case]);
    f.close("B1");
}

/// Every file in the outbox directory, sorted (temp files included).
fn outbox_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir.join(OUTBOX_DIR)) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// `(document_id, upstream, file, part, parts, format, has sidecar)` of every document.
type DocRow = (
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    bool,
);

fn documents(dir: &Path) -> Vec<DocRow> {
    let ro = ReadOnlyStore::open(dir).expect("read-only");
    let mut stmt = ro
        .conn
        .prepare(
            "SELECT doc.document_id, d.upstream, doc.file, doc.part, doc.parts, doc.format,
                    doc.sidecar IS NOT NULL AND length(doc.body) = 0
             FROM documents doc JOIN deliveries d ON d.document_id = doc.document_id
             ORDER BY doc.seq",
        )
        .expect("a query");
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[test]
fn parts_are_files_recorded_once_and_a_discarded_build_leaves_no_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    closed_batch(&mut f);
    f.run(&runtime, &store);
    let mut json = partner("json", Format::Epcis20Json, EobTrigger::Close);
    // One event per document: commission units, case, pallet, two aggregations, release.
    json.limits.max_events_per_document = 1;
    let cfg = config(vec![
        partner("mah", Format::Epcis12, EobTrigger::Close),
        json,
    ]);

    // A build that will lose the race: its files exist until it is turned away.
    let late = build_next(dir.path(), builder(&cfg))
        .expect("builds")
        .expect("a batch waits");
    assert_eq!(late.files.len(), 7);
    assert_eq!(outbox_files(dir.path()).len(), 7);

    let recorded = runtime
        .block_on(store.assemble_next(builder(&cfg)))
        .expect("assembled");
    let Some(Assembled::Documents {
        batch,
        trigger,
        document_ids,
    }) = recorded
    else {
        panic!("documents, got {recorded:?}");
    };
    assert_eq!((batch.as_str(), trigger), ("B1", EobTrigger::Close));
    assert_eq!(document_ids.len(), 7);
    assert_eq!(
        runtime.block_on(store.record(late)).expect("no error"),
        None,
        "the batch no longer waits"
    );
    assert_eq!(
        runtime
            .block_on(store.assemble_next(builder(&cfg)))
            .expect("reads"),
        None
    );

    // Exactly the recorded parts are on disk, no temp file, no file of the late build.
    let docs = documents(dir.path());
    let mut files: Vec<String> = docs.iter().filter_map(|d| d.2.clone()).collect();
    files.sort();
    assert_eq!(outbox_files(dir.path()), files);
    assert_eq!(docs.len(), 7);
    let (id, upstream, file, part, parts, format, sidecar) = &docs[0];
    assert_eq!(
        (
            upstream.as_str(),
            *part,
            *parts,
            format.as_deref(),
            *sidecar
        ),
        ("mah", 1, 1, Some("epcis-1.2"), true)
    );
    assert_eq!(file.as_deref(), Some(format!("{id}.xml").as_str()));
    for (i, d) in docs[1..].iter().enumerate() {
        assert_eq!(
            (d.1.as_str(), d.3, d.4, d.5.as_deref(), d.6),
            ("json", i as i64 + 1, 6, Some("epcis-2.0-json"), true)
        );
        assert!(d.2.as_deref().is_some_and(|f| f.ends_with(".jsonld")));
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(
            dir.path()
                .join(OUTBOX_DIR)
                .join(file.as_deref().expect("a file")),
        )
        .expect("the file")
        .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The forwarder reads the body from the file, the parts in order.
    let mah = next_delivery(&runtime, &store, "mah");
    let on_disk = std::fs::read(
        dir.path()
            .join(OUTBOX_DIR)
            .join(file.as_deref().expect("a file")),
    )
    .expect("the file");
    assert_eq!(mah.body, on_disk);
    assert_eq!(mah.content_type, "application/xml");
    let xml = String::from_utf8(mah.body).expect("UTF-8");
    assert!(xml.contains(&f.epc(&sgtin(UNIT_GTIN, "U3"))), "{xml}");
    assert!(xml.contains("AggregationEvent"), "{xml}");
    let first = next_delivery(&runtime, &store, "json");
    assert_eq!(first.document_id, docs[1].0);
    assert_eq!(first.content_type, "application/ld+json");
    let outbox = ReadOnlyStore::open(dir.path())
        .expect("read-only")
        .outbox()
        .expect("the outbox");
    assert!(outbox.iter().all(|r| r.bytes > 0), "{outbox:?}");
    assert_eq!(
        ReadOnlyStore::open(dir.path())
            .expect("read-only")
            .document_body(id)
            .expect("reads"),
        Some(on_disk)
    );
    drop(store);
    thread.join();
}

#[test]
fn a_partner_that_takes_the_end_of_batch_at_release_gets_it_only_after_the_release() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    closed_batch(&mut f);
    f.run(&runtime, &store);
    let cfg = config(vec![
        partner("mah", Format::Epcis12, EobTrigger::Close),
        partner("qa", Format::Epcis20Xml, EobTrigger::Release),
    ]);
    let assemble = || runtime.block_on(store.assemble_next(builder(&cfg)));
    let Ok(Some(Assembled::Documents {
        trigger: EobTrigger::Close,
        document_ids,
        ..
    })) = assemble()
    else {
        panic!("the close's documents");
    };
    assert_eq!(document_ids.len(), 1);
    assert_eq!(
        assemble().expect("reads"),
        None,
        "nothing more before the release"
    );
    let upstreams =
        |dir: &Path| -> Vec<String> { documents(dir).into_iter().map(|d| d.1).collect() };
    assert_eq!(upstreams(dir.path()), ["mah"]);

    let released = f.release("B1");
    f.run(&runtime, &store);
    let Ok(Some(Assembled::Documents {
        trigger: EobTrigger::Release,
        document_ids,
        ..
    })) = assemble()
    else {
        panic!("the release's documents");
    };
    assert_eq!(document_ids.len(), 1);
    assert_eq!(assemble().expect("reads"), None);
    assert_eq!(upstreams(dir.path()), ["mah", "qa"]);
    let qa = next_delivery(&runtime, &store, "qa");
    let xml = String::from_utf8(qa.body).expect("UTF-8");
    // The product release event stands at the release.
    let at = released.format("%Y-%m-%dT%H:%M:%S").to_string();
    assert!(xml.contains(&at), "no {at} in {xml}");
    let ro = ReadOnlyStore::open(dir.path()).expect("read-only");
    let states: (String, String) = ro
        .conn
        .query_row(
            "SELECT document, release_document FROM batches WHERE batch = 'B1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the batch");
    assert_eq!(states, ("assembled".into(), "assembled".into()));
    drop(store);
    thread.join();
}

#[test]
fn without_a_partner_for_the_moment_the_batch_is_assembled_with_no_document() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    closed_batch(&mut f);
    f.release("B1");
    f.run(&runtime, &store);
    let cfg = config(vec![partner("mah", Format::Epcis12, EobTrigger::Close)]);
    let assemble = || runtime.block_on(store.assemble_next(builder(&cfg)));
    assert!(matches!(
        assemble(),
        Ok(Some(Assembled::Documents { trigger: EobTrigger::Close, ref document_ids, .. })) if document_ids.len() == 1
    ));
    assert!(matches!(
        assemble(),
        Ok(Some(Assembled::Documents { trigger: EobTrigger::Release, ref document_ids, .. })) if document_ids.is_empty()
    ));
    assert_eq!(assemble().expect("reads"), None);
    assert_eq!(outbox_files(dir.path()).len(), 1);
    drop(store);
    thread.join();
}

#[test]
fn a_build_that_fails_parks_the_batch_and_leaves_no_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (runtime, store, thread) = open_store(dir.path());
    let mut f = Feed::new();
    closed_batch(&mut f);
    f.run(&runtime, &store);
    let mut cfg = config(vec![partner("mah", Format::Epcis12, EobTrigger::Close)]);
    cfg.read_points.clear();
    let result = runtime
        .block_on(store.assemble_next(builder(&cfg)))
        .expect("recorded");
    let Some(Assembled::Failed { reason, .. }) = result else {
        panic!("a failure, got {result:?}");
    };
    assert!(reason.contains("no longer configured"), "{reason}");
    assert!(outbox_files(dir.path()).is_empty());
    assert!(documents(dir.path()).is_empty());
    assert_eq!(
        runtime
            .block_on(store.assemble_next(builder(&cfg)))
            .expect("reads"),
        None
    );
    drop(store);
    thread.join();
}

/// The document the forwarder of `upstream` would send first: the head with the lowest seq,
/// its body read from its file.
struct Next {
    document_id: String,
    content_type: String,
    body: Vec<u8>,
}

fn next_delivery(
    runtime: &tokio::runtime::Runtime,
    store: &crate::store::Store,
    upstream: &str,
) -> Next {
    let reader = store.queue_reader().expect("reader");
    let heads = runtime
        .block_on(reader.heads(upstream, true, Default::default()))
        .expect("reads");
    let head = heads.into_iter().min_by_key(|h| h.seq).expect("a delivery");
    let body = runtime
        .block_on(head.outgoing.body.read_all())
        .expect("the body");
    Next {
        document_id: head.outgoing.document_id,
        content_type: head.outgoing.content_type,
        body,
    }
}
