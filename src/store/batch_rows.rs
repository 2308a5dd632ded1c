//! `assemble::rows::BatchRows` over SQLite: what the End of Batch (and `linegate export`) reads
//! about one batch, streamed from one read transaction of a read-only connection.
//!
//! Everything comes from the same snapshot (`ReadOnlyStore::batch_rows` opens the transaction,
//! `SqliteBatchRows` holds it), so the commission, aggregation and release events of one
//! document agree with each other even while the writer goes on. Unit rows are visited straight
//! from the statement's cursor and never collected: a batch of a million units is read in the
//! memory of one row.
//!
//! ## Packaging levels
//! * an SGTIN of the batch's GTIN (key `(01)<gtin>(21)…`) is `Each`;
//! * an SGTIN of another GTIN (a case or bundle GTIN) is `Case`;
//! * an SSCC is `Pallet` when it holds (now) at least one container — an identifier that itself
//!   holds something — and `Case` otherwise (a shipper case, or an empty pallet label).
//!
//! ## One pass over the batch
//! Containers are few (a million units make 10,000 cases and 250 pallets), units are many. The
//! first pass over the batch's rows (the `Each` commission rows, or a pass of its own when
//! something else is asked first) keeps what every later call needs, in memory proportional to
//! the containers, not the units: the batch's non-unit identifiers, per parent how many of the
//! batch's identifiers it holds, the id ranges where live identifiers without a parent are, and
//! the ids of the units taken out. From that, and from a few indexed queries per container,
//! `Shape` knows every container of the batch, its level and its height (0: holds no
//! container; a pallet of cases: 1), which orders `containers()` innermost first. An identifier
//! packed in a container of another batch (a mixed pallet) counts as top level here, as does
//! one whose container holds only identifiers of other batches; the exact child counts come
//! from the `serials_by_parent` index, so neither is missed.
//!
//! ## Cost per call
//! * `units(Each)`: one pass over the batch's rows in `serials` (index `serials_by_batch`, rows
//!   in id order, so the table is read sequentially) — the only full pass;
//! * `units(Case | Pallet)`: from memory;
//! * `containers()`: one `serial_history` probe per container (its latest `aggregate`);
//! * `children(c)`: a range of `serials_by_parent`;
//! * `top_level`: range queries over the noted runs of loose identifiers (a pallet's id, or one
//!   range over a batch that packed nothing), plus the few packed in other batches' containers;
//! * `ends`: the history of the units taken out, looked up by id.
//!
//! ## Units taken out (`ends`)
//! A unit is reported as taken out when its state now is decommissioned, destroyed or sampled;
//! each `decommission`, `destroy` or `sample` event in its history since its latest
//! `commission` or `correct_status` is one row. A sample corrected back to commissioned (the
//! line recorded it by mistake) is therefore not reported as ended, nor is a unit commissioned
//! again after a decommission. The rows are ordered by SQLite's sorter (bounded memory).
//!
//! EPC URIs are stored as linegate rendered them at ingest (from validated codes) and are
//! wrapped without parsing them again: a million re-parses would cost more than the read.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use super::outbox::parse_ts;
use super::read::ReadOnlyStore;
use crate::assemble::rows::{
    AssembleError, BatchInfo, BatchRows, ContainerRow, EndKind, EndRow, UnitRow, Visit,
};
use crate::epcis::PackagingLevel;
use crate::gs1::EpcUri;
use crate::rules::SerialState;

impl From<rusqlite::Error> for AssembleError {
    fn from(e: rusqlite::Error) -> Self {
        AssembleError::Read(e.to_string())
    }
}

impl From<StoreError> for AssembleError {
    fn from(e: StoreError) -> Self {
        AssembleError::Read(e.to_string())
    }
}

impl ReadOnlyStore {
    /// The rows of `batch` from one snapshot, or None when there is no such batch. The
    /// snapshot (a read transaction) lives as long as the returned value.
    pub fn batch_rows(&mut self, batch: &str) -> Result<Option<SqliteBatchRows<'_>>, StoreError> {
        let tx = self.conn.transaction()?;
        SqliteBatchRows::open(tx, batch)
    }
}

/// One batch, read through one read transaction.
pub struct SqliteBatchRows<'c> {
    tx: Transaction<'c>,
    info: BatchInfo,
    /// `(01)<gtin>(21)`: the key prefix of the batch's saleable units.
    unit_prefix: String,
    shape: Option<Shape>,
}

/// The batch's packaging, worked out once (see the module documentation).
struct Shape {
    /// The batch's identifiers that are not saleable units, in id order, levels final.
    packs: Vec<UnitRow>,
    /// Those containers innermost first (id, EPC, level, commissioned), without `packed_at`.
    order: Vec<(i64, EpcUri, PackagingLevel, DateTime<Utc>)>,
    /// `containers()` once asked.
    containers: Option<Vec<ContainerRow>>,
    /// Id ranges holding the batch's live identifiers without a parent (and others).
    loose: Vec<(i64, i64)>,
    /// Parents of the batch's identifiers that are identifiers of other batches.
    foreign_parents: Vec<i64>,
    /// The units taken out now.
    out: Vec<i64>,
}

/// What the first pass keeps.
#[derive(Default)]
struct Collect {
    packs: Vec<UnitRow>,
    /// Parent id → how many of the batch's identifiers it holds.
    held: HashMap<i64, u64>,
    /// The parent of the latest rows and how many of them in a row: a case's units are mostly
    /// adjacent, so the map is touched once per run, not per unit.
    run: Option<(i64, u64)>,
    /// Live identifiers without a parent, as runs `(first id, last id, position of the last)`
    /// over the batch's rows (see `LOOSE_GAP`).
    loose: Vec<(i64, i64, u64)>,
    /// Units taken out now (decommissioned, destroyed, sampled).
    out: Vec<i64>,
    /// Rows seen.
    pos: u64,
}

/// Loose identifiers at most this many batch rows apart share a run: `top_level` reads a run
/// with one range query, so a batch with many scattered loose units costs at most about one
/// more pass, not a query per unit.
const LOOSE_GAP: u64 = 64;

/// A container while its level and height are worked out.
struct Node {
    id: i64,
    epc: EpcUri,
    level: PackagingLevel,
    sscc: bool,
    parent: Option<i64>,
    /// It holds a container of another batch.
    foreign_container: bool,
    height: u32,
    commissioned_at: DateTime<Utc>,
}

/// Parses a stored time, remembering the last one: consecutive rows mostly share it.
#[derive(Default)]
struct TimeCache {
    text: String,
    time: Option<DateTime<Utc>>,
}

impl TimeCache {
    fn parse(&mut self, s: &str, what: &str) -> Result<DateTime<Utc>, AssembleError> {
        self.parse_bytes(s.as_bytes(), what)
    }

    /// The same from the column's bytes: a repeated time is not even checked as UTF-8.
    fn parse_bytes(&mut self, b: &[u8], what: &str) -> Result<DateTime<Utc>, AssembleError> {
        if let Some(t) = self.time
            && self.text.as_bytes() == b
        {
            return Ok(t);
        }
        let s = std::str::from_utf8(b)
            .map_err(|_| AssembleError::Read(format!("unreadable {what} in the store")))?;
        let t = parse_ts(s)
            .ok_or_else(|| AssembleError::Read(format!("unreadable {what} {s:?} in the store")))?;
        self.text.clear();
        self.text.push_str(s);
        self.time = Some(t);
        Ok(t)
    }
}

fn is_sscc(epc: &str) -> bool {
    epc.starts_with("urn:epc:id:sscc:")
}

fn state_of(s: &[u8]) -> Result<SerialState, AssembleError> {
    Ok(match s {
        b"commissioned" => SerialState::Commissioned,
        b"sampled" => SerialState::Sampled,
        b"decommissioned" => SerialState::Decommissioned,
        b"destroyed" => SerialState::Destroyed,
        b"shipped" => SerialState::Shipped,
        other => {
            return Err(AssembleError::Read(format!(
                "unknown serial state {}",
                String::from_utf8_lossy(other)
            )));
        }
    })
}

/// Every identifier of the batch: `id, key, epc, state, commissioned_at, parent`.
const ALL_ROWS: &str = "SELECT id, key, epc, state, commissioned_at, parent
     FROM serials WHERE batch = ?1 ORDER BY id";

impl<'c> SqliteBatchRows<'c> {
    /// Reads the batch row inside `tx` (which starts the snapshot); None when there is none.
    /// A batch that is not closed yet reads as closed now (an export's preview).
    pub(super) fn open(tx: Transaction<'c>, batch: &str) -> Result<Option<Self>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = tx
            .query_row(
                "SELECT line, gtin, lot, expiry, work_order, opened_at, closed_at, released_at,
                        report
                 FROM batches WHERE batch = ?1",
                [batch],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((line, gtin, lot, expiry, work_order, opened, closed, released, report)) = row
        else {
            return Ok(None);
        };
        let corrupt = |what: &str| StoreError::Corrupt(format!("batch {batch}: unreadable {what}"));
        let time = |s: &str, what: &str| parse_ts(s).ok_or_else(|| corrupt(what));
        let info = BatchInfo {
            batch: batch.to_string(),
            line,
            gtin,
            lot,
            expiry: NaiveDate::parse_from_str(&expiry, "%Y-%m-%d")
                .map_err(|_| corrupt("expiry"))?,
            work_order,
            opened_at: time(&opened, "opened_at")?,
            closed_at: match closed {
                Some(c) => time(&c, "closed_at")?,
                None => Utc::now(),
            },
            released_at: released.map(|r| time(&r, "released_at")).transpose()?,
            report,
        };
        Ok(Some(SqliteBatchRows {
            tx,
            unit_prefix: format!("(01){}(21)", info.gtin),
            info,
            shape: None,
        }))
    }
}

/// A text column, borrowed from the row.
/// A text column's bytes, not checked as UTF-8 (for comparisons).
fn bytes<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8], AssembleError> {
    r.get_ref(i)?
        .as_bytes()
        .map_err(|e| AssembleError::Read(format!("column {i}: {e}")))
}

fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, AssembleError> {
    r.get_ref(i)?
        .as_str()
        .map_err(|e| AssembleError::Read(format!("column {i}: {e}")))
}

impl Collect {
    /// Counts the row in its parent and keeps it unless it is a saleable unit, which it hands
    /// back.
    fn add(&mut self, row: UnitRow, unit: bool) -> Option<UnitRow> {
        self.pos += 1;
        if let Some(p) = row.parent {
            match &mut self.run {
                Some((q, n)) if *q == p => *n += 1,
                _ => {
                    self.flush();
                    self.run = Some((p, 1));
                }
            }
        }
        match row.state {
            SerialState::Commissioned if row.parent.is_none() => match self.loose.last_mut() {
                Some((_, last, at)) if self.pos - *at <= LOOSE_GAP => {
                    *last = row.id;
                    *at = self.pos;
                }
                _ => self.loose.push((row.id, row.id, self.pos)),
            },
            SerialState::Decommissioned | SerialState::Destroyed | SerialState::Sampled => {
                self.out.push(row.id)
            }
            SerialState::Commissioned | SerialState::Shipped => {}
        }
        if unit {
            return Some(row);
        }
        self.packs.push(row);
        None
    }

    fn flush(&mut self) {
        if let Some((p, n)) = self.run.take() {
            *self.held.entry(p).or_default() += n;
        }
    }
}

impl SqliteBatchRows<'_> {
    /// Walks the batch's identifiers in id order: `visit(row, is_unit)`. With `all` false only
    /// the saleable units are built and visited. A non-unit row comes with level `Case`; the
    /// shape decides which SSCCs are pallets.
    fn scan(
        &self,
        all: bool,
        visit: &mut dyn FnMut(UnitRow, bool) -> Result<(), AssembleError>,
    ) -> Result<(), AssembleError> {
        let mut stmt = self.tx.prepare_cached(ALL_ROWS)?;
        let mut rows = stmt.query([&self.info.batch])?;
        let mut times = TimeCache::default();
        while let Some(r) = rows.next()? {
            let unit = bytes(r, 1)?.starts_with(self.unit_prefix.as_bytes());
            if !all && !unit {
                continue;
            }
            let row = UnitRow {
                id: r.get(0)?,
                epc: EpcUri::from_rendered(text(r, 2)?.to_string()),
                level: if unit {
                    PackagingLevel::Each
                } else {
                    PackagingLevel::Case
                },
                state: state_of(bytes(r, 3)?)?,
                commissioned_at: times.parse_bytes(bytes(r, 4)?, "commissioned_at")?,
                parent: r.get(5)?,
            };
            visit(row, unit)?;
        }
        Ok(())
    }

    fn ensure_shape(&mut self) -> Result<(), AssembleError> {
        if self.shape.is_none() {
            let mut c = Collect::default();
            self.scan(true, &mut |row, unit| {
                c.add(row, unit);
                Ok(())
            })?;
            self.shape = Some(self.build_shape(c)?);
        }
        Ok(())
    }

    fn shape(&self) -> &Shape {
        self.shape.as_ref().expect("ensure_shape ran")
    }

    /// Levels, containers and heights from what the first pass kept.
    fn build_shape(&self, mut c: Collect) -> Result<Shape, AssembleError> {
        c.flush();
        let Collect {
            mut packs,
            held,
            run: _,
            loose,
            out,
            pos: _,
        } = c;
        let mut foreign_parents = Vec::new();
        let batch = &self.info.batch;
        let mut count = self
            .tx
            .prepare_cached("SELECT count(*) FROM serials WHERE parent = ?1")?;
        let mut nodes: Vec<Node> = Vec::new();
        // Containers among the non-unit identifiers: they hold identifiers of this batch, or
        // (rarely) only of others.
        let mut foreign_only = HashSet::new();
        for p in &packs {
            let here = held.get(&p.id).copied().unwrap_or(0);
            if here == 0 {
                let total: i64 = count.query_row([p.id], |r| r.get(0))?;
                if total == 0 {
                    continue;
                }
                foreign_only.insert(p.id);
            }
            nodes.push(Node {
                id: p.id,
                epc: p.epc.clone(),
                level: p.level,
                sscc: is_sscc(p.epc.as_str()),
                parent: p.parent,
                foreign_container: false,
                height: 0,
                commissioned_at: p.commissioned_at,
            });
        }
        // Saleable units of this batch that hold something (unusual, but then their contents
        // are not top level); a parent of another batch is not a container of this one.
        let pack_ids: HashSet<i64> = packs.iter().map(|p| p.id).collect();
        let mut lookup = self.tx.prepare_cached(
            "SELECT batch, epc, parent, commissioned_at FROM serials WHERE id = ?1",
        )?;
        let mut times = TimeCache::default();
        let mut others: Vec<i64> = held
            .keys()
            .filter(|id| !pack_ids.contains(id))
            .copied()
            .collect();
        others.sort_unstable();
        for id in others {
            let row: Option<(String, String, Option<i64>, String)> = lookup
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((b, epc, parent, at)) = row else {
                continue;
            };
            if &b != batch {
                foreign_parents.push(id);
            } else {
                nodes.push(Node {
                    id,
                    sscc: is_sscc(&epc),
                    epc: EpcUri::from_rendered(epc),
                    level: PackagingLevel::Each,
                    parent,
                    foreign_container: false,
                    height: 0,
                    commissioned_at: times.parse(&at, "commissioned_at")?,
                });
            }
        }
        // Heights: every container raises the ones above it (within this batch).
        let index: HashMap<i64, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        for i in 0..nodes.len() {
            let mut up = nodes[i].parent;
            let mut depth = 0;
            while let Some(j) = up.and_then(|p| index.get(&p).copied()) {
                depth += 1;
                if depth > nodes.len() as u32 {
                    return Err(AssembleError::Read(format!(
                        "the containers above {} form a cycle",
                        nodes[i].epc
                    )));
                }
                nodes[j].height = nodes[j].height.max(depth);
                up = nodes[j].parent;
            }
        }
        // An SSCC that holds no container of this batch may still hold one of another.
        let mut foreign = self.tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM serials c WHERE c.parent = ?1 AND c.batch <> ?2
                 AND EXISTS (SELECT 1 FROM serials g WHERE g.parent = c.id))",
        )?;
        for n in nodes.iter_mut().filter(|n| n.sscc && n.height == 0) {
            let here = held.get(&n.id).copied().unwrap_or(0);
            let others = foreign_only.contains(&n.id) || {
                let total: i64 = count.query_row([n.id], |r| r.get(0))?;
                total as u64 > here
            };
            if others {
                n.foreign_container = foreign.query_row(params![n.id, batch], |r| r.get(0))?;
            }
        }
        let pallets: HashSet<i64> = nodes
            .iter()
            .filter(|n| n.sscc && (n.height > 0 || n.foreign_container))
            .map(|n| n.id)
            .collect();
        for n in nodes.iter_mut().filter(|n| pallets.contains(&n.id)) {
            n.level = PackagingLevel::Pallet;
        }
        for p in packs.iter_mut().filter(|p| pallets.contains(&p.id)) {
            p.level = PackagingLevel::Pallet;
        }
        nodes.sort_by_key(|n| (n.height, n.id));
        Ok(Shape {
            packs,
            order: nodes
                .into_iter()
                .map(|n| (n.id, n.epc, n.level, n.commissioned_at))
                .collect(),
            containers: None,
            loose: loose.into_iter().map(|(a, b, _)| (a, b)).collect(),
            foreign_parents,
            out,
        })
    }
}

#[path = "batch_rows_visit.rs"]
mod visit;

#[cfg(test)]
#[path = "batch_rows_tests.rs"]
pub(super) mod tests;
