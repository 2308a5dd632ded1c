//! Splitting element strings into `(AI, value)` elements: raw scanner data
//! (AIs back to back, GS 0x1D after variable-length values) and the
//! bracketed human-readable form `(01)…(21)…`.
//!
//! The two forms differ only in how an element ends, so both land in the
//! same `Found` list, with byte positions into the original input for
//! error messages, and every value is checked against its dictionary row
//! on the way (`ai_rules.rs`). Which AIs may appear together is decided
//! later, in `pairing.rs`.

use std::borrow::Cow;

use chrono::NaiveDate;

use super::ai_rules::{At, check_value};
use super::ai_table::{AiEntry, table};
use super::error::{ParseError, ParseErrorKind};
use super::shown;

/// ASCII group separator: FNC1 as a scanner transmits it.
pub(crate) const GS: u8 = 0x1d;

/// One application identifier and its value, e.g. `21` = `ABC123`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ai: &'static str,
    /// The dictionary title, e.g. "SERIAL" (empty for AIs without one).
    pub title: &'static str,
    pub value: String,
}

/// A checked element with its dictionary row and where it was found. The value borrows
/// from the input where it can (raw scanner data), so the daemon's path allocates only the
/// values that become part of its `Code`.
#[derive(Debug, Clone)]
pub(crate) struct Found<'a> {
    /// The table's own copy of the AI: one address per AI (see `pairing::same_ai`).
    pub ai: &'static str,
    pub value: Cow<'a, str>,
    pub entry: &'static AiEntry,
    /// Byte offset of the AI (its `(` in bracketed form).
    pub pos: usize,
}

impl<'a> Found<'a> {
    /// Checks `value` against the row of `ai`.
    pub fn new(
        ai: &str,
        entry: &'static AiEntry,
        value: impl Into<Cow<'a, str>>,
        pos: usize,
        at: At,
        today: NaiveDate,
    ) -> Result<Found<'a>, ParseError> {
        let value = value.into();
        check_value(ai, entry, &value, at, today)?;
        let ai = table().name(ai.as_bytes()).unwrap_or("??");
        Ok(Found {
            ai,
            value,
            entry,
            pos,
        })
    }

    /// The public form, owning its value.
    pub fn into_element(self) -> Element {
        Element {
            ai: self.ai,
            title: self.entry.title,
            value: self.value.into_owned(),
        }
    }
}

fn unknown(ai: &[u8], pos: usize) -> ParseError {
    let ai = String::from_utf8_lossy(ai).into_owned();
    ParseError::new(pos, ParseErrorKind::UnknownAi { ai })
}

fn expected_ai(rest: &[u8], pos: usize) -> ParseError {
    let found = shown(&String::from_utf8_lossy(&rest[..rest.len().min(8)]));
    ParseError::new(pos, ParseErrorKind::ExpectedAi { found })
}

/// Splits raw scanner data starting at byte `base` of the input: a fixed
/// length AI ends after its length (a GS after it is tolerated), any other
/// at the next GS or at the end; one trailing GS is tolerated.
pub(crate) fn split_raw(
    data: &[u8],
    base: usize,
    today: NaiveDate,
) -> Result<Vec<Found<'_>>, ParseError> {
    let t = table();
    let text = std::str::from_utf8(data).ok();
    let mut out = Vec::with_capacity(6);
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i..];
        let Some(ai_len) = t.ai_len_at(rest) else {
            if rest.len() >= 2 && rest[..2].iter().all(u8::is_ascii_digit) {
                return Err(unknown(&rest[..2], base + i));
            }
            return Err(expected_ai(rest, base + i));
        };
        let ai_bytes = rest
            .get(..ai_len)
            .ok_or_else(|| expected_ai(rest, base + i))?;
        let entry = t.get(ai_bytes).ok_or_else(|| {
            if ai_bytes.iter().all(u8::is_ascii_digit) {
                unknown(ai_bytes, base + i)
            } else {
                expected_ai(rest, base + i)
            }
        })?;
        let start = i + ai_len;
        // A predefined-length value ends after its length at the latest: look no further.
        let window = if entry.fixed {
            data.len().min(start + entry.max_len)
        } else {
            data.len()
        };
        let end = data[start..window]
            .iter()
            .position(|&b| b == GS)
            .map_or(window, |p| start + p);
        // The table's own copy of the AI (digits, found above).
        let ai = t.name(ai_bytes).unwrap_or_default();
        // One UTF-8 check for the whole input; a value is re-checked on its own only to
        // locate a bad byte.
        let valid = text.and_then(|t| t.get(start..end));
        let value = valid
            .map_or_else(|| std::str::from_utf8(&data[start..end]), Ok)
            .map_err(|e| {
                let ch = char::REPLACEMENT_CHARACTER;
                let cset = entry
                    .components
                    .first()
                    .map_or(super::ai_table::Cset::X, |c| c.cset);
                let subject = super::ai_rules::subject(ai, entry.title);
                let kind = ParseErrorKind::BadCharacter { subject, ch, cset };
                ParseError::new(base + start + e.valid_up_to(), kind)
            })?;
        let at = At {
            pos: base + start,
            exact: true,
        };
        out.push(Found::new(ai, entry, value, base + i, at, today)?);
        i = end;
        if data.get(i) == Some(&GS) {
            i += 1;
            if data.get(i) == Some(&GS) {
                return Err(expected_ai(&data[i..], base + i));
            }
        }
    }
    Ok(out)
}

/// If `s` starts with a bracketed AI such as `(01)`, its digits and length
/// including the brackets.
fn ai_at(s: &[u8]) -> Option<(&[u8], usize)> {
    let close = s.iter().take(6).position(|&b| b == b')')?;
    let ai = s.get(1..close)?;
    let ok = s.first() == Some(&b'(') && ai.len() >= 2 && ai.iter().all(u8::is_ascii_digit);
    ok.then_some((ai, close + 1))
}

/// Splits a bracketed element string starting at byte `base`. A value runs
/// to the next bracketed AI; `\(` stands for a literal `(`.
pub(crate) fn split_bracketed(
    s: &str,
    base: usize,
    today: NaiveDate,
) -> Result<Vec<Found<'static>>, ParseError> {
    let t = table();
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(6);
    let mut i = 0;
    while i < b.len() {
        let Some((ai, len)) = ai_at(&b[i..]) else {
            return Err(expected_ai(&b[i..], base + i));
        };
        let entry = t.get(ai).ok_or_else(|| unknown(ai, base + i))?;
        let (ai_pos, start) = (i, i + len);
        let (mut value, mut exact) = (String::new(), true);
        i = start;
        while i < b.len() {
            if b[i] == b'\\' && b.get(i + 1) == Some(&b'(') {
                value.push('(');
                exact = false;
                i += 2;
                continue;
            }
            if b[i] == b'(' && ai_at(&b[i..]).is_some() {
                break;
            }
            // `i` is always at a character boundary: only ASCII is skipped
            // byte by byte.
            let ch = s[i..].chars().next().unwrap_or_default();
            value.push(ch);
            i += ch.len_utf8();
        }
        let ai = std::str::from_utf8(ai).unwrap_or_default();
        let at = At {
            pos: base + start,
            exact,
        };
        out.push(Found::new(ai, entry, value, base + ai_pos, at, today)?);
    }
    Ok(out)
}
