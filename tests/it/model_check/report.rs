//! Comparing the model with the store, and the report printed when they disagree.
//!
//! Both sides are reduced to what `linegate serial show` prints per identifier (state, parent
//! chain, children) and to verdict strings (applied, rejected with a code, duplicate), so a
//! disagreement is a plain inequality. The failure message lists every step with the model's
//! verdict, then both registries side by side with the differing rows marked, in pool names
//! rather than full keys so a shrunk sequence reads at a glance.

use std::fmt;

use linegate::store::IngestOutcome;
use proptest::test_runner::TestCaseError;

use super::Harness;
use super::actions::POOL;
use super::model::Model;

pub(super) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// One identifier: state, parent chain (nearest first), children (sorted).
#[derive(Clone, PartialEq, Eq)]
pub(super) struct View {
    pub(super) state: String,
    pub(super) parents: Vec<String>,
    pub(super) children: Vec<String>,
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
pub(super) enum Verdict {
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
pub(super) fn store_verdict(outcome: &IngestOutcome) -> (String, String) {
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

/// Compares the verdicts of step `i` and then the whole registry.
pub(super) fn check(
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
