//! `parse_code`: turns whatever an operator, a scanner bridge or an upstream
//! system hands linegate for one item or container into a validated
//! [`Code`]. Two input forms are understood: bracketed GS1 element strings
//! (`(01)…(21)…[(10)…][(17)…]` or `(00)…`) and EPC pure-identity URIs.
//!
//! The element-string parser is table-driven: it splits the input into
//! `(AI, value)` pairs, looks each AI up in `AIS` and only then maps the
//! values onto the fields of `Code`. Supporting more AIs means adding rows
//! to the table and a `Field` for each. Raw scanner data (FNC1/GS
//! separated, AIM symbology prefixes) is deliberately not handled here yet.

use chrono::NaiveDate;

use super::epc_uri::parse_epc_uri;
use super::expiry::Expiry;
use super::keys::{Gtin, Identifier, Lot, Serial, Sgtin, Sscc};
use super::{Gs1Error, shown};

/// A scanned or received code: the serialised identifier plus the
/// attributes that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub id: Identifier,
    pub lot: Option<Lot>,
    pub expiry: Option<Expiry>,
    /// Company-prefix length when the input said it (EPC URIs); `None` for
    /// element strings, where configuration decides.
    pub gcp_len: Option<usize>,
}

/// Which part of a [`Code`] an AI fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Sscc,
    Gtin,
    Lot,
    Expiry,
    Serial,
}

/// One application identifier, as in the GS1 Barcode Syntax Dictionary.
struct AiDef {
    ai: &'static str,
    /// Human name used in error messages.
    name: &'static str,
    /// Length of predefined-length AIs (no FNC1 separator needed).
    fixed_len: Option<usize>,
    field: Field,
}

const fn ai(ai: &'static str, name: &'static str, fixed_len: Option<usize>, field: Field) -> AiDef {
    AiDef {
        ai,
        name,
        fixed_len,
        field,
    }
}

/// The AIs linegate accepts. Content rules (check digits, CSET 82, dates)
/// are enforced by the types each [`Field`] is parsed into.
const AIS: &[AiDef] = &[
    ai("00", "SSCC", Some(18), Field::Sscc),
    ai("01", "GTIN", Some(14), Field::Gtin),
    ai("10", "lot", None, Field::Lot),
    ai("17", "expiry date", Some(6), Field::Expiry),
    ai("21", "serial", None, Field::Serial),
];

struct Element {
    def: &'static AiDef,
    value: String,
}

/// Parses one code; `today` anchors the century of two-digit years.
/// Leading and trailing ASCII whitespace is ignored.
pub fn parse_code(input: &str, today: NaiveDate) -> Result<Code, Gs1Error> {
    let s = input.trim_matches(|c: char| c.is_ascii_whitespace());
    if s.starts_with('(') {
        let elements = split_elements(s)?;
        return assemble(s, &elements, today);
    }
    if s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        let (id, gcp_len) = parse_epc_uri(s)?;
        return Ok(Code {
            id,
            lot: None,
            expiry: None,
            gcp_len: Some(gcp_len),
        });
    }
    let reason = if s.is_empty() {
        "it is empty"
    } else {
        "expected a bracketed element string such as (01)…(21)… or (00)…, \
         or an EPC URI urn:epc:id:sgtin:… or urn:epc:id:sscc:…"
    };
    Err(Gs1Error::malformed("code", s, reason))
}

/// If `s` starts with a bracketed AI such as `(01)`, returns the AI digits
/// and the text after the closing bracket.
fn ai_at(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('(')?;
    let (close, _) = inner.char_indices().take(5).find(|&(_, c)| c == ')')?;
    let ai = &inner[..close];
    let ok = ai.len() >= 2 && ai.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| (ai, &inner[close + 1..]))
}

/// Reads an AI value up to the next bracketed AI. `\(` stands for a literal
/// `(`; a `(` that does not open an AI is kept as data.
fn take_value(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        if c == '\\' && s[i + 1..].starts_with('(') {
            value.push('(');
            i += 2;
            continue;
        }
        if c == '(' && ai_at(&s[i..]).is_some() {
            return (value, &s[i..]);
        }
        value.push(c);
        i += c.len_utf8();
    }
    (value, "")
}

/// Splits a bracketed element string into known AIs and their values.
fn split_elements(s: &str) -> Result<Vec<Element>, Gs1Error> {
    let mut elements: Vec<Element> = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some((ai, after)) = ai_at(rest) else {
            let reason = format!(
                "expected an AI of 2 to 4 digits in brackets at '{}'",
                shown(rest)
            );
            return Err(Gs1Error::malformed("element string", s, reason));
        };
        let (value, next) = take_value(after);
        let Some(def) = AIS.iter().find(|d| d.ai == ai) else {
            let what = format!("element string '({ai}){}'", shown(&value));
            return Err(Gs1Error::Unsupported { what });
        };
        if elements.iter().any(|e| e.def.ai == ai) {
            return Err(Gs1Error::malformed(
                "element string",
                s,
                format!("AI ({ai}) appears more than once"),
            ));
        }
        if let Some(len) = def.fixed_len {
            let found = value.chars().count();
            if found != len {
                let (kind, value, expected) =
                    (def.name, shown(&value), format!("{len} digits in ({ai})"));
                return Err(Gs1Error::BadLength {
                    kind,
                    value,
                    found,
                    expected,
                });
            }
        }
        elements.push(Element { def, value });
        rest = next;
    }
    Ok(elements)
}

/// Validates the values and checks that the AIs form an identifier linegate
/// handles: (01)+(21) with optional (10)/(17), or (00) alone.
fn assemble(s: &str, elements: &[Element], today: NaiveDate) -> Result<Code, Gs1Error> {
    let (mut sscc, mut gtin, mut serial, mut lot, mut expiry) = (None, None, None, None, None);
    for e in elements {
        match e.def.field {
            Field::Sscc => sscc = Some(Sscc::parse(&e.value)?),
            Field::Gtin => gtin = Some(Gtin::parse(&e.value)?),
            Field::Lot => lot = Some(Lot::parse(&e.value)?),
            Field::Expiry => expiry = Some(Expiry::from_yymmdd(&e.value, today)?),
            Field::Serial => serial = Some(Serial::parse(&e.value)?),
        }
    }
    let id = match (sscc, gtin, serial) {
        (Some(sscc), None, None) if lot.is_none() && expiry.is_none() => Identifier::Sscc(sscc),
        (Some(_), ..) => {
            let other = elements
                .iter()
                .map(|e| e.def.ai)
                .find(|&ai| ai != "00")
                .unwrap_or("?");
            let what = format!("combination of (00) SSCC with ({other}) in '{}'", shown(s));
            return Err(Gs1Error::Unsupported { what });
        }
        (None, Some(gtin), Some(serial)) => Identifier::Sgtin(Sgtin { gtin, serial }),
        (None, Some(_), None) => {
            let what = format!("(01) GTIN without (21) serial in '{}'", shown(s));
            return Err(Gs1Error::Unsupported { what });
        }
        (None, None, _) => {
            let first = elements.first().map_or("element string", |e| e.def.name);
            return Err(Gs1Error::malformed(
                "element string",
                s,
                format!("{first} needs (01) GTIN"),
            ));
        }
    };
    Ok(Code {
        id,
        lot,
        expiry,
        gcp_len: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    /// `expected` is the key followed by whichever of lot, expiry and
    /// company-prefix length are present, or the error code.
    fn check(input: &str, expected: Result<&str, &str>) {
        let got = parse_code(input, today()).map_err(|e| e.code()).map(|c| {
            let mut out = c.id.key();
            c.lot.iter().for_each(|l| out += &format!(" lot={l}"));
            c.expiry
                .iter()
                .for_each(|e| out += &format!(" exp={}", e.to_xsd_date()));
            c.gcp_len.iter().for_each(|n| out += &format!(" gcp={n}"));
            out
        });
        assert_eq!(got, expected.map(str::to_string), "{input:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn element_strings() {
        check("(01)00361414567894(21)ABC123", Ok("(01)00361414567894(21)ABC123"));
        check("  (21)ABC123(01)00361414567894\n", Ok("(01)00361414567894(21)ABC123"));
        check("(01)00361414567894(17)270100(10)L-1(21)S/1", Ok("(01)00361414567894(21)S/1 lot=L-1 exp=2027-01-31"));
        check("(01)00361414567894(21)A(B)C", Ok("(01)00361414567894(21)A(B)C"));
        check("(01)00361414567894(21)A\\(10)B", Ok("(01)00361414567894(21)A(10)B"));
        check("(01)00361414567894(21)ABC(", Ok("(01)00361414567894(21)ABC("));
        check("(00)003614145000000013", Ok("(00)003614145000000013"));
        check("(01)00361414567895(21)ABC", Err("check_digit"));
        check("(00)003614145000000012", Err("check_digit"));
        check("(01)0361414567894(21)ABC", Err("bad_length"));
        check("(01)00361414567894(21)", Err("bad_length"));
        check("(01)00361414567894(21)123456789012345678901", Err("bad_length"));
        check("(01)00361414567894(21)ABC(17)2501", Err("bad_length"));
        check("(01)00361414567894(21)AB C", Err("bad_character"));
        check("(01)00361414567894(21)A\\B", Err("bad_character"));
        check("(01)00361414567894(21)ABC(17)251301", Err("bad_date"));
        check("(01)00361414567894(21)ABC(17)250229", Err("bad_date"));
        check("(01)00361414567894", Err("unsupported"));
        check("(01)00361414567894(10)L1", Err("unsupported"));
        check("(00)003614145000000013(10)L1", Err("unsupported"));
        check("(00)003614145000000013(01)00361414567894(21)A", Err("unsupported"));
        check("(01)00361414567894(21)ABC(99)X", Err("unsupported"));
        check("(11)250101", Err("unsupported"));
        check("(21)ABC", Err("malformed"));
        check("(10)L1(17)270101", Err("malformed"));
        check("(01)00361414567894(21)A(21)B", Err("malformed"));
        check("(21)A(21)A(01)00361414567894", Err("malformed"));
        check("(1)X", Err("malformed"));
        check("()", Err("malformed"));
        check("(", Err("malformed"));
        check("(01", Err("malformed"));
        check("(12345)X", Err("malformed"));
    }

    #[test]
    #[rustfmt::skip]
    fn uris_and_other_input() {
        check("urn:epc:id:sgtin:0361414.056789.ABC123", Ok("(01)00361414567894(21)ABC123 gcp=7"));
        check(" urn:epc:id:sscc:0361414.0500000001 ", Ok("(00)003614145000000013 gcp=7"));
        check("urn:epc:id:sgtin:0361414.056789.A%2F", Ok("(01)00361414567894(21)A/ gcp=7"));
        check("urn:epc:id:sgtin:0361414.056789.A/", Err("bad_character"));
        check("urn:epc:id:sgln:0361414.00000.0", Err("unsupported"));
        check("URN:EPC:ID:SGTIN:0361414.056789.1", Err("unsupported"));
        check("urn:", Err("unsupported"));
        check("", Err("malformed"));
        check("   ", Err("malformed"));
        check("010036141456789421ABC", Err("malformed"));
        check("]d2010036141456789421ABC", Err("malformed"));
        check("hello", Err("malformed"));
    }

    #[test]
    #[rustfmt::skip]
    fn error_messages_name_the_ai() {
        let msg = |s: &str| parse_code(s, today()).unwrap_err().to_string();
        assert!(msg("(99)TESTING").starts_with("unsupported element string '(99)TESTING': linegate accepts (01) GTIN"));
        assert!(msg("(01)00361414567894").starts_with("unsupported (01) GTIN without (21) serial in '(01)00361414567894'"));
        assert!(msg("(00)003614145000000013(10)L").starts_with("unsupported combination of (00) SSCC with (10)"));
        assert_eq!(msg("(21)X"), "element string '(21)X' is malformed: serial needs (01) GTIN");
        assert_eq!(msg("(21)X(21)Y"), "element string '(21)X(21)Y' is malformed: AI (21) appears more than once");
        assert_eq!(msg("(01)0361414567894(21)A"), "GTIN '0361414567894' has 13 characters, expected 14 digits in (01)");
    }

    #[test]
    fn malformed_input_never_panics() {
        let seeds = [
            "(01)00361414567894(17)270100(10)L-1(21)S/1",
            "(00)003614145000000013",
            "urn:epc:id:sgtin:0361414.056789.A%2FB%25C",
            "urn:epc:id:sscc:0361414.0500000001",
            "urn:epc:id:sgln:0361414.00000.0",
        ];
        let junk = [
            "", "(", ")", "\\", "%", "%2", ".", ":", "\u{1d}", "é", "😀", "0", "\0",
        ];
        let mut tried = 0;
        for seed in seeds {
            for (i, _) in seed.char_indices().chain([(seed.len(), ' ')]) {
                let (head, tail) = seed.split_at(i);
                for j in junk {
                    for s in [
                        format!("{head}{j}{tail}"),
                        format!("{head}{j}"),
                        format!("{j}{tail}"),
                    ] {
                        if let Ok(code) = parse_code(&s, today()) {
                            (0..=14).for_each(|n| drop(code.id.epc_uri(n)));
                        }
                        let _ = super::super::validate_sgln_uri(&s);
                        tried += 1;
                    }
                }
            }
        }
        assert!(tried > 5000);
        let long = "(21)".repeat(1000) + &"9".repeat(10_000);
        assert!(parse_code(&long, today()).is_err());
    }
}
