//! The labels a simulated line prints and reads, as the scanners deliver them.
//!
//! A unit's DataMatrix reads as `]d2` + (01) GTIN + (17) expiry + (10) lot + GS + (21) serial:
//! the AIM symbology identifier, fixed-length elements first, a GS after the variable-length lot
//! and the serial last (no GS needed at the end). Cases carry the same kind of symbol with their
//! pack GTIN; pallets a GS1-128 label `]C1` + (00) SSCC. Serials are random (seeded), as on real
//! pharma lines, and SSCCs get their mod-10 check digit from `gs1::check_digit`. Pure: no clock,
//! no I/O; the caller hands in the random source.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::gs1;

/// ASCII group separator: ends a variable-length element that is not last.
pub const GS: char = '\u{1d}';

/// Characters of a random serial: digits and capitals without I and O (easy to read aloud).
const SERIAL_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of a random serial (GS1 allows up to 20; 12 random characters is common practice).
const SERIAL_LEN: usize = 12;

/// What every label of one batch shares: lot and expiry, as AI (10) and AI (17) carry them.
#[derive(Debug, Clone)]
pub struct LabelData {
    pub lot: String,
    pub expiry: NaiveDate,
}

impl LabelData {
    /// The DataMatrix scanner string of `gtin` + `serial` with this lot and expiry.
    pub fn datamatrix(&self, gtin: &str, serial: &str) -> String {
        format!(
            "]d201{gtin}17{}10{}{GS}21{serial}",
            self.expiry.format("%y%m%d"),
            self.lot
        )
    }
}

/// The GS1-128 scanner string of a pallet label.
pub fn sscc_label(sscc: &str) -> String {
    format!("]C100{sscc}")
}

/// An SSCC: extension digit, company prefix, serial reference (`reference` padded to fill 17
/// digits), check digit. `None` when the prefix is not 6–12 digits or the reference does not fit.
pub fn sscc(extension: u8, company_prefix: &str, reference: u64) -> Option<String> {
    let width = 16usize.checked_sub(company_prefix.len())?;
    let valid_prefix = (6..=12).contains(&company_prefix.len())
        && company_prefix.bytes().all(|b| b.is_ascii_digit());
    if !valid_prefix || extension > 9 || reference.to_string().len() > width {
        return None;
    }
    let body = format!("{extension}{company_prefix}{reference:0width$}");
    let check = gs1::check_digit(&body)?;
    Some(format!("{body}{check}"))
}

/// Draws serials and SSCC references that are unique within one generated batch.
pub struct SerialSource {
    rng: fastrand::Rng,
    used: HashSet<String>,
    used_refs: HashSet<u64>,
}

impl SerialSource {
    pub fn new(seed: u64) -> SerialSource {
        SerialSource {
            rng: fastrand::Rng::with_seed(seed),
            used: HashSet::new(),
            used_refs: HashSet::new(),
        }
    }

    /// The random source, for the generator's other decisions (one stream per seed).
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// A fresh random serial, never returned before by this source.
    pub fn serial(&mut self) -> String {
        loop {
            let s: String = (0..SERIAL_LEN)
                .map(|_| char::from(SERIAL_CHARS[self.rng.usize(..SERIAL_CHARS.len())]))
                .collect();
            if self.used.insert(s.clone()) {
                return s;
            }
        }
    }

    /// A fresh SSCC serial reference below `10^width`.
    pub fn sscc_reference(&mut self, width: usize) -> u64 {
        let bound = 10u64.saturating_pow(width.min(18) as u32);
        loop {
            let r = self.rng.u64(..bound);
            if self.used_refs.insert(r) {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()
    }

    #[test]
    fn a_unit_label_reads_back_with_gtin_serial_lot_and_expiry() {
        let label = LabelData {
            lot: "LOT42".into(),
            expiry: NaiveDate::from_ymd_opt(2028, 6, 30).unwrap(),
        };
        let raw = label.datamatrix("00361414567894", "X7F3K9");
        assert_eq!(
            raw,
            "]d2".to_string() + "0100361414567894" + "17280630" + "10LOT42\x1d" + "21X7F3K9"
        );
        let code = gs1::parse_code(&raw, today()).unwrap();
        assert_eq!(code.id.key(), "(01)00361414567894(21)X7F3K9");
        assert_eq!(code.lot.unwrap().to_string(), "LOT42");
        assert_eq!(code.expiry.unwrap().to_xsd_date(), "2028-06-30");
    }

    #[test]
    fn ssccs_have_valid_check_digits_and_read_back() {
        let s = sscc(0, "0361414", 500000001).unwrap();
        assert_eq!(s, "003614145000000013");
        let code = gs1::parse_code(&sscc_label(&s), today()).unwrap();
        assert_eq!(code.id.key(), format!("(00){s}"));
        assert_eq!(
            sscc(1, "0361414", 1_000_000_000),
            None,
            "reference too wide"
        );
        assert_eq!(sscc(1, "03614", 1), None, "prefix too short");
    }

    #[test]
    fn serials_are_unique_and_repeat_per_seed() {
        let draw = |seed| {
            let mut s = SerialSource::new(seed);
            (0..2000).map(|_| s.serial()).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), a.len());
        assert!(a.iter().all(|s| gs1::Serial::parse(s).is_ok()));
    }
}
