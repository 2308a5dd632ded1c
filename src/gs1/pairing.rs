//! Which AIs may and must appear together, as the dictionary's `req=` and
//! `ex=` attributes say, plus "no AI twice".
//!
//! Semantics, from the dictionary header: `req=01+21,02` holds if (01) and
//! (21) are both present, or (02) is; several `req=` on one row must all
//! hold; `ex=01,310n` means none of the listed AIs (`n` = any digit) may be
//! present, except the AI itself. Checks run in input order, duplicates
//! first, then exclusions, then requirements, so the first problem in the
//! input is the one reported.

use super::ai_table::matches;
use super::element::Found;
use super::error::{ParseError, ParseErrorKind};

/// Whether two elements carry the same AI. Element AIs are borrowed from the AI table's
/// arena, one copy per AI (an element only exists for an AI the table knows), so the same AI
/// is the same bytes: comparing addresses is enough, and cheaper per code than `==`.
fn same_ai(a: &Found, b: &Found) -> bool {
    std::ptr::eq(a.ai.as_ptr(), b.ai.as_ptr())
}

fn present(found: &[Found], pattern: &str) -> bool {
    found.iter().any(|f| matches(pattern, f.ai))
}

/// Checks duplicates, `ex=` and `req=` over all elements of one code.
pub(crate) fn check_pairing(found: &[Found]) -> Result<(), ParseError> {
    for (i, f) in found.iter().enumerate() {
        if found[..i].iter().any(|g| same_ai(g, f)) {
            let kind = ParseErrorKind::Duplicate {
                ai: f.ai.to_string(),
            };
            return Err(ParseError::new(f.pos, kind));
        }
    }
    for f in found {
        for pattern in &f.entry.ex {
            if let Some(other) = found
                .iter()
                .find(|g| !same_ai(g, f) && matches(pattern, g.ai))
            {
                let kind = ParseErrorKind::Excluded {
                    ai: f.ai.to_string(),
                    other: other.ai.to_string(),
                };
                return Err(ParseError::new(f.pos.max(other.pos), kind));
            }
        }
    }
    for f in found {
        for clause in &f.entry.req {
            let ok = clause
                .iter()
                .any(|group| group.iter().all(|p| present(found, p)));
            if !ok {
                let alternatives = clause
                    .iter()
                    .map(|group| group.iter().map(|p| p.to_string()).collect())
                    .collect();
                let kind = ParseErrorKind::Requires {
                    ai: f.ai.to_string(),
                    alternatives,
                };
                return Err(ParseError::new(f.pos, kind));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    /// Pairing rules, through the bracketed form: input, then the
    /// elements or `err@position: message`.
    #[rustfmt::skip]
    pub(crate) const CASES: &[(&str, &str)] = &[
        ("(01)00361414567894(21)A", "hri (01)00361414567894(21)A => urn:epc:id:sgtin:0361414.056789.A"),
        ("(01)00361414567894(10)L1", "hri (01)00361414567894(10)L1"),
        ("(01)00361414567894", "hri (01)00361414567894"),
        ("(00)003614145000000013", "hri (00)003614145000000013 => urn:epc:id:sscc:0361414.0500000001"),
        ("(02)00361414567894(37)10(00)003614145000000013", "hri (02)00361414567894(37)10(00)003614145000000013 => urn:epc:id:sscc:0361414.0500000001"),
        ("(01)00361414567894(02)00361414567894", "err@18: AI (02) cannot be used together with AI (01)"),
        ("(02)00361414567894(37)5(01)00361414567894", "err@23: AI (02) cannot be used together with AI (01)"),
        ("(01)00361414567894(03)00361414567894", "err@18: AI (03) cannot be used together with AI (01)"),
        ("(01)00361414567894(37)5", "err@18: AI (01) cannot be used together with AI (37)"),
        ("(01)00361414567894(255)0361414000001", "err@18: AI (01) cannot be used together with AI (255)"),
        ("(21)ABC", "err@0: AI (21) needs AI (01), (03) or (8006) in the same code"),
        ("(10)L1(17)270101", "err@0: AI (10) needs AI (01), (02), (03), (8006) or (8026) in the same code"),
        ("(17)270101", "err@0: AI (17) needs AI (01), (02), (03), (255), (8006) or (8026) in the same code"),
        ("(11)250101", "err@0: AI (11) needs AI (01), (02), (03), (8006) or (8026) in the same code"),
        ("(00)003614145000000013(10)L1", "err@22: AI (10) needs AI (01), (02), (03), (8006) or (8026) in the same code"),
        ("(00)003614145000000013(21)1", "err@22: AI (21) needs AI (01), (03) or (8006) in the same code"),
        ("(254)1(414)0361414000001", "hri (254)1(414)0361414000001 => urn:epc:id:sgln:0361414.00000.1"),
        ("(254)1", "err@0: AI (254) needs AI (414) in the same code"),
        ("(414)0361414000001", "hri (414)0361414000001 => urn:epc:id:sgln:0361414.00000.0"),
        ("(01)00361414567894(250)X1", "err@18: AI (250) needs AI (21) in the same code"),
        ("(250)X1(21)S", "err@0: AI (250) needs AI (01) or (8006) in the same code"),
        ("(01)00361414567894(21)S(250)X1", "hri (01)00361414567894(21)S(250)X1 => urn:epc:id:sgtin:0361414.056789.S"),
        ("(01)00361414567894(21)S(21)T", "err@23: AI (21) appears more than once"),
        ("(01)00361414567894(21)S(01)00361414567894", "err@23: AI (01) appears more than once"),
        ("(01)00361414567894(3100)000500(3101)000050", "err@30: AI (3100) cannot be used together with AI (3101)"),
        ("(01)00361414567894(3100)000500(3200)000011", "hri (01)00361414567894(3100)000500(3200)000011"),
        ("(3100)000500", "err@0: AI (3100) needs AI (01) or (02) in the same code"),
        ("(01)00361414567894(21)S(8040)123456789012345", "hri (01)00361414567894(21)S(8040)123456789012345 => urn:epc:id:sgtin:0361414.056789.S"),
        ("(01)00361414567894(8040)123456789012345", "err@18: AI (8040) needs AI (01)+(21) in the same code"),
        ("(01)00361414567894(21)S(235)T", "err@23: AI (21) cannot be used together with AI (235)"),
        ("(7004)12(01)00361414567894", "err@0: AI (7004) needs AI (01)+(10) in the same code"),
        ("(7004)12(01)00361414567894(10)L(21)S", "hri (7004)12(01)00361414567894(10)L(21)S => urn:epc:id:sgtin:0361414.056789.S"),
        ("(01)00361414567894(21)S(710)PZN123", "hri (01)00361414567894(21)S(710)PZN123 => urn:epc:id:sgtin:0361414.056789.S"),
        ("(710)PZN123", "err@0: AI (710) needs AI (01) in the same code"),
        ("(00)003614145000000013(400)PO-1(403)R1", "hri (00)003614145000000013(400)PO-1(403)R1 => urn:epc:id:sscc:0361414.0500000001"),
        ("(403)R1", "err@0: AI (403) needs AI (00) in the same code"),
        ("(8030)QUJD", "err@0: AI (8030) needs AI (00), (01)+(21), (253), (255), (8003), (8004), (8006)+(21), (8010)+(8011), (8017) or (8018) in the same code"),
        ("(01)00361414567894(21)S(8030)QUJD", "hri (01)00361414567894(21)S(8030)QUJD => urn:epc:id:sgtin:0361414.056789.S"),
        ("(90)ANY(91)THING", "hri (90)ANY(91)THING"),
        ("(00)003614145000000013(01)00361414567894(21)S", "hri (00)003614145000000013(01)00361414567894(21)S"),
    ];

    #[test]
    fn pairing_cases() {
        super::super::run_cases(CASES);
    }
}
