//! GS1's company-prefix length table, embedded: which prefix of a GS1 key is the company prefix.
//!
//! A GTIN, SSCC or GLN does not say where its company prefix ends, yet the EPC URI needs it
//! (`urn:epc:id:sgtin:0361414.056789.…`). GS1 publishes a table of number ranges and their
//! prefix lengths; `data/gs1/gcp-prefix-lengths.txt` is that table (regenerated from GS1's XML by
//! `scripts/gcp-table`). It is from April 2022 and GS1 allocates continuously, so configuration
//! (`gs1.company_prefixes`) always wins over it — see `company_prefix.rs`.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("../../data/gs1/gcp-prefix-lengths.txt");

/// Shortest and longest prefix in the table (checked by a test).
const MIN_PREFIX: usize = 3;
const MAX_PREFIX: usize = 12;

/// The answer of the table for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableLength {
    /// The company prefix is this many digits long.
    Length(usize),
    /// The range exists but holds no company prefixes (restricted circulation, demo ranges).
    NoPrefix,
    /// The table does not cover this range.
    Unknown,
}

fn table() -> &'static HashMap<&'static str, u8> {
    static PARSED: OnceLock<HashMap<&'static str, u8>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (prefix, len) = l.split_once(' ')?;
                Some((prefix, len.parse().ok()?))
            })
            .collect()
    })
}

/// Looks up the company-prefix length for `digits`: a GS1 key without its leading indicator or
/// extension digit (GTIN, SSCC) or a GLN from its first digit. The longest matching prefix wins.
pub fn lookup(digits: &str) -> TableLength {
    let t = table();
    for len in (MIN_PREFIX..=MAX_PREFIX.min(digits.len())).rev() {
        if let Some(&gcp) = digits.get(..len).and_then(|p| t.get(p)) {
            return if gcp == 0 {
                TableLength::NoPrefix
            } else {
                TableLength::Length(gcp as usize)
            };
        }
    }
    TableLength::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_is_whole_and_well_formed() {
        let rows: Vec<&str> = TABLE.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows.len(), 99_839, "row count of GS1's 2022-04-05 table");
        assert_eq!(
            table().len(),
            rows.len(),
            "every row parses and no prefix repeats"
        );
        for row in rows {
            let (prefix, len) = row.split_once(' ').expect("two fields");
            assert!(prefix.bytes().all(|b| b.is_ascii_digit()), "{row}");
            assert!((MIN_PREFIX..=MAX_PREFIX).contains(&prefix.len()), "{row}");
            let len: usize = len.parse().expect("length");
            assert!(len == 0 || (6..=12).contains(&len), "{row}");
        }
        assert!(TABLE.starts_with(
            "# GS1 company prefix length table, from GS1 GCPPrefixFormatList.xml dated 2022-04-05"
        ));
    }

    fn check(digits: &str, expected: TableLength) {
        assert_eq!(lookup(digits), expected, "{digits}");
    }

    #[test]
    fn finds_the_longest_matching_range() {
        use TableLength::*;
        check("0361414567894", Length(7)); // US NDC labeler 61414 → 0361414
        check("0355154094495", Length(7));
        check("0000030123456", Length(12));
        check("0000033123456", Length(7));
        check("2000000000000", NoPrefix); // restricted circulation numbers carry no GCP
        check("", Unknown);
        check("03", Unknown);
    }
}
