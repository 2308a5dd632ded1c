//! Packing rules through the real broker: one parent per child, no cycles, ended units stay out.
//!
//! A line packs units into cases and cases into pallets with `aggregate`, and takes them out with
//! `disaggregate`. The daemon must refuse, before the ack and with the documented code, a child
//! already packed elsewhere (`in_other_parent`), a pack that would make the hierarchy a cycle
//! (`aggregation_cycle`), packing a destroyed unit (`destroyed`) and sampling a unit that is still
//! packed (`packed`) — and a refused message must change nothing, which `linegate serial show`
//! (state, parents, children, history) shows. The accepted path "unpack, then destroy" must leave
//! the full history of the unit and a case that no longer lists it.

use anyhow::{Result, ensure};

use crate::support::ledger::{
    CASE_GTIN, LineSession, aggregate, batch_open_with, case_code, disaggregate, history_of,
    sscc_code, unit_event,
};
use crate::support::{Daemon, GTIN, Gateway, LINE, code, commission, run_tag, serials, sgtin};

/// A running daemon with one running batch that commissioned `units` unit SGTINs, `cases` case
/// SGTINs and `pallets` SSCCs, all committed.
struct World {
    // Dropped in this order: the line client, the daemon, then broker and upstream.
    line: LineSession,
    _daemon: Daemon,
    gw: Gateway,
    batch: String,
    units: Vec<String>,
    cases: Vec<String>,
    pallets: Vec<String>,
}

async fn world(name: &str, units: usize, cases: usize, pallets: usize) -> Result<World> {
    let gw = Gateway::start(&[]).await?;
    let daemon = gw.daemon().await?;
    let line = LineSession::connect(&gw, name).await?;
    let tag = run_tag();
    let batch = format!("G{tag}");
    let units: Vec<String> = serials(&tag, units).iter().map(|s| code(s)).collect();
    let cases: Vec<String> = (0..cases)
        .map(|n| case_code(&format!("C{tag}{n}")))
        .collect();
    let pallets: Vec<String> = (0..pallets as u32).map(|n| sscc_code(n + 1)).collect();
    line.send(batch_open_with("open", &batch, GTIN, &[CASE_GTIN], None))
        .await?;
    let all: Vec<String> = [&units[..], &cases[..], &pallets[..]].concat();
    line.send(commission("commission", &batch, &all)).await?;
    line.sync().await?;
    Ok(World {
        line,
        _daemon: daemon,
        gw,
        batch,
        units,
        cases,
        pallets,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_packed_in_another_case_is_in_other_parent_and_stays_put() -> Result<()> {
    let w = world("agg-other-parent", 1, 2, 0).await?;
    let (unit, first, second) = (&w.units[0], &w.cases[0], &w.cases[1]);

    w.line
        .send(aggregate("pack-1", first, std::slice::from_ref(unit)))
        .await?;
    w.line
        .send(aggregate("pack-2", second, std::slice::from_ref(unit)))
        .await?;
    // pack-1 was accepted: a refusal of it would be the next notice.
    let n = w.line.expect_reject("pack-2", "in_other_parent").await?;
    ensure!(
        n.reason.contains(unit.as_str()) && n.reason.contains(first.as_str()),
        "the reason should name the child and the case it is in: {n:?}"
    );

    let s = w.gw.serial(unit).await?;
    ensure!(
        s.parents == [first.clone()],
        "the unit must stay in the first case: {s:#?}"
    );
    ensure!(s.state == "commissioned", "{s:#?}");
    let events: Vec<&str> = s.history.iter().map(|h| h.event.as_str()).collect();
    ensure!(events == ["commission", "aggregate"], "history {s:#?}");
    ensure!(s.history[1].message_id == "pack-1", "{s:#?}");
    let c1 = w.gw.serial(first).await?;
    ensure!(c1.children == [unit.clone()], "first case {c1:#?}");
    let c2 = w.gw.serial(second).await?;
    ensure!(c2.children.is_empty(), "second case {c2:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_a_container_into_its_own_content_is_an_aggregation_cycle() -> Result<()> {
    let w = world("agg-cycle", 1, 1, 1).await?;
    let (unit, case, pallet) = (&w.units[0], &w.cases[0], &w.pallets[0]);

    w.line
        .send(aggregate("unit-in-case", case, std::slice::from_ref(unit)))
        .await?;
    w.line
        .send(aggregate(
            "case-on-pallet",
            pallet,
            std::slice::from_ref(case),
        ))
        .await?;
    // The pallet into the case that sits on it.
    w.line
        .send(aggregate(
            "pallet-in-case",
            case,
            std::slice::from_ref(pallet),
        ))
        .await?;
    w.line
        .expect_reject("pallet-in-case", "aggregation_cycle")
        .await?;
    // Two levels up: the pallet into the unit that is in a case on that pallet.
    w.line
        .send(aggregate(
            "pallet-in-unit",
            unit,
            std::slice::from_ref(pallet),
        ))
        .await?;
    w.line
        .expect_reject("pallet-in-unit", "aggregation_cycle")
        .await?;
    // Into itself.
    w.line
        .send(aggregate("case-in-case", case, std::slice::from_ref(case)))
        .await?;
    w.line
        .expect_reject("case-in-case", "aggregation_cycle")
        .await?;

    let p = w.gw.serial(pallet).await?;
    ensure!(
        p.parents.is_empty() && p.children == [case.clone()],
        "pallet {p:#?}"
    );
    let c = w.gw.serial(case).await?;
    ensure!(
        c.parents == [pallet.clone()] && c.children == [unit.clone()],
        "case {c:#?}"
    );
    let u = w.gw.serial(unit).await?;
    ensure!(
        u.parents == [case.clone(), pallet.clone()] && u.children.is_empty(),
        "unit: parents nearest first {u:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_unit_cannot_be_packed() -> Result<()> {
    let w = world("agg-destroyed", 1, 1, 0).await?;
    let (unit, case) = (&w.units[0], &w.cases[0]);

    w.line
        .send(unit_event(
            "destroy",
            "destroy",
            std::slice::from_ref(unit),
            Some("crushed"),
        ))
        .await?;
    w.line
        .send(aggregate("pack", case, std::slice::from_ref(unit)))
        .await?;
    let n = w.line.expect_reject("pack", "destroyed").await?;
    ensure!(n.reason.contains(unit.as_str()), "{n:?}");

    let u = w.gw.serial(unit).await?;
    ensure!(
        u.state == "destroyed" && u.parents.is_empty(),
        "unit {u:#?}"
    );
    ensure!(
        history_of(&u)
            == [
                ("commission".into(), "commissioned".into(), None),
                ("destroy".into(), "destroyed".into(), None),
            ],
        "unit history {u:#?}"
    );
    ensure!(u.history[1].reason.as_deref() == Some("crushed"), "{u:#?}");
    let c = w.gw.serial(case).await?;
    ensure!(c.children.is_empty(), "case {c:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_a_packed_unit_is_refused_as_packed() -> Result<()> {
    let w = world("agg-sample-packed", 1, 1, 0).await?;
    let (unit, case) = (&w.units[0], &w.cases[0]);

    w.line
        .send(aggregate("pack", case, std::slice::from_ref(unit)))
        .await?;
    w.line
        .send(unit_event(
            "sample",
            "sample",
            std::slice::from_ref(unit),
            Some("QA"),
        ))
        .await?;
    let n = w.line.expect_reject("sample", "packed").await?;
    ensure!(n.reason.contains(unit.as_str()), "{n:?}");

    let u = w.gw.serial(unit).await?;
    ensure!(
        u.state == "commissioned" && u.parents == [case.clone()],
        "the unit must stay commissioned and packed: {u:#?}"
    );
    let events: Vec<&str> = u.history.iter().map(|h| h.event.as_str()).collect();
    ensure!(events == ["commission", "aggregate"], "history {u:#?}");
    let c = w.gw.serial(case).await?;
    ensure!(c.children == [unit.clone()], "case {c:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpack_then_destroy_is_accepted_and_recorded() -> Result<()> {
    let w = world("agg-unpack-destroy", 2, 1, 0).await?;
    let (reject, kept, case) = (&w.units[0], &w.units[1], &w.cases[0]);

    w.line
        .send(aggregate("pack", case, &[reject.clone(), kept.clone()]))
        .await?;
    // Destroying it while packed is refused; unpacking first is the way.
    w.line
        .send(unit_event(
            "destroy-packed",
            "destroy",
            std::slice::from_ref(reject),
            Some("camera reject"),
        ))
        .await?;
    w.line.expect_reject("destroy-packed", "packed").await?;
    w.line
        .send(disaggregate(
            "unpack",
            case,
            Some(std::slice::from_ref(reject)),
        ))
        .await?;
    w.line
        .send(unit_event(
            "destroy",
            "destroy",
            std::slice::from_ref(reject),
            Some("camera reject"),
        ))
        .await?;
    w.line.sync().await?;

    let u = w.gw.serial(reject).await?;
    ensure!(
        u.state == "destroyed" && u.parents.is_empty() && u.key == *reject,
        "unit {u:#?}"
    );
    let serial = reject.split("(21)").nth(1).unwrap_or_default();
    ensure!(
        u.batch == w.batch && u.epc == sgtin(serial),
        "unit identity {u:#?}"
    );
    ensure!(
        u.history.windows(2).all(|p| p[0].time <= p[1].time),
        "history out of time order {u:#?}"
    );
    let expected: Vec<(String, String, Option<String>)> = vec![
        ("commission".into(), "commissioned".into(), None),
        (
            "aggregate".into(),
            "commissioned".into(),
            Some(case.clone()),
        ),
        ("disaggregate".into(), "commissioned".into(), None),
        ("destroy".into(), "destroyed".into(), None),
    ];
    ensure!(history_of(&u) == expected, "unit history {u:#?}");
    let ids: Vec<&str> = u.history.iter().map(|h| h.message_id.as_str()).collect();
    ensure!(
        ids == ["commission", "pack", "unpack", "destroy"],
        "history message ids {u:#?}"
    );
    ensure!(
        u.history[3].reason.as_deref() == Some("camera reject")
            && u.history[..3].iter().all(|h| h.reason.is_none()),
        "the destroy reason belongs to the destroy only: {u:#?}"
    );
    ensure!(u.history.iter().all(|h| h.line == LINE), "{u:#?}");

    let c = w.gw.serial(case).await?;
    ensure!(
        c.children == [kept.clone()] && c.state == "commissioned",
        "the case must list only the unit left in it: {c:#?}"
    );
    let k = w.gw.serial(kept).await?;
    ensure!(k.parents == [case.clone()], "the other unit stays: {k:#?}");
    Ok(())
}
