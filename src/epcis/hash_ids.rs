//! Identifiers in the event hash (`hash.rs`): EPC pure-identity, class and pattern URIs become
//! canonical GS1 Digital Link URIs (the EPC-to-GS1-key rules of the GS1 Tag Data Standard), and
//! Digital Link URIs on any domain are constrained: `https://id.gs1.org`, no query string, short
//! key names as Application Identifiers, GTINs padded to 14 digits, no CPV (AI 22), only the
//! finest key (a serial drops the lot). A value that does not fit any of these stays as it is,
//! exactly as in the reference implementation.

use crate::gs1::check_digit;

const DL: &str = "https://id.gs1.org";

/// The constrained canonical GS1 Digital Link URI for an EPC URI or a Digital Link URI.
pub(super) fn digital_link(text: &str) -> Option<String> {
    if let Some(rest) = text.strip_prefix("urn:epc:") {
        epc(rest)
    } else if text.starts_with("https://") || text.starts_with("http://") {
        web(text)
    } else {
        None
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `body` + its GS1 check digit.
fn checked(body: &str) -> Option<String> {
    let d = check_digit(body)?;
    let mut out = String::with_capacity(body.len() + 1);
    out.push_str(body);
    out.push(char::from(b'0' + d));
    Some(out)
}

/// Splits `C.R[.rest]`: C a company prefix (6–12 digits), R digits, together `total` digits.
fn keyed(body: &str, total: usize) -> Option<(&str, &str, Option<&str>)> {
    let (company, after) = body.split_once('.')?;
    let (reference, rest) = match after.split_once('.') {
        Some((r, rest)) => (r, Some(rest)),
        None => (after, None),
    };
    let ok = digits(company)
        && (6..=12).contains(&company.len())
        && reference.bytes().all(|b| b.is_ascii_digit())
        && company.len() + reference.len() == total;
    ok.then_some((company, reference, rest))
}

/// Appends the GTIN-14 of a company prefix and the indicator digit + item reference to `out`.
fn push_gtin(out: &mut String, company: &str, indicator_item: &str) -> Option<()> {
    let (indicator, item) = indicator_item.split_at_checked(1)?;
    let start = out.len();
    out.push_str(indicator);
    out.push_str(company);
    out.push_str(item);
    let d = check_digit(&out[start..])?;
    out.push(char::from(b'0' + d));
    Some(())
}

/// GTIN-14 from a company prefix and the indicator digit + item reference.
fn gtin(company: &str, indicator_item: &str) -> Option<String> {
    let (indicator, item) = indicator_item.split_at_checked(1)?;
    let mut body = String::with_capacity(14);
    body.push_str(indicator);
    body.push_str(company);
    body.push_str(item);
    let d = check_digit(&body)?;
    body.push(char::from(b'0' + d));
    Some(body)
}

/// An EPC URI component of 1..=`max` characters: the EPC URI's literal characters, or
/// `%xx` escapes of GS1 AI encodable set 82.
fn component(s: &str, max: usize) -> bool {
    let literal = |b: u8| b.is_ascii_alphanumeric() || b"!'()*+,.:;=_-".contains(&b);
    let escaped = |v: u8| matches!(v, 0x21 | 0x22 | 0x25..=0x3f | 0x41..=0x5a | 0x5f | 0x61..=0x7a);
    count(s, literal, escaped).is_some_and(|n| (1..=max).contains(&n))
}

/// A CPI component reference: digits, capitals, `-`, or escapes of `#`, `-`, `/`.
fn cpi_component(s: &str, max: usize) -> bool {
    let literal = |b: u8| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'-';
    let escaped = |v: u8| matches!(v, 0x23 | 0x2d | 0x2f | 0x30..=0x39 | 0x41..=0x5a);
    count(s, literal, escaped).is_some_and(|n| (1..=max).contains(&n))
}

/// Characters in `s`, an escape counting as one; `None` if one is not allowed.
fn count(s: &str, literal: impl Fn(u8) -> bool, escaped: impl Fn(u8) -> bool) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            escaped(u8::from_str_radix(hex, 16).ok()?).then_some(())?;
            i += 3;
        } else {
            literal(bytes[i]).then_some(())?;
            i += 1;
        }
        n += 1;
    }
    Some(n)
}

/// Escapes the characters GS1 Digital Link requires escaped that EPC URIs write literally.
fn dl_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['!', '(', ')', '*', '+', ',', ':']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '!' | '(' | ')' | '*' | '+' | ',' | ':' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `urn:epc:` + `id:…`, `class:lgtin:…` or `idpat:…` as a Digital Link URI (GS1 TDS 2.x).
fn epc(rest: &str) -> Option<String> {
    let (form, rest) = rest.split_once(':')?;
    let (scheme, body) = rest.split_once(':')?;
    match (form, scheme) {
        ("id", _) => epc_id(scheme, body),
        ("class", "lgtin") => {
            let (c, ir, lot) = keyed(body, 13)?;
            let lot = lot.filter(|l| component(l, 20))?;
            Some(format!("{DL}/01/{}/10/{}", gtin(c, ir)?, dl_escape(lot)))
        }
        ("idpat", _) => epc_pattern(scheme, body),
        _ => None,
    }
}

/// Pure-identity EPC URIs (`urn:epc:id:<scheme>:<body>`).
fn epc_id(scheme: &str, body: &str) -> Option<String> {
    let company = |c: &str| digits(c) && (6..=12).contains(&c.len());
    let path = match scheme {
        "sgtin" => {
            let (c, ir, serial) = keyed(body, 13)?;
            let serial = serial.filter(|s| component(s, 20))?;
            // The commonest identifier of all (a million per batch): built without format!.
            let mut dl = String::with_capacity(DL.len() + 26 + serial.len());
            dl.push_str(DL);
            dl.push_str("/01/");
            push_gtin(&mut dl, c, ir)?;
            dl.push_str("/21/");
            dl.push_str(&dl_escape(serial));
            return Some(dl);
        }
        "sscc" => {
            let (c, sr, None) = keyed(body, 17)? else {
                return None;
            };
            let (extension, serial) = sr.split_at_checked(1)?;
            format!("00/{}", checked(&format!("{extension}{c}{serial}"))?)
        }
        "sgln" => {
            let (c, l, extension) = keyed(body, 12)?;
            let extension = extension.filter(|e| component(e, 20))?;
            let gln = checked(&format!("{c}{l}"))?;
            match extension {
                "0" => format!("414/{gln}"),
                e => format!("414/{gln}/254/{}", dl_escape(e)),
            }
        }
        "pgln" | "gsrn" | "gsrnp" | "gsin" => {
            let (ai, total) = match scheme {
                "pgln" => ("417", 12),
                "gsrn" => ("8018", 17),
                "gsrnp" => ("8017", 17),
                _ => ("402", 16),
            };
            let (c, r, None) = keyed(body, total)? else {
                return None;
            };
            format!("{ai}/{}", checked(&format!("{c}{r}"))?)
        }
        "grai" | "gdti" | "sgcn" => {
            let (c, r, serial) = keyed(body, 12)?;
            let serial = serial?;
            let (ai, key, ok) = match scheme {
                "grai" => ("8003", format!("0{c}{r}"), component(serial, 16)),
                "gdti" => (
                    "253",
                    format!("{c}{r}"),
                    serial.is_empty() || component(serial, 17),
                ),
                _ => (
                    "255",
                    format!("{c}{r}"),
                    digits(serial) && serial.len() <= 12,
                ),
            };
            ok.then_some(())?;
            format!("{ai}/{}{}", checked(&key)?, dl_escape(serial))
        }
        "giai" | "ginc" => {
            let (c, reference) = body.split_once('.')?;
            (company(c) && component(reference, 30 - c.len())).then_some(())?;
            let ai = if scheme == "giai" { "8004" } else { "401" };
            format!("{ai}/{c}{}", dl_escape(reference))
        }
        "cpi" => {
            let (c, after) = body.split_once('.')?;
            let (reference, serial) = after.rsplit_once('.')?;
            let ok = company(c)
                && cpi_component(reference, 30 - c.len())
                && digits(serial)
                && serial.len() <= 12;
            ok.then_some(())?;
            format!(
                "8010/{}/8011/{serial}",
                dl_escape(&format!("{c}{reference}"))
            )
        }
        "itip" => {
            let (c, ir, rest) = keyed(body, 13)?;
            let mut parts = rest?.splitn(3, '.');
            let (piece, total, serial) = (parts.next()?, parts.next()?, parts.next()?);
            let two_digits = |p: &str| p.len() == 2 && digits(p);
            (two_digits(piece) && two_digits(total) && component(serial, 20)).then_some(())?;
            let gtin = gtin(c, ir)?;
            format!("8006/{gtin}{piece}{total}/21/{}", dl_escape(serial))
        }
        "upui" => {
            let (c, ir, tpx) = keyed(body, 13)?;
            let tpx = tpx.filter(|t| component(t, 28))?;
            format!("01/{}/235/{}", gtin(c, ir)?, dl_escape(tpx))
        }
        _ => return None,
    };
    Some(format!("{DL}/{path}"))
}

/// EPC pattern URIs naming one class (`urn:epc:idpat:sgtin:4012345.066666.*`).
fn epc_pattern(scheme: &str, body: &str) -> Option<String> {
    let key = match scheme {
        "sgtin" | "upui" => match keyed(body, 13)? {
            (c, ir, Some("*")) => format!("01/{}", gtin(c, ir)?),
            _ => return None,
        },
        "grai" | "gdti" | "sgcn" => match keyed(body, 12)? {
            (c, r, Some("*")) => match scheme {
                "grai" => format!("8003/{}", checked(&format!("0{c}{r}"))?),
                "gdti" => format!("253/{}", checked(&format!("{c}{r}"))?),
                _ => format!("255/{}", checked(&format!("{c}{r}"))?),
            },
            _ => return None,
        },
        "cpi" => {
            let (c, reference) = body.strip_suffix(".*")?.split_once('.')?;
            let company = digits(c) && (6..=12).contains(&c.len());
            (company && cpi_component(reference, 30 - c.len())).then_some(())?;
            format!("8010/{}", dl_escape(&format!("{c}{reference}")))
        }
        "itip" => {
            let (c, ir, rest) = keyed(body, 13)?;
            let (piece, total) = rest?.strip_suffix(".*")?.split_once('.')?;
            let two_digits = |p: &str| p.len() == 2 && digits(p);
            (two_digits(piece) && two_digits(total)).then_some(())?;
            format!("8006/{}{piece}{total}", gtin(c, ir)?)
        }
        _ => return None,
    };
    Some(format!("{DL}/{key}"))
}

/// Path segments of a Digital Link URI as Application Identifiers.
fn ai(segment: &str) -> &str {
    match segment {
        "gtin" => "01",
        "itip" => "8006",
        "cpid" => "8010",
        "gln" => "414",
        "party" => "417",
        "gsrnp" => "8017",
        "gsrn" => "8018",
        "gcn" => "255",
        "sscc" => "00",
        "gdti" => "253",
        "ginc" => "401",
        "gsin" => "402",
        "grai" => "8003",
        "giai" => "8004",
        "cpv" => "22",
        "lot" => "10",
        "ser" => "21",
        other => other,
    }
}

const PRIMARY_KEYS: [&str; 14] = [
    "00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017",
    "8018",
];

/// A Digital Link URI on any domain as `https://id.gs1.org/<key>/<value>[/<qualifier>/<value>]`.
fn web(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if rest.contains('#') {
        return None;
    }
    let (_authority, path) = rest.split_once('/')?;
    let segments: Vec<&str> = path.split('/').collect();
    let start = segments
        .iter()
        .position(|s| PRIMARY_KEYS.contains(&ai(s)))?;
    let ([key, value], qualifiers) = segments.get(start..)?.split_first_chunk::<2>()?;
    if qualifiers.len() % 2 != 0 {
        return None;
    }
    let (key, mut value) = (ai(key), (*value).to_owned());
    let mut pairs: Vec<(&str, &str)> = qualifiers
        .chunks_exact(2)
        .map(|pair| (ai(pair[0]), pair[1]))
        .collect();
    if value.len() < 5 || !value.bytes().take(4).all(|b| b.is_ascii_digit()) {
        return None;
    }
    if key == "01" && digits(&value) && matches!(value.len(), 8 | 12 | 13) {
        value = format!("{value:0>14}");
    }
    pairs.retain(|(q, _)| *q != "22");
    if pairs.iter().any(|(q, _)| *q == "21") {
        pairs.retain(|(q, _)| *q != "10");
    }
    let qualifier = match pairs.as_slice() {
        [] => None,
        [(q, v)] => Some((*q, *v)),
        _ => return None,
    };
    dl_valid(key, &value, qualifier).then(|| {
        let q = qualifier
            .map(|(q, v)| format!("/{q}/{v}"))
            .unwrap_or_default();
        format!("{DL}/{key}/{value}{q}")
    })
}

/// The key/qualifier combinations and value formats a constrained Digital Link URI may have.
fn dl_valid(key: &str, value: &str, qualifier: Option<(&str, &str)>) -> bool {
    // The characters the reference implementation accepts in values (no `%`: an escaped value
    // stays as it was written).
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'"' | b'\'' | b'-' | b'.' | b'_' | b';'..=b'?')
    };
    let text = |s: &str, max: usize| s.len() <= max && s.bytes().all(allowed);
    let n = |s: &str, len: usize| s.len() == len && digits(s);
    let n_then = |len: usize, max: usize| {
        value
            .split_at_checked(len)
            .is_some_and(|(head, tail)| n(head, len) && text(tail, max))
    };
    let cpid = |s: &str| {
        s.len() <= 30
            && s.bytes()
                .all(|b| matches!(b, 0x23 | 0x2d | 0x2f | 0x30..=0x39 | 0x41..=0x5a))
    };
    match (key, qualifier) {
        ("00", None) => n(value, 18),
        ("01", None) => n(value, 14),
        ("01", Some(("21" | "10", q))) => n(value, 14) && text(q, 20),
        ("01", Some(("235", q))) => n(value, 14) && text(q, 28),
        ("253", None) => n_then(13, 17),
        ("255", None) => value.len() <= 25 && n_then(13, 12) && digits(value),
        ("401" | "8004", None) => text(value, 30),
        ("402", None) => n(value, 17),
        ("414" | "417", None) => n(value, 13),
        ("414", Some(("254", q))) => n(value, 13) && text(q, 20),
        ("8003", None) => n_then(14, 16),
        ("8006", None) => n(value, 18),
        ("8006", Some(("21" | "10", q))) => n(value, 18) && text(q, 20),
        ("8010", None) => cpid(value),
        ("8010", Some(("8011", q))) => cpid(value) && q.len() <= 12 && digits(q),
        ("8017" | "8018", None) => n(value, 18),
        _ => false,
    }
}
