//! End-of-batch reconciliation: what a batch produced, per packaging level, and what is wrong.
//!
//! Pure: from the facts of every identifier the batch commissioned (read by the store on
//! `batch_close`) and the planned quantity, count per level how many are active, packed, loose,
//! decommissioned, destroyed, sampled and shipped; compute the yield; and list the
//! inconsistencies a QA reviewer must see before release. The report is stored with the batch
//! and shown by `linegate batch show`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serial::{SerialFacts, SerialState};

/// Packaging level, from the identifier and the batch's saleable GTIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The batch's own GTIN: the saleable unit.
    Each,
    /// Another GTIN of the batch: bundle or case.
    Pack,
    /// An SSCC: case or pallet as a logistic unit.
    Logistic,
}

impl Level {
    /// The level of a canonical key such as `(01)00361414567894(21)X` or `(00)…` in a batch
    /// whose saleable unit is `gtin`.
    pub fn of(key: &str, gtin: &str) -> Level {
        if key.starts_with("(00)") {
            Level::Logistic
        } else if key.get(4..18) == Some(gtin) {
            Level::Each
        } else {
            Level::Pack
        }
    }
}

/// Counts for one packaging level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCounts {
    /// Ever commissioned in this batch.
    pub commissioned: u64,
    /// Active (commissioned, not ended) and packed in a parent.
    pub aggregated: u64,
    /// Active and not packed.
    pub unaggregated: u64,
    pub decommissioned: u64,
    pub destroyed: u64,
    pub sampled: u64,
    pub shipped: u64,
}

/// The reconciliation report of one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub planned: Option<u64>,
    /// Saleable units produced: eaches commissioned and not decommissioned, destroyed or sampled.
    pub good_units: u64,
    /// `good_units / planned`, in percent to two decimals, when a plan exists.
    pub yield_percent: Option<f64>,
    pub levels: BTreeMap<Level, LevelCounts>,
    /// Active units not packed although the batch packs them into a higher level (units while
    /// it has cases, cases while it has pallets): what `unaggregated_at_close = "block"` refuses.
    pub loose: u64,
    /// What a reviewer must look at before release, as sentences.
    pub inconsistencies: Vec<String>,
}

/// Reconciles the units of one batch.
pub fn reconcile(units: &[(Level, SerialFacts)], planned: Option<u64>) -> Report {
    let mut levels: BTreeMap<Level, LevelCounts> = BTreeMap::new();
    let mut empty_containers = 0u64;
    for &(level, f) in units {
        let c = levels.entry(level).or_default();
        c.commissioned += 1;
        match f.state {
            SerialState::Commissioned if f.packed => c.aggregated += 1,
            SerialState::Commissioned => c.unaggregated += 1,
            SerialState::Decommissioned => c.decommissioned += 1,
            SerialState::Destroyed => c.destroyed += 1,
            SerialState::Sampled => c.sampled += 1,
            SerialState::Shipped => c.shipped += 1,
        }
        if level != Level::Each && f.state == SerialState::Commissioned && f.children == 0 {
            empty_containers += 1;
        }
    }
    let each = levels.get(&Level::Each).copied().unwrap_or_default();
    let good_units = each.aggregated + each.unaggregated + each.shipped;
    let mut inconsistencies = Vec::new();
    let containers = levels
        .iter()
        .filter(|(l, _)| **l != Level::Each)
        .map(|(_, c)| c.commissioned)
        .sum::<u64>();
    if containers > 0 && each.unaggregated > 0 {
        inconsistencies.push(format!(
            "{} saleable unit(s) are not packed in any case",
            each.unaggregated
        ));
    }
    let cases_loose = levels.get(&Level::Pack).map_or(0, |c| c.unaggregated);
    if levels.contains_key(&Level::Logistic) && cases_loose > 0 {
        inconsistencies.push(format!(
            "{cases_loose} case(s) or bundle(s) are not on any pallet"
        ));
    }
    let sampled: u64 = levels.values().map(|c| c.sampled).sum();
    if sampled > 0 {
        inconsistencies.push(format!(
            "{sampled} sampled unit(s) await destroy, decommission or a status correction"
        ));
    }
    if empty_containers > 0 {
        inconsistencies.push(format!(
            "{empty_containers} case(s) or pallet(s) are commissioned but empty"
        ));
    }
    if let Some(p) = planned.filter(|p| good_units > *p) {
        inconsistencies.push(format!(
            "{good_units} good units exceed the planned quantity of {p}"
        ));
    }
    let top = levels.keys().next_back().copied();
    let loose = levels
        .iter()
        .filter(|(l, _)| Some(**l) != top)
        .map(|(_, c)| c.unaggregated)
        .sum();
    let yield_percent = planned
        .filter(|p| *p > 0)
        .map(|p| (good_units as f64 * 10_000.0 / p as f64).round() / 100.0);
    Report {
        planned,
        good_units,
        yield_percent,
        levels,
        loose,
        inconsistencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GTIN: &str = "00361414567894";

    fn unit(key: &str, state: SerialState, packed: bool, children: usize) -> (Level, SerialFacts) {
        (
            Level::of(key, GTIN),
            SerialFacts {
                state,
                packed,
                children,
            },
        )
    }

    #[test]
    fn levels_come_from_the_key() {
        assert_eq!(Level::of("(01)00361414567894(21)A", GTIN), Level::Each);
        assert_eq!(Level::of("(01)50361414567899(21)A", GTIN), Level::Pack);
        assert_eq!(Level::of("(01)00361414000018(21)A", GTIN), Level::Pack);
        assert_eq!(Level::of("(00)003614145000000013", GTIN), Level::Logistic);
    }

    /// A 10,000-unit batch in 100 cases of 100, with 3 rejects (destroyed) and 2 QA samples.
    #[test]
    fn a_batch_with_rejects_and_samples() {
        use SerialState::*;
        let mut units = Vec::new();
        for i in 0..10_000 {
            let state = match i {
                0..=2 => Destroyed,
                3..=4 => Sampled,
                _ => Commissioned,
            };
            units.push(unit(
                &format!("(01)00361414567894(21)S{i}"),
                state,
                state == Commissioned,
                0,
            ));
        }
        for c in 0..100 {
            units.push(unit(
                &format!("(01)50361414567899(21)C{c}"),
                Commissioned,
                false,
                100,
            ));
        }
        let r = reconcile(&units, Some(10_000));
        let each = r.levels[&Level::Each];
        assert_eq!(
            (
                each.commissioned,
                each.aggregated,
                each.destroyed,
                each.sampled
            ),
            (10_000, 9_995, 3, 2)
        );
        assert_eq!(r.levels[&Level::Pack].unaggregated, 100);
        assert_eq!(r.good_units, 9_995);
        assert_eq!(r.loose, 0, "cases are the top level here");
        assert_eq!(r.yield_percent, Some(100.0 * 9_995.0 / 10_000.0));
        assert_eq!(
            r.inconsistencies,
            vec![
                "2 sampled unit(s) await destroy, decommission or a status correction".to_string()
            ]
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["levels"]["each"]["destroyed"], 3);
    }

    #[test]
    fn loose_units_and_empty_cases_are_reported() {
        use SerialState::*;
        let units = [
            unit("(01)00361414567894(21)A", Commissioned, false, 0),
            unit("(01)00361414567894(21)B", Commissioned, true, 0),
            unit("(01)50361414567899(21)C1", Commissioned, false, 1),
            unit("(01)50361414567899(21)C2", Commissioned, false, 0),
        ];
        let r = reconcile(&units, Some(1));
        assert_eq!(r.loose, 1);
        assert_eq!(r.inconsistencies.len(), 3, "{:?}", r.inconsistencies);
        assert!(r.inconsistencies[0].starts_with("1 saleable unit(s) are not packed"));
        assert!(
            r.inconsistencies[1].starts_with("1 case(s) or pallet(s) are commissioned but empty")
        );
        assert!(r.inconsistencies[2].starts_with("2 good units exceed the planned quantity of 1"));
        let mut on_pallets = units.to_vec();
        on_pallets.push(unit("(00)003614145000000013", Commissioned, false, 1));
        let r = reconcile(&on_pallets, None);
        assert_eq!(r.loose, 3, "A, C1 and C2 are loose below the pallet level");
        assert!(
            r.inconsistencies
                .contains(&"2 case(s) or bundle(s) are not on any pallet".to_string()),
            "{:?}",
            r.inconsistencies
        );
        assert_eq!(reconcile(&[], None).yield_percent, None);
    }
}
