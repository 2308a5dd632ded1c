//! Fuzz target: `gs1::parse_scan` must return `Ok` or `Err` for any bytes —
//! never panic, never hang — and whatever it accepts must convert to EPC
//! URIs and re-parse to the same identifier.
//!
//! The parser takes untrusted scanner and network input on every line, so
//! this complements the proptests with coverage-guided search. Run from the
//! repository root: `cargo +nightly fuzz run element_string`.

#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use linegate::gs1::parse_scan;

fuzz_target!(|data: &[u8]| {
    let Some(today) = NaiveDate::from_ymd_opt(2025, 6, 15) else {
        return;
    };
    let Ok(scan) = parse_scan(data, today) else {
        return;
    };
    let _ = scan.form.label();
    if let Some(code) = scan.code {
        for gcp_len in 6..=12 {
            let uri = code
                .id
                .epc_uri(gcp_len)
                .expect("a parsed identifier has a URI");
            let again = parse_scan(uri.as_bytes(), today).expect("its own URI parses");
            assert_eq!(again.code.map(|c| c.id), Some(code.id.clone()), "{uri}");
        }
    }
    if let Some((gln, extension)) = scan.sgln {
        let uri = gln
            .sgln_uri(7, extension.as_deref())
            .expect("a parsed GLN has a URI");
        let again = parse_scan(uri.as_bytes(), today).expect("its own SGLN parses");
        // (254) "0" and no (254) share one URI: TDS writes a missing extension as 0.
        let extension = extension.filter(|e| e != "0");
        assert_eq!(again.sgln, Some((gln, extension)), "{uri}");
    }
});
