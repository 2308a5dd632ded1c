//! `BatchRows` for `SqliteBatchRows`: the calls the builders make, each a walk over what the
//! first pass (`batch_rows.rs`) worked out — the units of a level, the containers innermost
//! first and their children, the top level, the units taken out. Kept apart from the pass
//! itself so each file reads as one concept.

use super::*;

impl BatchRows for SqliteBatchRows<'_> {
    fn info(&self) -> &BatchInfo {
        &self.info
    }

    fn units(
        &mut self,
        level: PackagingLevel,
        visit: Visit<'_, UnitRow>,
    ) -> Result<(), AssembleError> {
        match level {
            // The first pass over the batch also keeps what the shape needs.
            PackagingLevel::Each if self.shape.is_none() => {
                let mut c = Collect::default();
                self.scan(true, &mut |row, unit| match c.add(row, unit) {
                    Some(unit) => visit(unit),
                    None => Ok(()),
                })?;
                self.shape = Some(self.build_shape(c)?);
                Ok(())
            }
            PackagingLevel::Each => self.scan(false, &mut |row, _| visit(row)),
            PackagingLevel::Case | PackagingLevel::Pallet => {
                self.ensure_shape()?;
                for p in self.shape().packs.iter().filter(|p| p.level == level) {
                    visit(p.clone())?;
                }
                Ok(())
            }
        }
    }

    fn containers(&mut self) -> Result<Vec<ContainerRow>, AssembleError> {
        self.ensure_shape()?;
        if let Some(c) = &self.shape().containers {
            return Ok(c.clone());
        }
        // Its latest `aggregate` as the parent: an `aggregate` that packed the container itself
        // into another also wrote it a history row, whose parent then has a row of that event
        // too (the parent of a pack always does; a container's own parent never takes part in
        // packing into it, that would be a cycle).
        let mut packed = self.tx.prepare_cached(
            "SELECT e.event_time FROM serial_history h JOIN serial_events e ON e.seq = h.event
             WHERE h.serial = ?1 AND e.kind = 'aggregate'
               AND NOT EXISTS (SELECT 1 FROM serial_history p
                               WHERE p.serial = h.parent AND p.event = h.event)
             ORDER BY h.event DESC LIMIT 1",
        )?;
        let mut times = TimeCache::default();
        let mut out = Vec::with_capacity(self.shape().order.len());
        for (id, epc, level, commissioned_at) in &self.shape().order {
            let at: Option<String> = packed.query_row([id], |r| r.get(0)).optional()?;
            let packed_at = match at {
                Some(t) => times.parse(&t, "event_time")?,
                None => *commissioned_at,
            };
            out.push(ContainerRow {
                id: *id,
                epc: epc.clone(),
                level: *level,
                packed_at,
            });
        }
        drop(packed);
        if let Some(shape) = self.shape.as_mut() {
            shape.containers = Some(out.clone());
        }
        Ok(out)
    }

    fn children(&mut self, container: i64, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT epc FROM serials WHERE parent = ?1 ORDER BY id")?;
        let mut rows = stmt.query([container])?;
        while let Some(r) = rows.next()? {
            visit(EpcUri::from_rendered(text(r, 0)?.to_string()))?;
        }
        Ok(())
    }

    fn top_level(&mut self, visit: Visit<'_, EpcUri>) -> Result<(), AssembleError> {
        self.ensure_shape()?;
        let shape = self.shape();
        let batch = &self.info.batch;
        // Live identifiers in containers of other batches (rare): read first, merged by id.
        let mut inside_others: Vec<(i64, String)> = Vec::new();
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, epc FROM serials WHERE parent = ?1 AND batch = ?2 AND state = 'commissioned'",
        )?;
        for p in &shape.foreign_parents {
            let mut rows = stmt.query(params![p, batch])?;
            while let Some(r) = rows.next()? {
                inside_others.push((r.get(0)?, text(r, 1)?.to_string()));
            }
        }
        inside_others.sort_unstable();
        let mut inside_others = inside_others.into_iter().peekable();
        // The loose ones, from the runs the first pass noted.
        let mut stmt = self.tx.prepare_cached(
            "SELECT id, epc FROM serials
             WHERE id BETWEEN ?1 AND ?2 AND batch = ?3 AND state = 'commissioned'
               AND parent IS NULL
             ORDER BY id",
        )?;
        for (first, last) in &shape.loose {
            let mut rows = stmt.query(params![first, last, batch])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                while let Some((_, epc)) = inside_others.next_if(|(o, _)| *o < id) {
                    visit(EpcUri::from_rendered(epc))?;
                }
                visit(EpcUri::from_rendered(text(r, 1)?.to_string()))?;
            }
        }
        for (_, epc) in inside_others {
            visit(EpcUri::from_rendered(epc))?;
        }
        Ok(())
    }

    fn ends(&mut self, visit: Visit<'_, EndRow>) -> Result<(), AssembleError> {
        self.ensure_shape()?;
        let out = &self.shape().out;
        if out.is_empty() {
            return Ok(());
        }
        // The units the first pass found taken out, handed over as a JSON array (SQLite looks
        // each up by id); the ORDER BY is SQLite's sorter, which spills to disk rather than grow.
        let ids = serde_json::to_string(out)
            .map_err(|e| AssembleError::Read(format!("unit ids: {e}")))?;
        let mut stmt = self.tx.prepare_cached(
            "SELECT e.seq, e.kind, e.event_time, e.reason, s.epc
             FROM serials s
             CROSS JOIN serial_history h ON h.serial = s.id
             CROSS JOIN serial_events e ON e.seq = h.event
             WHERE s.id IN (SELECT value FROM json_each(?1))
               AND e.kind IN ('decommission', 'destroy', 'sample')
               AND h.event > coalesce((
                   SELECT max(h2.event) FROM serial_history h2
                   JOIN serial_events e2 ON e2.seq = h2.event
                   WHERE h2.serial = s.id AND e2.kind IN ('commission', 'correct_status')), 0)
             ORDER BY e.seq, s.id",
        )?;
        let mut rows = stmt.query([ids])?;
        let mut times = TimeCache::default();
        while let Some(r) = rows.next()? {
            let kind = match text(r, 1)? {
                "decommission" => EndKind::Decommission,
                "destroy" => EndKind::Destroy,
                _ => EndKind::Sample,
            };
            visit(EndRow {
                event: r.get(0)?,
                kind,
                time: times.parse(text(r, 2)?, "event_time")?,
                reason: r.get(3)?,
                epc: EpcUri::from_rendered(text(r, 4)?.to_string()),
            })?;
        }
        Ok(())
    }
}
