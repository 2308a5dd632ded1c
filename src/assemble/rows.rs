//! What the assembler reads about a batch, as a trait the store implements over one read
//! transaction — the assembler's counterpart of `rules::LedgerView`.
//!
//! A batch can hold millions of identifiers, so nothing here returns the batch whole: each
//! method calls `visit` once per row, in the order it documents, straight from the database
//! cursor. The pure builders (`eob`, and the shipment and single-event builders) turn the rows
//! into EPCIS events as they arrive and hand each event on to a streaming writer; memory holds
//! one event at a time. `FixtureRows` is the in-memory implementation the snapshot tests use.

use chrono::{DateTime, NaiveDate, Utc};

use crate::epcis::PackagingLevel;
use crate::gs1::EpcUri;
use crate::rules::SerialState;

/// The batch's master data, as opened and closed.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchInfo {
    pub batch: String,
    pub line: String,
    /// GTIN-14 of the saleable unit.
    pub gtin: String,
    pub lot: String,
    pub expiry: NaiveDate,
    pub work_order: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: DateTime<Utc>,
    /// When QA released it (None while not released).
    pub released_at: Option<DateTime<Utc>>,
    /// The reconciliation report stored at close (JSON text), if any.
    pub report: Option<String>,
}

/// One identifier commissioned in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    /// The store's row id: stable, increasing in commissioning order.
    pub id: i64,
    pub epc: EpcUri,
    pub level: PackagingLevel,
    /// Its state now.
    pub state: SerialState,
    pub commissioned_at: DateTime<Utc>,
    /// Its container now (a row id), if packed.
    pub parent: Option<i64>,
}

/// A container of the batch that holds something now.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRow {
    pub id: i64,
    pub epc: EpcUri,
    pub level: PackagingLevel,
    /// When its present contents were last packed (its latest `aggregate` event).
    pub packed_at: DateTime<Utc>,
}

/// What ended a unit's life (or its saleability) on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    Decommission,
    Destroy,
    Sample,
}

/// One unit taken out by a decommission, destroy or sample message.
#[derive(Debug, Clone, PartialEq)]
pub struct EndRow {
    /// The `serial_events` sequence number of the message: rows of one message are adjacent.
    pub event: i64,
    pub kind: EndKind,
    pub time: DateTime<Utc>,
    pub reason: Option<String>,
    pub epc: EpcUri,
}

/// Why reading or writing a document stopped. Reading is the store's side, writing the sink's.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("cannot read the batch: {0}")]
    Read(String),
    #[error(transparent)]
    Write(#[from] crate::epcis::EpcisError),
    #[error("cannot write the document: {0}")]
    Io(#[from] std::io::Error),
    /// The data cannot make the document asked for (e.g. nothing was commissioned).
    #[error("{0}")]
    Data(String),
}

/// A visitor: returns an error to stop the walk (a sink failed).
pub type Visit<'a, T> = &'a mut dyn FnMut(T) -> Result<(), AssembleError>;

/// Read access to one batch, from one consistent snapshot.
pub trait BatchRows {
    fn info(&self) -> &BatchInfo;

    /// Every identifier commissioned in the batch whose level is `level`, in commissioning
    /// order (row id), whatever its state now.
    fn units(
        &mut self,
        level: PackagingLevel,
        visit: Visit<'_, UnitRow>,
    ) -> Result<(), AssembleError>;

    /// The batch's containers that hold something now, innermost first: every container comes
    /// after the containers packed in it; among equals, in commissioning order. Containers are
    /// few (a case per hundred units), so they come as a list.
    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError>;

    /// What `container` holds now (immediate children), in commissioning order.
    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError>;

    /// Units of the batch whose state is shipped, decommissioned, destroyed or sampled are not
    /// "top level"; this visits every other identifier without a container: what a release
    /// event names (pallets, loose cases, loose units), in commissioning order.
    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError>;

    /// Every unit of the batch taken out by a decommission, destroy or sample message, grouped
    /// by message (`EndRow::event` ascending), in commissioning order within a message.
    fn ends(&mut self, visit: Visit<'_, EndRow>) -> Result<(), AssembleError>;
}

/// An in-memory batch for tests: the rows as the store would return them.
#[derive(Debug, Clone, Default)]
pub struct FixtureRows {
    pub info: Option<BatchInfo>,
    pub units: Vec<UnitRow>,
    pub containers: Vec<ContainerRow>,
    pub ends: Vec<EndRow>,
}

impl FixtureRows {
    fn epc_of(&self, id: i64) -> Option<&EpcUri> {
        self.units.iter().find(|u| u.id == id).map(|u| &u.epc)
    }
}

impl BatchRows for FixtureRows {
    fn info(&self) -> &BatchInfo {
        self.info.as_ref().expect("a fixture has its batch info")
    }

    fn units(
        &mut self,
        level: PackagingLevel,
        visit: Visit<'_, UnitRow>,
    ) -> Result<(), AssembleError> {
        for u in self.units.iter().filter(|u| u.level == level) {
            visit(u.clone())?;
        }
        Ok(())
    }

    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError> {
        Ok(self.containers.clone())
    }

    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        for u in self.units.iter().filter(|u| u.parent == Some(container)) {
            visit(u.epc.clone())?;
        }
        Ok(())
    }

    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        for u in &self.units {
            let live = u.state == SerialState::Commissioned;
            let loose = u.parent.is_none_or(|p| self.epc_of(p).is_none());
            if live && loose {
                visit(u.epc.clone())?;
            }
        }
        Ok(())
    }

    fn ends(&mut self, visit: Visit<'_, EndRow>) -> Result<(), AssembleError> {
        for e in &self.ends {
            visit(e.clone())?;
        }
        Ok(())
    }
}
