//! What a simulated batch is made of: the line, the master data, the quantities, the seed —
//! and the checks that make a spec playable before any message is generated.
//!
//! Pure, like the generator: the CLI (`command`) and the demo fill a `LineSpec` in, `plan`
//! refuses it with a `SpecError` when a count is zero, a share is out of range, a GTIN or lot
//! is not valid GS1 data or the company prefix cannot make an SSCC.

use chrono::NaiveDate;

use super::codes::sscc;
use crate::gs1::{self, Gtin, Lot};

/// What to simulate. `codes_per_message` applies to commissioning and packing messages.
#[derive(Debug, Clone)]
pub struct LineSpec {
    pub line: String,
    pub batch: String,
    pub gtin: String,
    pub case_gtin: String,
    /// The company prefix of the pallet SSCCs (the GTIN's, as the gateway's config reads it).
    pub company_prefix: String,
    pub lot: String,
    pub expiry: NaiveDate,
    pub units: u32,
    pub case_size: u32,
    pub pallet_size: u32,
    /// Share of units rejected, 0.0 to 0.5.
    pub reject_rate: f64,
    /// QA samples pulled from packed cases.
    pub samples: u32,
    /// Messages the gateway must refuse (wrong lot, repeated scan, bad check digit), in turn.
    pub faults: u32,
    pub codes_per_message: u32,
    pub seed: u64,
}

/// Why a spec cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("{what} must be at least 1")]
    Zero { what: &'static str },
    #[error("the reject rate must be between 0 and 0.5, not {0}")]
    RejectRate(f64),
    #[error("{what}: {source}")]
    Gs1 {
        what: &'static str,
        source: gs1::Gs1Error,
    },
    #[error("company prefix '{0}' cannot make an SSCC (6 to 12 digits)")]
    Prefix(String),
}

impl LineSpec {
    pub(super) fn check(&self) -> Result<(), SpecError> {
        for (what, v) in [
            ("units", self.units),
            ("case size", self.case_size),
            ("pallet size", self.pallet_size),
            ("codes per message", self.codes_per_message),
        ] {
            if v == 0 {
                return Err(SpecError::Zero { what });
            }
        }
        if !(0.0..=0.5).contains(&self.reject_rate) {
            return Err(SpecError::RejectRate(self.reject_rate));
        }
        let gs1 = |what| move |source| SpecError::Gs1 { what, source };
        Gtin::parse(&self.gtin).map_err(gs1("gtin"))?;
        Gtin::parse(&self.case_gtin).map_err(gs1("case gtin"))?;
        Lot::parse(&self.lot).map_err(gs1("lot"))?;
        sscc(0, &self.company_prefix, 0)
            .ok_or_else(|| SpecError::Prefix(self.company_prefix.clone()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::plan_tests::spec;

    #[test]
    fn bad_specs_are_refused() {
        let mut s = spec(1);
        s.case_size = 0;
        assert_eq!(s.check(), Err(SpecError::Zero { what: "case size" }));
        let mut s = spec(1);
        s.reject_rate = 0.9;
        assert_eq!(s.check(), Err(SpecError::RejectRate(0.9)));
        let mut s = spec(1);
        s.gtin = "00361414567895".into();
        assert!(matches!(
            s.check(),
            Err(SpecError::Gs1 { what: "gtin", .. })
        ));
    }

    #[test]
    fn a_prefix_that_cannot_make_an_sscc_is_refused() {
        let mut s = spec(1);
        s.company_prefix = "03614".into();
        assert_eq!(s.check(), Err(SpecError::Prefix("03614".into())));
        assert_eq!(spec(1).check(), Ok(()));
    }
}
