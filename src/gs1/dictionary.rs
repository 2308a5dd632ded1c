//! Reading the GS1 Barcode Syntax Dictionary's line format into
//! `AiEntry` rows: `AIs [Flags] Specification [Attributes...] [# Title]`,
//! as the file's own header defines it.
//!
//! Kept apart from the table so the format rules (component grammar, the
//! `req=`/`ex=`/`dlpkey=` attribute syntax, "only the last component may
//! vary") live in one place, with the tests that prove the embedded file
//! parses completely and that malformed lines are refused.

use super::ai_table::{AiEntry, AiTable, Component, Cset, Pattern};
use super::linters::Linter;

/// Parses dictionary text; the error names the first bad line.
pub(crate) fn parse_dictionary(text: &'static str) -> Result<AiTable, String> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        entries.push(parse_line(trimmed).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    AiTable::build(entries)
}

const FLAG_CHARS: &str = "*!?\"$%&'()+,-./:;<=>@[\\]^_`{|}~";

fn parse_ai(s: &str) -> Result<(u16, usize), String> {
    let ok = (2..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let n = s.parse::<u16>().ok().filter(|_| ok);
    n.map(|n| (n, s.len()))
        .ok_or_else(|| format!("bad AI '{s}'"))
}

fn parse_line(line: &'static str) -> Result<AiEntry, String> {
    let (body, title) = match line.split_once('#') {
        Some((b, t)) => (b, t.trim()),
        None => (line, ""),
    };
    let mut tokens = body.split_whitespace().peekable();
    let ais = tokens.next().ok_or("empty line")?;
    let (lo, hi, ai_len) = match ais.split_once('-') {
        Some((a, b)) => {
            let ((lo, la), (hi, lb)) = (parse_ai(a)?, parse_ai(b)?);
            if la != lb || lo > hi {
                return Err(format!("bad AI range '{ais}'"));
            }
            (lo, hi, la)
        }
        None => parse_ai(ais).map(|(n, l)| (n, n, l))?,
    };
    let mut flags = "";
    if let Some(t) = tokens.peek()
        && t.chars().all(|c| FLAG_CHARS.contains(c))
    {
        flags = t;
        tokens.next();
    }
    let (mut components, mut spec_end) = (Vec::new(), None);
    while let Some(t) = tokens.peek().copied() {
        if !t.starts_with(['N', 'X', 'Y', 'Z', '[']) {
            break;
        }
        components.push(parse_component(t)?);
        spec_end = Some(t);
        tokens.next();
    }
    let last = spec_end.ok_or("no specification")?;
    let first = components
        .first()
        .map(|_| body.find(['N', 'X', 'Y', 'Z', '[']));
    let start = first.flatten().unwrap_or(0);
    let end = last.as_ptr() as usize - body.as_ptr() as usize + last.len();
    let spec = body.get(start..end).unwrap_or(last);
    check_components(&components)?;
    let (mut req, mut ex, mut dlpkey) = (Vec::new(), Vec::new(), None);
    for t in tokens {
        match t.split_once('=') {
            Some(("req", list)) => req.push(
                list.split(',')
                    .map(|alt| alt.split('+').map(pattern).collect::<Result<_, _>>())
                    .collect::<Result<_, _>>()?,
            ),
            Some(("ex", list)) => ex.extend(
                list.split(',')
                    .map(pattern)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(("dlpkey", list)) => {
                let seqs = list.split('|');
                dlpkey = Some(
                    seqs.map(|s| s.split(',').map(pattern).collect())
                        .collect::<Result<_, _>>()?,
                );
            }
            None if t == "dlpkey" => dlpkey = Some(Vec::new()),
            _ => return Err(format!("unknown attribute '{t}'")),
        }
    }
    let min_len = components
        .iter()
        .filter(|c| !c.optional)
        .map(|c| c.min)
        .sum();
    let max_len = components.iter().map(|c| c.max).sum();
    Ok(AiEntry {
        lo,
        hi,
        ai_len,
        fixed: flags.contains('*'),
        dl_attr: flags.contains('?'),
        spec,
        components,
        min_len,
        max_len,
        req,
        ex,
        dlpkey,
        title,
    })
}

fn pattern(p: &'static str) -> Result<Pattern, String> {
    let ok = (2..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit() || b == b'n');
    ok.then_some(p)
        .ok_or_else(|| format!("bad AI pattern '{p}'"))
}

/// Only the last component may vary in length; no mandatory component may
/// follow an optional one.
fn check_components(components: &[Component]) -> Result<(), String> {
    for (i, pair) in components.windows(2).enumerate() {
        if pair[0].min != pair[0].max {
            return Err(format!(
                "component {} varies in length but is not last",
                i + 1
            ));
        }
        if pair[0].optional && !pair[1].optional {
            return Err("mandatory component after an optional one".into());
        }
    }
    Ok(())
}

fn parse_component(token: &'static str) -> Result<Component, String> {
    let mut parts = token.split(',');
    let mut kind = parts.next().unwrap_or("");
    let optional = kind.starts_with('[');
    if optional {
        kind = kind
            .strip_prefix('[')
            .and_then(|k| k.strip_suffix(']'))
            .ok_or_else(|| format!("unbalanced brackets in '{token}'"))?;
    }
    let cset = match kind.as_bytes().first() {
        Some(b'N') => Cset::N,
        Some(b'X') => Cset::X,
        Some(b'Y') => Cset::Y,
        Some(b'Z') => Cset::Z,
        _ => return Err(format!("bad component '{token}'")),
    };
    let len = &kind[1..];
    let (variable, digits) = match len.strip_prefix("..") {
        Some(d) => (true, d),
        None => (false, len),
    };
    let max: usize = digits
        .parse()
        .map_err(|_| format!("bad length in '{token}'"))?;
    if max == 0 {
        return Err(format!("zero length in '{token}'"));
    }
    let min = if variable { 1 } else { max };
    let linters = parts.map(Linter::from_name).collect();
    Ok(Component {
        cset,
        min,
        max,
        optional,
        linters,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ai_table::{DICTIONARY, matches, table};
    use super::*;

    #[test]
    fn the_whole_dictionary_parses() {
        let t = parse_dictionary(DICTIONARY).unwrap();
        assert_eq!(t.entries.len(), 224);
        let ais: usize = t.entries.iter().map(|e| usize::from(e.hi - e.lo) + 1).sum();
        assert_eq!(ais, 541);
        assert_eq!(table().entries.len(), 224);
        assert_eq!(t.entries.iter().filter(|e| e.fixed).count(), 72);
        assert!(t.entries.iter().all(|e| !e.components.is_empty()));
        let unchecked: Vec<_> = t
            .entries
            .iter()
            .flat_map(|e| &e.components)
            .flat_map(|c| &c.linters)
            .filter(|l| matches!(l, Linter::Unchecked(_)))
            .collect();
        assert!(unchecked.len() < 130, "{}", unchecked.len());
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "01 *? Q14",
            "1 * N14",
            "01 * N14 foo=1",
            "3105-3100 N6",
            "01 * N0",
            "01 * [N3 N2",
            "01 * N..3 N2",
            "01 * [N3] N2",
            "01 * N14 req=0x",
            "01 *?",
        ] {
            assert!(parse_dictionary(bad).is_err(), "{bad}");
        }
        assert!(parse_dictionary("01 * N14\n01 * N14").is_err());
        assert!(parse_dictionary("01 * N14\n0100 * N14").is_err());
        assert!(matches("310n", "3109") && !matches("310n", "311") && matches("01", "01"));
    }
}
