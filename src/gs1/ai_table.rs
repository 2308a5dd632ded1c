//! The table of every GS1 Application Identifier, read from GS1's Barcode
//! Syntax Dictionary (`data/gs1/gs1-syntax-dictionary.txt`, embedded at
//! compile time) the first time it is needed.
//!
//! Taking the table from GS1's own machine-readable file instead of typing
//! rows by hand means formats, pairing rules and titles cannot drift from
//! the standard. Parsing (`dictionary.rs`) happens once (`OnceLock`); a unit
//! test parses the whole file, so a line the parser does not understand
//! cannot ship, and `table()` falls back to an empty table rather than
//! panicking. Lookup is
//! O(1): every AI of 2 to 4 digits has a slot in a flat index, and the AI
//! length follows from its first two digits (GS1 keeps AIs prefix-free).

use std::sync::OnceLock;

use super::dictionary::parse_dictionary;
use super::linters::Linter;

pub(crate) const DICTIONARY: &str = include_str!("../../data/gs1/gs1-syntax-dictionary.txt");

/// Character set of one component of an AI's data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cset {
    /// Digits.
    N,
    /// GS1 AI encodable character set 82.
    X,
    /// Character set 39 (`# - /`, digits, upper-case letters).
    Y,
    /// Character set 64 (base64url, `=` padding).
    Z,
}

/// One component of a data field, e.g. `N13,csum` or `[X..17]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Component {
    pub cset: Cset,
    pub min: usize,
    pub max: usize,
    pub optional: bool,
    pub linters: Vec<Linter>,
}

/// An AI or an AI pattern such as `310n` (`n` matches any digit).
pub(crate) type Pattern = &'static str;

/// One dictionary row (a single AI or a range such as `3100-3105`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AiEntry {
    pub lo: u16,
    pub hi: u16,
    pub ai_len: usize,
    /// Flag `*`: predefined length, no FNC1 separator needed after it.
    pub fixed: bool,
    /// Flag `?`: allowed as a Digital Link query attribute.
    pub dl_attr: bool,
    /// The specification text as written, for error messages.
    pub spec: &'static str,
    pub components: Vec<Component>,
    pub min_len: usize,
    pub max_len: usize,
    /// Every clause must hold; a clause holds if any of its alternatives
    /// (an AND group of patterns) is fully present.
    pub req: Vec<Vec<Vec<Pattern>>>,
    pub ex: Vec<Pattern>,
    /// `dlpkey`: the entry is a Digital Link primary key; each inner list
    /// is one allowed ordered sequence of qualifiers.
    pub dlpkey: Option<Vec<Vec<Pattern>>>,
    pub title: &'static str,
}

/// Whether `ai` (digits) matches `pattern` (digits and `n`).
pub(crate) fn matches(pattern: &str, ai: &str) -> bool {
    pattern.len() == ai.len()
        && pattern
            .bytes()
            .zip(ai.bytes())
            .all(|(p, a)| p == a || p == b'n')
}

/// First index slot for AIs of 2, 3 and 4 digits.
const SLOT_BASE: [usize; 5] = [0, 0, 0, 100, 1100];
const SLOTS: usize = 11100;
const NONE: u16 = u16::MAX;

pub(crate) struct AiTable {
    pub entries: Vec<AiEntry>,
    /// AI length for each two-digit prefix (0: no AI starts with it).
    prefix_len: [u8; 100],
    slots: Vec<u16>,
    /// Every defined AI's digits back to back, so elements can borrow their AI for the
    /// program's lifetime instead of allocating it (the table itself is `'static`).
    names: String,
    /// Offset into `names` per slot (`u32::MAX`: no AI there).
    name_at: Vec<u32>,
}

fn digits_value(s: &[u8]) -> Option<usize> {
    s.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}

impl AiTable {
    /// The entry for a complete AI of 2 to 4 digits.
    pub fn get(&self, ai: &[u8]) -> Option<&AiEntry> {
        let base = *SLOT_BASE.get(ai.len()).filter(|_| ai.len() >= 2)?;
        let slot = *self.slots.get(base + digits_value(ai)?)?;
        self.entries.get(usize::from(slot))
    }

    /// The AI's own text as a `'static` string, for a complete AI of 2 to 4 digits.
    pub fn name(&'static self, ai: &[u8]) -> Option<&'static str> {
        let base = *SLOT_BASE.get(ai.len()).filter(|_| ai.len() >= 2)?;
        let at = *self.name_at.get(base + digits_value(ai)?)? as usize;
        self.names.get(at..at + ai.len())
    }

    /// The length of the AI that starts `data`, from its first two digits.
    pub fn ai_len_at(&self, data: &[u8]) -> Option<usize> {
        let prefix = digits_value(data.get(..2)?)?;
        let len = usize::from(self.prefix_len[prefix]);
        (len != 0).then_some(len)
    }

    pub(crate) fn build(entries: Vec<AiEntry>) -> Result<Self, String> {
        let mut slots = vec![NONE; SLOTS];
        let mut prefix_len = [0u8; 100];
        let mut names = String::new();
        let mut name_at = vec![u32::MAX; SLOTS];
        for (i, e) in entries.iter().enumerate() {
            let index = u16::try_from(i).map_err(|_| "too many entries".to_string())?;
            for ai in e.lo..=e.hi {
                let slot = &mut slots[SLOT_BASE[e.ai_len] + usize::from(ai)];
                if *slot != NONE {
                    return Err(format!("AI {ai} defined twice"));
                }
                *slot = index;
                name_at[SLOT_BASE[e.ai_len] + usize::from(ai)] = names.len() as u32;
                names.push_str(&format!("{ai:0width$}", width = e.ai_len));
                let prefix = usize::from(ai) / 10usize.pow(e.ai_len as u32 - 2);
                let len = e.ai_len as u8;
                if prefix_len[prefix] != 0 && prefix_len[prefix] != len {
                    return Err(format!("AIs starting {prefix:02} differ in length"));
                }
                prefix_len[prefix] = len;
            }
        }
        Ok(AiTable {
            entries,
            prefix_len,
            slots,
            names,
            name_at,
        })
    }
}

/// The parsed dictionary. Empty if it failed to parse, which the unit
/// tests rule out for the embedded file.
pub(crate) fn table() -> &'static AiTable {
    static TABLE: OnceLock<AiTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        parse_dictionary(DICTIONARY).unwrap_or_else(|_| AiTable {
            entries: Vec::new(),
            prefix_len: [0; 100],
            slots: vec![NONE; SLOTS],
            names: String::new(),
            name_at: vec![u32::MAX; SLOTS],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ai: &str) -> &'static AiEntry {
        table().get(ai.as_bytes()).unwrap()
    }

    #[test]
    fn known_rows() {
        let gtin = entry("01");
        assert_eq!(
            (gtin.fixed, gtin.min_len, gtin.max_len, gtin.title),
            (true, 14, 14, "GTIN")
        );
        assert_eq!(gtin.components[0].linters[0], Linter::Csum);
        assert_eq!(gtin.ex, vec!["255", "37"]);
        assert_eq!(gtin.dlpkey, Some(vec![vec!["22", "10", "21"], vec!["235"]]));
        let serial = entry("21");
        assert_eq!(
            (serial.fixed, serial.min_len, serial.max_len, serial.title),
            (false, 1, 20, "SERIAL")
        );
        assert_eq!(serial.req, vec![vec![vec!["01"], vec!["03"], vec!["8006"]]]);
        assert_eq!(serial.ex, vec!["235"]);
        assert_eq!(
            entry("250").req,
            vec![vec![vec!["01"], vec!["8006"]], vec![vec!["21"]]]
        );
        let gdti = entry("253");
        assert_eq!(
            (gdti.spec, gdti.min_len, gdti.max_len),
            ("N13,csum,gcppos1 [X..17]", 13, 30)
        );
        assert!(gdti.components[1].optional);
        let weight = entry("3103");
        assert_eq!(
            (weight.lo, weight.hi, weight.ex.clone()),
            (3100, 3105, vec!["310n"])
        );
        assert!(table().get(b"3106").is_none());
        assert_eq!(entry("7003").spec, "N6,yymmdd N4,hhmi");
        assert_eq!(entry("8030").req[0][1], vec!["01", "21"]);
        assert_eq!(entry("8110").title, "");
        assert_eq!(entry("95").title, "INTERNAL");
        assert_eq!(entry("8010").components[0].cset, Cset::Y);
        assert_eq!(entry("8030").components[0].cset, Cset::Z);
    }

    #[test]
    fn lookup_by_prefix() {
        let t = table();
        assert_eq!(t.ai_len_at(b"0100"), Some(2));
        assert_eq!(t.ai_len_at(b"2401"), Some(3));
        assert_eq!(t.ai_len_at(b"7003"), Some(4));
        assert_eq!(t.ai_len_at(b"7101"), Some(3));
        assert_eq!(t.ai_len_at(b"05"), None);
        assert_eq!(t.ai_len_at(b"0"), None);
        assert_eq!(t.ai_len_at(b"a1"), None);
        assert!(t.get(b"1").is_none() && t.get(b"12345").is_none() && t.get(b"0a").is_none());
    }
}
