//! GS1 Digital Link URIs: `https://{any host}/{optional prefix}/01/{gtin}
//! /21/{serial}?17=…&10=…`, as printed in QR codes and sent by web systems.
//!
//! The primary key is the first path segment that is a Digital Link key AI
//! (`dlpkey` in the dictionary) followed by pairs up to the end of the
//! path; whatever comes before it is the resolver's own prefix. Key
//! qualifiers must follow the dictionary's order (`/01/…/22/…/10/…/21/…`).
//! Query parameters whose name is a numeric AI are data attributes (the AI
//! must carry the dictionary's `?` flag); all other parameters are ignored.
//! Values are percent-decoded. GTINs in the path may be 8, 12 or 13 digits
//! and are padded to 14.

use chrono::NaiveDate;

use super::ai_rules::At;
use super::ai_table::{AiEntry, table};
use super::element::Found;
use super::error::{ParseError, ParseErrorKind};

fn dl_error(pos: usize, problem: impl Into<String>) -> ParseError {
    ParseError::new(
        pos,
        ParseErrorKind::DigitalLink {
            problem: problem.into(),
        },
    )
}

/// Decodes `%XX` escapes; `pos` is where `s` starts in the input.
fn percent_decode(s: &str, pos: usize) -> Result<String, ParseError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            let byte =
                byte.ok_or_else(|| dl_error(pos + i, "'%' must be followed by two hex digits"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| dl_error(pos, "a percent-encoded value is not UTF-8"))
}

fn is_ai(s: &str) -> bool {
    (2..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A Digital Link key entry for path segment `s`, if it is one.
fn key_entry(s: &str) -> Option<&'static AiEntry> {
    table()
        .get(s.as_bytes())
        .filter(|e| is_ai(s) && e.dlpkey.is_some())
}

/// Parses a Digital Link URI (scheme already recognised) that starts at
/// byte `base` of the input.
pub(crate) fn parse_digital_link(
    uri: &str,
    base: usize,
    today: NaiveDate,
) -> Result<Vec<Found<'static>>, ParseError> {
    let t = table();
    let scheme_end = uri.find("://").map_or(0, |i| i + 3);
    let uri = uri.split('#').next().unwrap_or_default();
    let (path_end, query) = match uri.find('?') {
        Some(q) => (q, &uri[q + 1..]),
        None => (uri.len(), ""),
    };
    let host_end = uri[scheme_end..path_end]
        .find('/')
        .map_or(path_end, |i| scheme_end + i);
    // Segments after the host, with their byte offsets.
    let mut segments: Vec<(usize, &str)> = Vec::new();
    let mut at = host_end;
    while at < path_end {
        let start = at + 1;
        let end = uri[start..path_end]
            .find('/')
            .map_or(path_end, |i| start + i);
        segments.push((start, &uri[start..end]));
        at = end;
    }
    if segments.last().is_some_and(|(_, s)| s.is_empty()) {
        segments.pop(); // trailing slash
    }
    let n = segments.len();
    let Some(k) = (0..n).find(|&k| (n - k) % 2 == 0 && key_entry(segments[k].1).is_some()) else {
        return Err(dl_error(
            base + host_end,
            "no GS1 primary key such as /01/{GTIN} or /00/{SSCC} in the path",
        ));
    };
    let mut out = Vec::with_capacity(6);
    let key = key_entry(segments[k].1).and_then(|e| e.dlpkey.as_ref());
    let mut seq: Option<(usize, usize)> = None; // (alternative, index of last qualifier)
    for pair in segments[k..].chunks(2) {
        let [(ai_pos, ai), (value_pos, raw)] = [pair[0], pair[1]];
        let entry = t.get(ai.as_bytes()).filter(|_| is_ai(ai));
        let entry = entry.ok_or_else(|| {
            ParseError::new(
                base + ai_pos,
                ParseErrorKind::UnknownAi { ai: ai.to_string() },
            )
        })?;
        if !out.is_empty() {
            seq = Some(
                qualifier(key.map_or(&[][..], Vec::as_slice), ai, seq).ok_or_else(|| {
                    let key_ai = segments[k].1;
                    dl_error(
                        base + ai_pos,
                        format!("/{ai}/ is not allowed after /{key_ai}/ at this place in the path"),
                    )
                })?,
            );
        }
        let mut value = percent_decode(raw, base + value_pos)?;
        if ai == "01" && matches!(value.len(), 8 | 12 | 13) {
            value = format!("{value:0>14}");
        }
        let at = At {
            pos: base + value_pos,
            exact: !raw.contains('%') && raw.len() == value.len(),
        };
        out.push(Found::new(ai, entry, value, base + ai_pos, at, today)?);
    }
    let mut offset = path_end + 1;
    for param in query.split('&') {
        let (name, raw) = param.split_once('=').unwrap_or((param, ""));
        let pos = base + offset;
        offset += param.len() + 1;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue; // not an AI: ignored, as the standard asks
        }
        let entry = t.get(name.as_bytes()).filter(|_| is_ai(name));
        let entry = entry.ok_or_else(|| {
            ParseError::new(
                pos,
                ParseErrorKind::UnknownAi {
                    ai: name.to_string(),
                },
            )
        })?;
        if !entry.dl_attr {
            return Err(dl_error(
                pos,
                format!("AI ({name}) is not allowed as a query attribute"),
            ));
        }
        let value_pos = pos + name.len() + 1;
        let value = percent_decode(raw, value_pos)?;
        let at = At {
            pos: value_pos,
            exact: !raw.contains('%'),
        };
        out.push(Found::new(name, entry, value, pos, at, today)?);
    }
    Ok(out)
}

/// Whether qualifier `ai` may follow the previous qualifier (`prev`) in
/// one of the key's allowed sequences; returns the new position.
fn qualifier(
    seqs: &[Vec<&'static str>],
    ai: &str,
    prev: Option<(usize, usize)>,
) -> Option<(usize, usize)> {
    seqs.iter().enumerate().find_map(|(a, seq)| {
        let from = match prev {
            Some((pa, pi)) if pa == a => pi + 1,
            Some(_) => return None,
            None => 0,
        };
        seq.get(from..)?
            .iter()
            .position(|q| *q == ai)
            .map(|i| (a, from + i))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    /// Digital Link URIs: input, then the elements or `err@position: message`.
    #[rustfmt::skip]
    pub(crate) const CASES: &[(&str, &str)] = &[
        ("https://id.gs1.org/01/00361414567894/21/ABC123", "dl (01)00361414567894(21)ABC123 => urn:epc:id:sgtin:0361414.056789.ABC123"),
        ("https://id.gs1.org/01/00361414567894/10/L1/21/ABC123?17=270131", "dl (01)00361414567894(10)L1(21)ABC123(17)270131 => urn:epc:id:sgtin:0361414.056789.ABC123"),
        ("https://example.com/01/00361414567894/21/S1?17=270100&10=LOT-7", "dl (01)00361414567894(21)S1(17)270100(10)LOT-7 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("http://example.com/01/00361414567894/21/S1", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("HTTPS://EXAMPLE.COM/01/00361414567894/21/S1", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://brand.example/products/pharma/01/00361414567894/21/S1", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/0361414567894/21/S1", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/12345670/21/S1", "dl (01)00000012345670(21)S1 => urn:epc:id:sgtin:0000012.034567.S1"),
        ("https://example.com/01/00361414567894/21/A%2FB%25C", "dl (01)00361414567894(21)A/B%C => urn:epc:id:sgtin:0361414.056789.A%2FB%25C"),
        ("https://example.com/01/00361414567894/21/%22%26%3C%3E%3F", "dl (01)00361414567894(21)\"&<>? => urn:epc:id:sgtin:0361414.056789.%22%26%3C%3E%3F"),
        ("https://example.com/01/00361414567894/21/S1/", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/00361414567894/21/S1?utm_source=x&17=270131#frag", "dl (01)00361414567894(21)S1(17)270131 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/00361414567894/21/S1?linkType=gs1:pip&x", "dl (01)00361414567894(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/00361414567894?17=270131", "dl (01)00361414567894(17)270131"),
        ("https://example.com/00/003614145000000013", "dl (00)003614145000000013 => urn:epc:id:sscc:0361414.0500000001"),
        ("https://example.com/414/0361414000001/254/A1", "dl (414)0361414000001(254)A1 => urn:epc:id:sgln:0361414.00000.A1"),
        ("https://example.com/01/00361414567894/22/V1/10/L1/21/S1", "dl (01)00361414567894(22)V1(10)L1(21)S1 => urn:epc:id:sgtin:0361414.056789.S1"),
        ("https://example.com/01/00361414567894/21/S1/10/L1", "err@44: GS1 Digital Link: /10/ is not allowed after /01/ at this place in the path"),
        ("https://example.com/00/003614145000000013/21/S1", "err@42: GS1 Digital Link: /21/ is not allowed after /00/ at this place in the path"),
        ("https://example.com/products/abc", "err@19: GS1 Digital Link: no GS1 primary key such as /01/{GTIN} or /00/{SSCC} in the path"),
        ("https://example.com", "err@19: GS1 Digital Link: no GS1 primary key such as /01/{GTIN} or /00/{SSCC} in the path"),
        ("https://example.com/01/00361414567897/21/S1", "err@23: GTIN check digit should be 4, got 7"),
        ("https://example.com/01/00361414567894/21/S1?17=270132", "err@47: AI (17) day 32 is not a date"),
        ("https://example.com/01/00361414567894/21/S1?21=X", "err@44: GS1 Digital Link: AI (21) is not allowed as a query attribute"),
        ("https://example.com/01/00361414567894/21/S1?99999=X", "err@44: (99999) is not a GS1 application identifier"),
        ("https://example.com/01/00361414567894/21/S1?10=L1&10=L2", "err@50: AI (10) appears more than once"),
        ("https://example.com/01/00361414567894/21/A%2", "err@42: GS1 Digital Link: '%' must be followed by two hex digits"),
        ("https://example.com/01/00361414567894/21/A%20B", "err@41: AI (21) serial contains ' ', which is not allowed (GS1 character set 82)"),
        ("https://example.com/01/00361414567894/21/123456789012345678901", "err@41: AI (21) serial is 21 characters, at most 20 allowed"),
        ("https://example.com/01/00361414567894/21/S1?02=00361414567894", "err@44: AI (02) cannot be used together with AI (01)"),
        ("https://example.com/01/00361414567894/21/S1?7003=2701311530", "dl (01)00361414567894(21)S1(7003)2701311530 => urn:epc:id:sgtin:0361414.056789.S1"),
    ];

    #[test]
    fn digital_link_cases() {
        super::super::run_cases(CASES);
    }

    #[test]
    fn qualifier_order() {
        let seqs = vec![vec!["22", "10", "21"], vec!["235"]];
        assert_eq!(super::qualifier(&seqs, "10", None), Some((0, 1)));
        assert_eq!(super::qualifier(&seqs, "21", Some((0, 1))), Some((0, 2)));
        assert_eq!(super::qualifier(&seqs, "10", Some((0, 2))), None);
        assert_eq!(super::qualifier(&seqs, "235", Some((0, 0))), None);
        assert_eq!(super::qualifier(&seqs, "235", None), Some((1, 0)));
        assert_eq!(super::qualifier(&[], "21", None), None);
    }
}
