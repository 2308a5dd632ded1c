//! Data-driven cases for raw scanner data: AIM symbology identifiers, GS
//! separators present, absent and trailing, CR/LF, and every AI a pharma
//! line prints, each as one line `(input, expected)` rendered by
//! `super::render_scan` (`form (ai)value… => EPC URI` or
//! `err@position: message`). `\x1d` is the real GS byte.

/// Raw scanner data cases.
#[rustfmt::skip]
pub(crate) const CASES: &[(&str, &str)] = &[
    // The typical DataMatrix: fixed-length AIs need no GS, variable ones do.
    ("]d201003614145678941727013110LOT-7\x1d21SER123", "]d2 (01)00361414567894(17)270131(10)LOT-7(21)SER123 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d201003614145678941727013110LOT-7\x1d21SER123\x1d", "]d2 (01)00361414567894(17)270131(10)LOT-7(21)SER123 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d201003614145678941727013110LOT-7\x1d21SER123\r\n", "]d2 (01)00361414567894(17)270131(10)LOT-7(21)SER123 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d2\x1d01003614145678941727013110LOT-7\x1d21SER123", "]d2 (01)00361414567894(17)270131(10)LOT-7(21)SER123 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d20100361414567894\x1d17270131\x1d10LOT-7\x1d21SER123", "]d2 (01)00361414567894(17)270131(10)LOT-7(21)SER123 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d20100361414567894\x1d\x1d21SER123", "err@20: expected a GS1 AI at '\\u{1d}21SER12'"),
    ("]d2010036141456789421SER123\x1d17270131\x1d10LOT-7", "]d2 (01)00361414567894(21)SER123(17)270131(10)LOT-7 => urn:epc:id:sgtin:0361414.056789.SER123"),
    ("]d2010036141456789421SER12317270131", "]d2 (01)00361414567894(21)SER12317270131 => urn:epc:id:sgtin:0361414.056789.SER12317270131"),
    ("]d2010036141456789421SER123172701311ABCDEF", "err@21: AI (21) serial is 21 characters, at most 20 allowed"),
    ("]C1010036141456789421ABC", "]C1 (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("]Q3010036141456789421ABC", "]Q3 (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("]e0010036141456789421ABC", "]e0 (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("]J1010036141456789421ABC", "]J1 (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("]d1010036141456789421ABC", "err@0: symbology identifier ]d1 says this is not a GS1 symbol (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"),
    ("]Q1010036141456789421ABC", "err@0: symbology identifier ]Q1 says this is not a GS1 symbol (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"),
    ("]E0012345678905", "err@0: symbology identifier ]E0 says this is not a GS1 symbol (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"),
    ("]C0010036141456789421ABC", "err@0: symbology identifier ]C0 says this is not a GS1 symbol (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"),
    ("]d", "err@0: symbology identifier ]d says this is not a GS1 symbol (GS1 data starts with ]C1, ]d2, ]e0, ]J1 or ]Q3)"),
    ("]d2", "err@3: the code is empty"),
    ("]d2\x1d\r\n", "err@4: the code is empty"),
    ("\x1d", "err@1: the code is empty"),
    // Without symbology identifier.
    ("010036141456789421ABC", "raw (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("\x1d010036141456789421ABC", "raw (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("  010036141456789421ABC\n", "raw (01)00361414567894(21)ABC => urn:epc:id:sgtin:0361414.056789.ABC"),
    ("00003614145000000013", "raw (00)003614145000000013 => urn:epc:id:sscc:0361414.0500000001"),
    ("00003614145000000013\x1d", "raw (00)003614145000000013 => urn:epc:id:sscc:0361414.0500000001"),
    ("00003614145000000012", "err@2: SSCC check digit should be 3, got 2"),
    ("0000361414500000001", "err@2: AI (00) SSCC is 17 characters, exactly 18 required"),
    ("0000361414500000001\x1d", "err@2: AI (00) SSCC is 17 characters, exactly 18 required"),
    ("0000361414500000001321X", "err@20: AI (21) needs AI (01), (03) or (8006) in the same code"),
    // Check digits, lengths, characters.
    ("]d2010036141456789721ABC", "err@5: GTIN check digit should be 4, got 7"),
    ("]d201003614145678921ABC", "err@5: GTIN check digit should be 4, got 2"),
    ("]d20100361414567894", "]d2 (01)00361414567894"),
    ("]d2010036141456789", "err@5: AI (01) GTIN is 13 characters, exactly 14 required"),
    ("]d201003614145678X421ABC", "err@17: AI (01) GTIN contains 'X', which is not allowed (digits only)"),
    ("]d2010036141456789421AB C", "err@23: AI (21) serial contains ' ', which is not allowed (GS1 character set 82)"),
    ("]d2010036141456789421AB#C", "err@23: AI (21) serial contains '#', which is not allowed (GS1 character set 82)"),
    ("]d2010036141456789421AB\x1eC", "err@23: AI (21) serial contains '\\u{1e}', which is not allowed (GS1 character set 82)"),
    ("]d2010036141456789421\x1d", "err@21: AI (21) serial is 0 characters, at least 1 required"),
    ("]d2010036141456789421123456789012345678901", "err@21: AI (21) serial is 21 characters, at most 20 allowed"),
    ("]d2010036141456789421ABCDEFGHIJKLMNOPQRSTUVW", "err@21: AI (21) serial is 23 characters, at most 20 allowed"),
    ("]d201003614145678942112345678901234567890", "]d2 (01)00361414567894(21)12345678901234567890 => urn:epc:id:sgtin:0361414.056789.12345678901234567890"),
    ("]d2010036141456789421!\"%&'()*+,-./:;<=>?_", "]d2 (01)00361414567894(21)!\"%&'()*+,-./:;<=>?_ => urn:epc:id:sgtin:0361414.056789.!%22%25%26'()*+,-.%2F:;%3C=%3E%3F_"),
    // Dates.
    ("]d20100361414567894172701002110", "]d2 (01)00361414567894(17)270100(21)10 => urn:epc:id:sgtin:0361414.056789.10"),
    ("]d2010036141456789417270132211", "err@21: AI (17) day 32 is not a date"),
    ("]d2010036141456789417271301211", "err@21: AI (17) month 13 is not a month"),
    ("]d2010036141456789417250229211", "err@21: AI (17) day 29 is not a date in 2025-02"),
    ("]d2010036141456789417280229211", "]d2 (01)00361414567894(17)280229(21)1 => urn:epc:id:sgtin:0361414.056789.1"),
    ("]d20100361414567894172701", "err@21: AI (17) expiry date is 4 characters, exactly 6 required"),
    ("]d201003614145678941127A101211", "err@23: AI (11) production date contains 'A', which is not allowed (digits only)"),
    ("]d2010036141456789411250100211", "]d2 (01)00361414567894(11)250100(21)1 => urn:epc:id:sgtin:0361414.056789.1"),
    ("]d2010036141456789411250431211", "err@21: AI (11) day 31 is not a date in 2025-04"),
    ("]d2010036141456789421S\x1d70032701312359", "]d2 (01)00361414567894(21)S(7003)2701312359 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1d70032701312460", "err@33: AI (7003) hour 24 is not a time"),
    ("]d2010036141456789421S\x1d70032701002359", "err@27: AI (7003) day 00 is not a date"),
    ("]d2010036141456789421S\x1d7003270131", "err@27: AI (7003) EXPIRY TIME is 6 characters, exactly 10 required"),
    // Other pharma AIs.
    ("]d2010036141456789421S\x1d240ADD-1", "]d2 (01)00361414567894(21)S(240)ADD-1 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1d241CUST/42", "]d2 (01)00361414567894(21)S(241)CUST/42 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1d2401234567890123456789012345678901", "err@26: AI (240) ADDITIONAL ID is 31 characters, at most 30 allowed"),
    ("]d2010036141456789421S\x1d250SEC-9", "]d2 (01)00361414567894(21)S(250)SEC-9 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d20100361414567894250SEC-9", "err@19: AI (250) needs AI (21) in the same code"),
    ("]d2414036141400000125412", "]d2 (414)0361414000001(254)12 => urn:epc:id:sgln:0361414.00000.12"),
    ("]d24140361414000001", "]d2 (414)0361414000001 => urn:epc:id:sgln:0361414.00000.0"),
    ("]d24140361414000002", "err@6: GLN check digit should be 1, got 2"),
    ("]d225412", "err@3: AI (254) needs AI (414) in the same code"),
    ("]d2010036141456789421S\x1d710PZN12345", "]d2 (01)00361414567894(21)S(710)PZN12345 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1d711CIP-1\x1d712CN1\x1d713DRN1\x1d714AIM1\x1d715NDC1", "]d2 (01)00361414567894(21)S(711)CIP-1(712)CN1(713)DRN1(714)AIM1(715)NDC1 => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1d715123456789012345678901", "err@26: AI (715) NHRN NDC is 21 characters, at most 20 allowed"),
    ("]d2715NDC1", "err@3: AI (715) needs AI (01) in the same code"),
    ("]d2010036141456789402003614145678942110", "err@19: AI (02) cannot be used together with AI (01)"),
    ("]d2010036141456789421S\x1d21T", "err@23: AI (21) appears more than once"),
    ("]d2990036141456789421S", "]d2 (99)0036141456789421S"),
    ("]d2050036141456789421S", "err@3: (05) is not a GS1 application identifier"),
    ("]d2010036141456789421S\x1d3106000100", "err@23: (3106) is not a GS1 application identifier"),
    ("]d201003614145678943103000100\x1d21S", "]d2 (01)00361414567894(3103)000100(21)S => urn:epc:id:sgtin:0361414.056789.S"),
    ("]d2010036141456789421S\x1dAB", "err@23: expected a GS1 AI at 'AB'"),
    ("]d20", "err@3: expected a GS1 AI at '0'"),
    ("]d2010036141456789421Sé", "err@22: AI (21) serial contains 'é', which is not allowed (GS1 character set 82)"),
];

#[test]
fn scanner_cases() {
    super::run_cases(CASES);
}

#[test]
fn invalid_utf8_bytes_are_errors() {
    let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
    let e = super::parse_scan(b"]d2010036141456789421A\xffB", today).unwrap_err();
    assert_eq!((e.position, e.code()), (22, "bad_character"));
    let e = super::parse_scan(b"(01)00361414567894(21)\xff", today).unwrap_err();
    assert_eq!((e.position, e.code()), (22, "malformed"));
    let e = super::parse_scan(b"\xff", today).unwrap_err();
    assert_eq!((e.position, e.code()), (0, "malformed"));
}
