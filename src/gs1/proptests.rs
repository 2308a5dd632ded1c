//! Property tests over the whole parser: every valid (GTIN, serial) and
//! every valid SSCC survives element string → parse → EPC URI → parse in
//! every input form and with every company-prefix length, and no byte
//! string whatsoever makes `parse_scan` panic.
//!
//! The case tables pin down behaviour on chosen inputs; these tests cover
//! the space between them (all of CSET 82 in serials, all prefix lengths).

use chrono::NaiveDate;
use proptest::prelude::*;

use super::ai_rules::in_cset;
use super::ai_table::Cset;
use super::{Identifier, check_digit, parse_scan};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
}

/// `body` digits plus their check digit.
fn with_check_digit(body: String) -> String {
    let cd = check_digit(&body).unwrap();
    format!("{body}{cd}")
}

fn gtin() -> impl Strategy<Value = String> {
    "[0-9]{13}".prop_map(with_check_digit)
}

fn sscc() -> impl Strategy<Value = String> {
    "[0-9]{17}".prop_map(with_check_digit)
}

fn cset82() -> Vec<char> {
    (0u8..128)
        .filter(|&b| in_cset(Cset::X, b))
        .map(char::from)
        .collect()
}

fn serial() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(cset82()), 1..=20)
        .prop_map(|chars| chars.into_iter().collect())
}

/// The (GTIN, serial) of a scan's SGTIN, if it has one.
fn sgtin_of(input: &[u8]) -> Option<(String, String, Option<usize>)> {
    let code = parse_scan(input, today()).ok()?.code?;
    match code.id {
        Identifier::Sgtin(s) => Some((s.gtin.to_string(), s.serial.to_string(), code.gcp_len)),
        Identifier::Sscc(_) => None,
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sgtins_round_trip(gtin in gtin(), serial in serial(), gcp_len in 6usize..=12, lot in proptest::option::of("[A-Z0-9]{1,20}")) {
        let mut raw = format!("]d201{gtin}");
        if let Some(lot) = &lot {
            raw += &format!("10{lot}\x1d");
        }
        raw += &format!("21{serial}");
        let bracketed = format!("(01){gtin}(21){}", serial.replace('(', "\\("));
        let link = format!("https://example.com/a/b/01/{gtin}/21/{}", percent_encode(&serial));
        let expected = Some((gtin.clone(), serial.clone(), None));
        for input in [&raw, &format!("{raw}\x1d\r\n"), &bracketed, &link] {
            prop_assert_eq!(sgtin_of(input.as_bytes()), expected.clone(), "{:?}", input);
        }
        let code = parse_scan(raw.as_bytes(), today()).unwrap().code.unwrap();
        prop_assert_eq!(code.lot.map(|l| l.to_string()), lot);
        let uri = code.id.epc_uri(gcp_len).unwrap();
        prop_assert_eq!(sgtin_of(uri.as_bytes()), Some((gtin, serial, Some(gcp_len))));
    }

    #[test]
    fn ssccs_round_trip(sscc in sscc(), gcp_len in 6usize..=12) {
        for input in [format!("]C100{sscc}"), format!("00{sscc}\x1d"), format!("(00){sscc}"), format!("https://x.example/00/{sscc}")] {
            let code = parse_scan(input.as_bytes(), today()).unwrap().code.unwrap();
            prop_assert_eq!(code.id.key(), format!("(00){sscc}"));
            let uri = code.id.epc_uri(gcp_len).unwrap();
            let again = parse_scan(uri.as_bytes(), today()).unwrap().code.unwrap();
            prop_assert_eq!(again.id, code.id);
            prop_assert_eq!(again.gcp_len, Some(gcp_len));
        }
    }

    #[test]
    fn any_bytes_are_ok_or_err(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse_scan(&bytes, today());
    }

    #[test]
    fn mutated_codes_are_ok_or_err(at in 0usize..60, byte in any::<u8>(), prefix in 0usize..5) {
        let seeds: [&[u8]; 5] = [
            b"]d201003614145678941727013110LOT-7\x1d21SER123",
            b"(01)00361414567894(17)270100(10)L-1(21)S/1",
            b"https://id.gs1.org/01/00361414567894/21/A%2F?17=270131",
            b"urn:epc:id:sgln:0361414.00000.A%2F1",
            b"]d2414036141400000125412\x1d",
        ];
        let mut input = seeds[prefix].to_vec();
        let at = at.min(input.len());
        input.insert(at, byte);
        if let Ok(scan) = parse_scan(&input, today()) {
            if let Some(code) = scan.code {
                prop_assert!(code.id.epc_uri(7).is_ok());
            }
        }
        input.truncate(at);
        let _ = parse_scan(&input, today());
    }
}

#[test]
fn cset82_is_82_characters() {
    assert_eq!(cset82().len(), 82);
}
