//! Model check: the line rules, as the real store applies them, against a model written from
//! the documentation.
//!
//! The example-based tests pin the cases someone thought of; the serial registry's rules
//! interact (packing depth, cycles, shipping whole hierarchies, all-or-nothing messages, the
//! order in which problems are reported, durability) in more ways than anyone lists. So this
//! test draws random sequences of commission / aggregate / disaggregate / decommission /
//! destroy / sample / ship messages over a pool of eight identifiers (five units, two cases, one
//! pallet), plus crash-restarts of the store, redeliveries of earlier message ids and groups of
//! messages queued together (one group commit), and applies each step both to the real store
//! (SQLite in a temporary directory, the writer thread, the rules inside the transaction) and to
//! the model in `model.rs`: a deliberately naive map identifier → (state, parent), written from
//! `docs/serial-states.md` and `docs/mqtt-protocol-v1.md`, not from `linegate::rules`. After
//! every step the verdicts (applied, or refused with which code) and the whole registry as
//! `linegate serial show` reads it (state, parent chain, children; the newest history row must
//! match) must agree; a restart must change nothing. On disagreement the failure lists every
//! step with the model's verdict, then both registries side by side, for the sequence proptest
//! shrank it to.
//!
//! This file holds the proptest entry and the driver against the real store; the pool, the
//! actions and their strategies are in `actions.rs`, the model in `model.rs`, and the
//! comparison and failure report in `report.rs`.
//!
//! Cost: every message is one committed transaction (an fsync). 48 cases of 1–42 steps (about
//! 1,000 messages, a quarter of the sequences with a restart in the middle and every one with a
//! restart at the end) took 2–9 s in a debug build on the shared 2-core build machine.
//! `PROPTEST_CASES=2000` searches longer (about 5 minutes there).

mod actions;
mod model;
mod report;

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use linegate::gs1::{CompanyPrefixes, parse_code};
use linegate::model::{BatchOpen, CodeRecord, LineEvent, LineMessage, UnitAction};
use linegate::rules::RulesPolicy;
use linegate::store::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store, StoreThread};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use actions::{Action, Id, POOL, scenario};
use model::Model;
use report::{Verdict, View, check, sorted, store_verdict};

const LINE: &str = "L1";
const BATCH: &str = "B1";
const UNIT_GTIN: &str = "00361414567894";
const CASE_GTIN: &str = "50361414567899";

#[test]
fn line_rules_agree_with_a_model_of_the_documentation() {
    let prefixes = CompanyPrefixes::new(vec!["0361414".into()], None).expect("prefixes");
    let records: Vec<CodeRecord> = POOL.iter().map(|(_, t)| record(t, &prefixes)).collect();
    for ((name, text), r) in POOL.iter().zip(&records) {
        assert_eq!(
            r.key, *text,
            "pool code {name} is written in its canonical form"
        );
    }
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        // No regression file beside the test: a failure prints the shrunk sequence instead.
        failure_persistence: None,
        // Failing sequences are short; shrink them all the way (a few seconds).
        max_shrink_iters: 1024,
        ..Config::default()
    });
    let started = Instant::now();
    // Half the cases run with recommissioning allowed (a partner that accepts it).
    let strategy = (proptest::bool::ANY, scenario());
    let result = runner.run(&strategy, |(recommission, actions)| {
        run_case(&records, recommission, &actions)
    });
    match result {
        Ok(()) => eprintln!(
            "model_check: {cases} cases agreed in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(TestError::Fail(why, (recommission, actions))) => panic!(
            "{why}\n\nminimal sequence ({} steps, recommissioning allowed: {recommission}): {actions:?}",
            actions.len()
        ),
        Err(TestError::Abort(why)) => panic!("model check aborted: {why}"),
    }
}

fn record(text: &str, prefixes: &CompanyPrefixes) -> CodeRecord {
    // As src/protocol.rs `code` builds it from a code on the wire.
    let code = parse_code(text, Utc::now().date_naive()).expect("pool code parses");
    let epc = prefixes.epc_uri(&code).expect("pool code has an EPC URI");
    CodeRecord {
        key: code.id.key(),
        epc,
        gtin: code.id.gtin().map(|g| g.as_str().to_string()),
        lot: None,
        expiry: None,
    }
}

struct Harness {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    store: Option<(Store, StoreThread)>,
    policy: RulesPolicy,
    records: Vec<CodeRecord>,
    /// Every line message sent, with the model's verdict for it.
    sent: Vec<(LineMessage, Verdict)>,
}

impl Harness {
    fn new(records: Vec<CodeRecord>, policy: RulesPolicy) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = Some(Store::open(dir.path(), policy.clone()).expect("store opens"));
        Harness {
            dir,
            rt,
            store,
            policy,
            records,
            sent: Vec::new(),
        }
    }

    fn restart(&mut self) {
        let (store, thread) = self.store.take().expect("store is open");
        drop(store);
        thread.join();
        self.store =
            Some(Store::open(self.dir.path(), self.policy.clone()).expect("store reopens"));
    }

    fn store(&self) -> &Store {
        &self.store.as_ref().expect("store is open").0
    }

    fn ingest(&self, msg: LineMessage) -> IngestOutcome {
        self.rt
            .block_on(self.store().ingest(item(msg)))
            .expect("the store commits")
    }

    /// Queues every message before waiting for any answer, so the writer usually applies them
    /// in one group transaction (each judged against the ones before it, uncommitted).
    fn ingest_group(&self, msgs: Vec<LineMessage>) -> Vec<IngestOutcome> {
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for msg in msgs {
                let queued = self.store().submit_ingest(item(msg)).await;
                pending.push(queued.expect("the store takes it"));
            }
            let mut outcomes = Vec::new();
            for mut p in pending {
                outcomes.push(p.wait().await.expect("the store commits"));
            }
            outcomes
        })
    }

    fn message(&self, event: LineEvent) -> LineMessage {
        LineMessage {
            line: LINE.into(),
            message_id: format!("m{}", self.sent.len()),
            time: Utc::now(),
            event,
        }
    }

    fn codes(&self, ids: &[Id]) -> Vec<CodeRecord> {
        ids.iter().map(|id| self.records[id.0].clone()).collect()
    }

    fn event(&self, action: &Action) -> LineEvent {
        let units = |action, ids: &[Id]| LineEvent::Units {
            action,
            codes: self.codes(ids),
            reason: None,
        };
        match action {
            Action::Commission(ids) => LineEvent::Commission {
                batch: BATCH.into(),
                codes: self.codes(ids),
            },
            Action::Aggregate(p, c) => LineEvent::Aggregate {
                parent: self.records[p.0].clone(),
                children: self.codes(c),
            },
            Action::Disaggregate(p, c) => LineEvent::Disaggregate {
                parent: self.records[p.0].clone(),
                children: c.as_deref().map(|c| self.codes(c)),
            },
            Action::Decommission(ids) => units(UnitAction::Decommission, ids),
            Action::Destroy(ids) => units(UnitAction::Destroy, ids),
            Action::Sample(ids) => units(UnitAction::Sample, ids),
            Action::Correct(ids) => units(UnitAction::CorrectStatus, ids),
            Action::Ship(ids) => units(UnitAction::Ship, ids),
            Action::Restart | Action::Redeliver(_) | Action::Group(_) => {
                unreachable!("not one line message")
            }
        }
    }

    /// The registry through a fresh read-only connection, as `linegate serial show` reads it.
    fn view(&self) -> Result<Vec<Option<View>>, String> {
        let ro = ReadOnlyStore::open(self.dir.path()).map_err(|e| e.to_string())?;
        POOL.iter()
            .map(|(_, k)| {
                let Some(d) = ro.serial(k).map_err(|e| format!("serial {k}: {e}"))? else {
                    return Ok(None);
                };
                // The store's own consistency: the newest history row is the current state.
                let last = d.history.last().map(|r| (&r.state, r.parent.as_ref()));
                if last != Some((&d.state, d.parents.first())) {
                    return Err(format!(
                        "serial {k} is {} in {:?} but its history ends with {last:?}",
                        d.state,
                        d.parents.first()
                    ));
                }
                Ok(Some(View {
                    state: d.state,
                    parents: d.parents,
                    children: sorted(d.children),
                }))
            })
            .collect()
    }
}

impl Drop for Harness {
    /// Stops the writer before the temporary directory goes, on every path out of a case.
    fn drop(&mut self) {
        if let Some((store, thread)) = self.store.take() {
            drop(store);
            thread.join();
        }
    }
}

fn item(msg: LineMessage) -> IngestItem {
    IngestItem {
        topic: "t".into(),
        line: Some(LINE.into()),
        received_at: Utc::now(),
        payload: vec![],
        decoded: Decoded::Accepted(msg),
    }
}

fn open_batch(h: &mut Harness) {
    let msg = h.message(LineEvent::BatchOpen(BatchOpen {
        batch: BATCH.into(),
        gtin: UNIT_GTIN.into(),
        pack_gtins: vec![CASE_GTIN.into()],
        lot: "LOT1".into(),
        expiry: NaiveDate::from_ymd_opt(2028, 6, 30).expect("date"),
        work_order: None,
        planned_quantity: None,
    }));
    let outcome = h.ingest(msg.clone());
    assert_eq!(outcome, IngestOutcome::Applied, "batch_open");
    h.sent.push((msg, Verdict::Applied));
}

/// One line message ready to send, with the model's verdict and a label for the log.
struct Prepared {
    msg: LineMessage,
    expected: Verdict,
    label: String,
}

/// A new message (judged by the model now, in sending order) or a redelivered one.
fn prepare(h: &mut Harness, model: &mut Model, action: &Action) -> Prepared {
    if let Action::Redeliver(back) = action {
        let (msg, first) = h.sent[h.sent.len() - 1 - back % h.sent.len()].clone();
        let expected = Verdict::Duplicate(match first {
            Verdict::Rejected(code) => Some(code.to_string()),
            _ => None,
        });
        let label = format!("{action:?} = {} {}", msg.message_id, msg.event.kind());
        return Prepared {
            msg,
            expected,
            label,
        };
    }
    let msg = h.message(h.event(action));
    let expected = match model.apply(action) {
        Ok(()) => Verdict::Applied,
        Err(code) => Verdict::Rejected(code),
    };
    h.sent.push((msg.clone(), expected.clone()));
    let label = format!("{} {action:?}", msg.message_id);
    Prepared {
        msg,
        expected,
        label,
    }
}

/// Runs one sequence; Err describes the first disagreement.
fn run_case(
    records: &[CodeRecord],
    recommission: bool,
    actions: &[Action],
) -> Result<(), TestCaseError> {
    let policy = RulesPolicy {
        allow_recommission: recommission,
        ..RulesPolicy::default()
    };
    let mut h = Harness::new(records.to_vec(), policy);
    open_batch(&mut h);
    let mut model = Model::default();
    model.recommission = recommission;
    let mut log: Vec<String> = Vec::new();
    // One more restart after the last step: what was committed must all come back.
    let steps = actions.iter().chain(std::iter::once(&Action::Restart));
    for (i, action) in steps.enumerate() {
        let results = match action {
            Action::Restart => {
                h.restart();
                log.push(format!("{i:>3}: Restart"));
                Vec::new()
            }
            Action::Group(members) => {
                let prepared: Vec<Prepared> = members
                    .iter()
                    .map(|a| prepare(&mut h, &mut model, a))
                    .collect();
                let outcomes = h.ingest_group(prepared.iter().map(|p| p.msg.clone()).collect());
                log.push(format!("{i:>3}: Group, submitted together:"));
                prepared
                    .into_iter()
                    .zip(outcomes)
                    .map(|(p, outcome)| {
                        log.push(format!("       {} → {}", p.label, p.expected));
                        (p.label, p.expected, store_verdict(&outcome))
                    })
                    .collect()
            }
            _ => {
                let p = prepare(&mut h, &mut model, action);
                let outcome = h.ingest(p.msg.clone());
                log.push(format!("{i:>3}: {} → {}", p.label, p.expected));
                vec![(p.label, p.expected, store_verdict(&outcome))]
            }
        };
        check(&h, &model, &log, i, &results)?;
    }
    Ok(())
}
