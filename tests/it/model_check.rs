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
//! `Model` below: a deliberately naive map identifier → (state, parent), written from
//! `docs/serial-states.md` and `docs/mqtt-protocol-v1.md`, not from `linegate::rules`. After
//! every step the verdicts (applied, or refused with which code) and the whole registry as
//! `linegate serial show` reads it (state, parent chain, children; the newest history row must
//! match) must agree; a restart must change nothing. On disagreement the failure lists every
//! step with the model's verdict, then both registries side by side, for the sequence proptest
//! shrank it to.
//!
//! Cost: every message is one committed transaction (an fsync). 48 cases of 1–42 steps (about
//! 1,000 messages, a quarter of the sequences with a restart in the middle and every one with a
//! restart at the end) took 2–9 s in a debug build on the shared 2-core build machine.
//! `PROPTEST_CASES=2000` searches longer (about 5 minutes there).

use std::fmt;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use linegate::gs1::{CompanyPrefixes, parse_code};
use linegate::model::{BatchOpen, CodeRecord, LineEvent, LineMessage, UnitAction};
use linegate::rules::RulesPolicy;
use linegate::store::{Decoded, IngestItem, IngestOutcome, ReadOnlyStore, Store, StoreThread};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

const LINE: &str = "L1";
const BATCH: &str = "B1";
const UNIT_GTIN: &str = "00361414567894";
const CASE_GTIN: &str = "50361414567899";

/// The pool: five units, two cases (of the batch's pack GTIN), one pallet (SSCC).
const POOL: [(&str, &str); 8] = [
    ("U1", "(01)00361414567894(21)U1"),
    ("U2", "(01)00361414567894(21)U2"),
    ("U3", "(01)00361414567894(21)U3"),
    ("U4", "(01)00361414567894(21)U4"),
    ("U5", "(01)00361414567894(21)U5"),
    ("C1", "(01)50361414567899(21)C1"),
    ("C2", "(01)50361414567899(21)C2"),
    ("P1", "(00)003614145000000013"),
];
const CASES: [usize; 2] = [5, 6];
const PALLET: usize = 7;

/// An identifier of the pool, by index; printed by its short name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Id(usize);

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(POOL[self.0].0)
    }
}

fn all_ids() -> Vec<Id> {
    (0..POOL.len()).map(Id).collect()
}

#[derive(Clone, Debug)]
enum Action {
    Commission(Vec<Id>),
    Aggregate(Id, Vec<Id>),
    Disaggregate(Id, Option<Vec<Id>>),
    Decommission(Vec<Id>),
    Destroy(Vec<Id>),
    Sample(Vec<Id>),
    Ship(Vec<Id>),
    /// Drop the store handle, join the writer, open the same directory again.
    Restart,
    /// Send again the message sent `n` messages before the latest one, with its id.
    Redeliver(usize),
    /// 2–4 of the above submitted at once (never `Restart` or `Group`).
    Group(Vec<Action>),
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// Serial states, docs/serial-states.md.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Commissioned,
    Sampled,
    Decommissioned,
    Destroyed,
    Shipped,
}

impl St {
    fn as_str(self) -> &'static str {
        match self {
            St::Commissioned => "commissioned",
            St::Sampled => "sampled",
            St::Decommissioned => "decommissioned",
            St::Destroyed => "destroyed",
            St::Shipped => "shipped",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    state: St,
    parent: Option<Id>,
}

/// What the line rules say, from the documentation: every identifier's state and parent.
/// Batch B1 stays open/running throughout, so the batch rules never decide anything here.
#[derive(Clone, Default)]
struct Model {
    serials: [Option<Entry>; POOL.len()],
}

/// The writes of an accepted message, or the refusal code.
type Judged = Result<Vec<(Id, Entry)>, &'static str>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Decommission,
    Destroy,
    Sample,
    Ship,
}

impl Model {
    fn get(&self, id: Id) -> Option<Entry> {
        self.serials[id.0]
    }

    fn children(&self, id: Id) -> Vec<Id> {
        all_ids()
            .into_iter()
            .filter(|c| self.get(*c).and_then(|e| e.parent) == Some(id))
            .collect()
    }

    /// Parent, grandparent, … (nearest first).
    fn ancestors(&self, id: Id) -> Vec<Id> {
        let mut out = Vec::new();
        let mut up = self.get(id).and_then(|e| e.parent);
        while let Some(p) = up {
            assert!(!out.contains(&p), "model: {id:?} sits in a cycle");
            out.push(p);
            up = self.get(p).and_then(|e| e.parent);
        }
        out
    }

    fn descendants(&self, id: Id) -> Vec<Id> {
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(k) = stack.pop() {
            for c in self.children(k) {
                out.push(c);
                stack.push(c);
            }
        }
        out
    }

    /// Applies a message whole or not at all; the verdict is judged on the state before it.
    fn apply(&mut self, action: &Action) -> Result<(), &'static str> {
        let writes = self.judge(action)?;
        for (id, entry) in writes {
            self.serials[id.0] = Some(entry);
        }
        Ok(())
    }

    fn judge(&self, action: &Action) -> Judged {
        match action {
            Action::Commission(codes) => self.commission(codes),
            Action::Aggregate(parent, children) => self.aggregate(*parent, children),
            Action::Disaggregate(parent, children) => {
                self.disaggregate(*parent, children.as_deref())
            }
            Action::Decommission(codes) => self.units(Unit::Decommission, codes),
            Action::Destroy(codes) => self.units(Unit::Destroy, codes),
            Action::Sample(codes) => self.units(Unit::Sample, codes),
            Action::Ship(codes) => self.units(Unit::Ship, codes),
            Action::Restart | Action::Redeliver(_) | Action::Group(_) => {
                unreachable!("not one line message")
            }
        }
    }

    /// Precedence inside a message (the docs only say a message is judged whole): identifiers
    /// are judged in message order, and an identifier listed a second time is refused at that
    /// position (`duplicate_code` / `repeated_child`) before its own state is looked at. Settled
    /// from src/rules/commission.rs, units.rs and aggregation.rs (`each_child`): an earlier
    /// identifier's refusal wins over a later repetition.
    fn commission(&self, codes: &[Id]) -> Judged {
        let mut writes = Vec::new();
        for (i, &c) in codes.iter().enumerate() {
            if codes[..i].contains(&c) {
                return Err("duplicate_code");
            }
            match self.get(c) {
                None => writes.push((
                    c,
                    Entry {
                        state: St::Commissioned,
                        parent: None,
                    },
                )),
                // Same batch, same data: a repeated read (packed or holding children alike).
                Some(e) if e.state == St::Commissioned => return Err("duplicate_scan"),
                Some(e) if e.state == St::Destroyed => return Err("destroyed"),
                // Recommissioning is off by default (RulesPolicy::default()).
                Some(_) => return Err("invalid_transition"),
            }
        }
        Ok(writes)
    }

    /// "The parent and every child must be commissioned, active …; a child sits in at most one
    /// parent (`in_other_parent`); nothing is packed into itself or into its own content
    /// (`aggregation_cycle`)." Parent first, then each child: repeated, cycle, packed elsewhere,
    /// already here, then the table's `pack` column.
    fn aggregate(&self, parent: Id, children: &[Id]) -> Judged {
        match self.get(parent) {
            None => return Err("not_commissioned"),
            // The table refuses every event on a destroyed serial with `destroyed`, and so does
            // `disaggregate` for its parent (aggregation.rs `check_unpack`).
            Some(e) if e.state == St::Destroyed => return Err("destroyed"),
            Some(e) if e.state != St::Commissioned => return Err("invalid_transition"),
            Some(_) => {}
        }
        let ancestors = self.ancestors(parent);
        let mut writes = Vec::new();
        for (i, &c) in children.iter().enumerate() {
            if children[..i].contains(&c) {
                return Err("repeated_child");
            }
            if c == parent || ancestors.contains(&c) {
                return Err("aggregation_cycle");
            }
            let entry = self.get(c);
            match entry.and_then(|e| e.parent) {
                Some(p) if p == parent => return Err("already_in_parent"),
                Some(_) => return Err("in_other_parent"),
                None => {}
            }
            // The `pack` column: a loose commissioned unit (holding children or not) is packed.
            match entry.map(|e| e.state) {
                None => return Err("not_commissioned"),
                Some(St::Commissioned) => {}
                Some(St::Destroyed) => return Err("destroyed"),
                Some(_) => return Err("invalid_transition"),
            }
            writes.push((
                c,
                Entry {
                    state: St::Commissioned,
                    parent: Some(parent),
                },
            ));
        }
        Ok(writes)
    }

    /// The docs give no rule for the parent of a `disaggregate`; settled from aggregation.rs
    /// (`check_unpack`): it must be known and not destroyed, any other state will do, and
    /// "unpack all" of an empty parent is an accepted no-op. Each child follows the table's
    /// `unpack` column and the refusal codes' meanings: never commissioned → `not_commissioned`,
    /// destroyed → `destroyed`, in no parent → `not_packed` ("unpacking a unit that is in no
    /// parent"), in another parent → `not_in_parent`; a packed child that is not commissioned
    /// (shipped with its container — a row the table does not have) → `invalid_transition`, as
    /// src/rules/serial.rs `transition` decides.
    fn disaggregate(&self, parent: Id, children: Option<&[Id]>) -> Judged {
        match self.get(parent) {
            None => return Err("not_commissioned"),
            Some(e) if e.state == St::Destroyed => return Err("destroyed"),
            Some(_) => {}
        }
        let list = match children {
            Some(list) => list.to_vec(),
            None => self.children(parent),
        };
        let mut writes = Vec::new();
        for (i, &c) in list.iter().enumerate() {
            if list[..i].contains(&c) {
                return Err("repeated_child");
            }
            let Some(e) = self.get(c) else {
                return Err("not_commissioned");
            };
            if e.state == St::Destroyed {
                return Err("destroyed");
            }
            match e.parent {
                None => return Err("not_packed"),
                Some(p) if p != parent => return Err("not_in_parent"),
                Some(_) => {}
            }
            if e.state != St::Commissioned {
                return Err("invalid_transition");
            }
            writes.push((
                c,
                Entry {
                    state: e.state,
                    parent: None,
                },
            ));
        }
        Ok(writes)
    }

    /// The table's sample / decommission / destroy / ship columns. Sample, decommission and
    /// destroy need a loose, empty unit; ship needs a top-level commissioned unit and takes
    /// everything inside it along (descendants keep their parent and become shipped). Where the
    /// table has no row for a combination (packed *and* holding children, or shipped and packed)
    /// the state is checked first, then `packed`, then `has_children` — src/rules/serial.rs.
    fn units(&self, unit: Unit, codes: &[Id]) -> Judged {
        let (allowed, next): (&[St], St) = match unit {
            Unit::Sample => (&[St::Commissioned], St::Sampled),
            Unit::Decommission => (&[St::Commissioned, St::Sampled], St::Decommissioned),
            Unit::Destroy => (
                &[St::Commissioned, St::Sampled, St::Decommissioned],
                St::Destroyed,
            ),
            Unit::Ship => (&[St::Commissioned], St::Shipped),
        };
        let mut writes = Vec::new();
        for (i, &c) in codes.iter().enumerate() {
            if codes[..i].contains(&c) {
                return Err("duplicate_code");
            }
            let Some(e) = self.get(c) else {
                return Err("not_commissioned");
            };
            if e.state == St::Destroyed {
                return Err("destroyed");
            }
            if !allowed.contains(&e.state) {
                return Err("invalid_transition");
            }
            if e.parent.is_some() {
                return Err("packed");
            }
            if unit != Unit::Ship && !self.children(c).is_empty() {
                return Err("has_children");
            }
            writes.push((
                c,
                Entry {
                    state: next,
                    parent: None,
                },
            ));
            if unit == Unit::Ship {
                for d in self.descendants(c) {
                    let parent = self.get(d).and_then(|e| e.parent);
                    writes.push((
                        d,
                        Entry {
                            state: St::Shipped,
                            parent,
                        },
                    ));
                }
            }
        }
        Ok(writes)
    }

    /// The registry as `linegate serial show` would show it, per pool identifier.
    fn view(&self) -> Vec<Option<View>> {
        all_ids()
            .into_iter()
            .map(|id| {
                self.get(id).map(|e| View {
                    state: e.state.as_str().to_string(),
                    parents: self.ancestors(id).iter().map(|p| key(*p)).collect(),
                    children: sorted(self.children(id).iter().map(|c| key(*c)).collect()),
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

fn key(id: Id) -> String {
    POOL[id.0].1.to_string()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// One identifier: state, parent chain (nearest first), children (sorted).
#[derive(Clone, PartialEq, Eq)]
struct View {
    state: String,
    parents: Vec<String>,
    children: Vec<String>,
}

/// A key printed as its pool name.
fn short(key: &str) -> String {
    POOL.iter()
        .find(|(_, k)| *k == key)
        .map_or_else(|| key.to_string(), |(n, _)| n.to_string())
}

fn describe(v: &Option<View>) -> String {
    match v {
        None => "-".into(),
        Some(v) => {
            let mut s = v.state.clone();
            if !v.parents.is_empty() {
                let chain: Vec<String> = v.parents.iter().map(|p| short(p)).collect();
                s.push_str(&format!(" in {}", chain.join(" < ")));
            }
            if !v.children.is_empty() {
                let kids: Vec<String> = v.children.iter().map(|c| short(c)).collect();
                s.push_str(&format!(" holds {}", kids.join(",")));
            }
            s
        }
    }
}

fn table(model: &[Option<View>], store: &[Option<View>]) -> String {
    let mut out = format!("  {:<4}{:<45}{}\n", "id", "model", "store");
    for (i, (m, s)) in model.iter().zip(store).enumerate() {
        let mark = if m == s { " " } else { "*" };
        out.push_str(&format!(
            "{mark} {:<4}{:<45}{}\n",
            POOL[i].0,
            describe(m),
            describe(s)
        ));
    }
    out
}

/// A verdict as the test compares it: codes only (the store's reasons are printed on failure).
#[derive(Clone, PartialEq, Eq, Debug)]
enum Verdict {
    Applied,
    Rejected(&'static str),
    /// A redelivered id: nothing applied; the first verdict repeated (None: it was applied).
    Duplicate(Option<String>),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Applied => f.write_str("applied"),
            Verdict::Rejected(code) => write!(f, "rejected {code}"),
            Verdict::Duplicate(None) => f.write_str("duplicate of an applied message"),
            Verdict::Duplicate(Some(code)) => write!(f, "duplicate of a message rejected {code}"),
        }
    }
}

/// What the store answered, comparable with a model verdict.
fn store_verdict(outcome: &IngestOutcome) -> (String, String) {
    match outcome {
        IngestOutcome::Applied => ("applied".into(), String::new()),
        IngestOutcome::Rejected(r) => (format!("rejected {}", r.code.as_str()), r.reason.clone()),
        IngestOutcome::Duplicate { earlier: None } => {
            ("duplicate of an applied message".into(), String::new())
        }
        IngestOutcome::Duplicate { earlier: Some(r) } => (
            format!("duplicate of a message rejected {}", r.code.as_str()),
            r.reason.clone(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The real store
// ---------------------------------------------------------------------------------------------

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
    records: Vec<CodeRecord>,
    /// Every line message sent, with the model's verdict for it.
    sent: Vec<(LineMessage, Verdict)>,
}

impl Harness {
    fn new(records: Vec<CodeRecord>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = Some(Store::open(dir.path(), RulesPolicy::default()).expect("store opens"));
        Harness {
            dir,
            rt,
            store,
            records,
            sent: Vec::new(),
        }
    }

    fn restart(&mut self) {
        let (store, thread) = self.store.take().expect("store is open");
        drop(store);
        thread.join();
        self.store =
            Some(Store::open(self.dir.path(), RulesPolicy::default()).expect("store reopens"));
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
fn run_case(records: &[CodeRecord], actions: &[Action]) -> Result<(), TestCaseError> {
    let mut h = Harness::new(records.to_vec());
    open_batch(&mut h);
    let mut model = Model::default();
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

/// Compares the verdicts of step `i` and then the whole registry.
fn check(
    h: &Harness,
    model: &Model,
    log: &[String],
    i: usize,
    results: &[(String, Verdict, (String, String))],
) -> Result<(), TestCaseError> {
    let mine = model.view();
    let theirs = h
        .view()
        .map_err(|e| TestCaseError::fail(format!("after step {i}: {e}\n{}", log.join("\n"))))?;
    let mut problems = String::new();
    for (label, expected, (got, reason)) in results {
        if expected.to_string() != *got {
            problems.push_str(&format!(
                "  {label}\n    model: {expected}\n    store: {got}{}\n",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({reason})")
                }
            ));
        }
    }
    if problems.is_empty() && mine == theirs {
        return Ok(());
    }
    if problems.is_empty() {
        problems.push_str("  verdicts agree; the registries do not\n");
    }
    Err(TestCaseError::fail(format!(
        "model and store disagree at step {i}:\n{problems}\
         steps (with the model's verdicts):\n{}\n\
         registry after step {i} (* = differs):\n{}",
        log.join("\n"),
        table(&mine, &theirs)
    )))
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// 1–3 distinct identifiers in random order; one in ten lists one of them a second time.
fn subset() -> impl Strategy<Value = Vec<Id>> {
    (
        proptest::sample::subsequence(all_ids(), 1..=3).prop_shuffle(),
        proptest::bool::weighted(0.1),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(mut ids, repeat, at)| {
            if repeat {
                let again = ids[at.index(ids.len())];
                ids.push(again);
            }
            ids
        })
}

/// Parents are mostly cases and the pallet, sometimes anything (units, to reach odd cases).
fn parent() -> impl Strategy<Value = Id> {
    prop_oneof![
        3 => proptest::sample::select(CASES.to_vec()).prop_map(Id),
        2 => Just(Id(PALLET)),
        2 => (0..POOL.len()).prop_map(Id),
    ]
}

/// One line message: new, or a redelivery of a recent one.
fn line_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => subset().prop_map(Action::Commission),
        6 => (parent(), subset()).prop_map(|(p, c)| Action::Aggregate(p, c)),
        3 => (parent(), proptest::option::weighted(0.6, subset()))
            .prop_map(|(p, c)| Action::Disaggregate(p, c)),
        1 => subset().prop_map(Action::Decommission),
        1 => subset().prop_map(Action::Destroy),
        1 => subset().prop_map(Action::Sample),
        1 => subset().prop_map(Action::Ship),
        1 => (0..4usize).prop_map(Action::Redeliver),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        16 => line_action(),
        1 => Just(Action::Restart),
        2 => proptest::collection::vec(line_action(), 2..=4).prop_map(Action::Group),
    ]
}

/// Seven sequences in ten start by commissioning the whole pool, so most steps do something.
fn scenario() -> impl Strategy<Value = Vec<Action>> {
    (
        proptest::bool::weighted(0.7),
        proptest::collection::vec(action(), 1..=40),
    )
        .prop_map(|(whole_pool, mut actions)| {
            if whole_pool {
                actions.insert(0, Action::Commission(all_ids()));
            }
            actions
        })
}

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
    let result = runner.run(&scenario(), |actions| run_case(&records, &actions));
    match result {
        Ok(()) => eprintln!(
            "model_check: {cases} cases agreed in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
        Err(TestError::Fail(why, actions)) => panic!(
            "{why}\n\nminimal sequence ({} steps): {actions:?}",
            actions.len()
        ),
        Err(TestError::Abort(why)) => panic!("model check aborted: {why}"),
    }
}
