//! A strict reader over a parsed TOML table that collects every problem instead of stopping.
//!
//! serde's `deny_unknown_fields` stops at the first surprise; plant IT fixing a file over a slow
//! remote session wants the whole list at once. Each `Table` knows its key path (`upstream[1]`),
//! records which keys were read, and `finish` reports the keys nobody asked for.

use std::cell::RefCell;
use std::collections::BTreeSet;

/// One problem in the configuration, with the key path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The list of problems found so far.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// A view of one TOML table at a key path.
pub struct Table<'a> {
    path: String,
    table: Option<&'a toml::Table>,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Table<'a> {
    pub fn root(table: &'a toml::Table) -> Self {
        Table {
            path: String::new(),
            table: Some(table),
            used: RefCell::default(),
        }
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key.to_string());
        self.table.and_then(|t| t.get(key))
    }

    /// A required string.
    pub fn string(&self, key: &str, p: &mut Problems) -> Option<String> {
        match self.get(key) {
            None => {
                p.add(self.key_path(key), "is required");
                None
            }
            v => self.as_string(key, v, p),
        }
    }

    /// An optional string.
    pub fn opt_string(&self, key: &str, p: &mut Problems) -> Option<String> {
        let v = self.get(key);
        self.as_string(key, v, p)
    }

    fn as_string(&self, key: &str, v: Option<&toml::Value>, p: &mut Problems) -> Option<String> {
        match v? {
            toml::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            toml::Value::String(_) => {
                p.add(self.key_path(key), "must not be empty");
                None
            }
            other => {
                p.add(
                    self.key_path(key),
                    format!("must be a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A boolean, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool, p: &mut Problems) -> bool {
        match self.get(key) {
            None => default,
            Some(toml::Value::Boolean(b)) => *b,
            Some(other) => {
                p.add(
                    self.key_path(key),
                    format!("must be true or false, found {}", other.type_str()),
                );
                default
            }
        }
    }

    /// One of `choices`, or the first choice when absent.
    pub fn choice(&self, key: &str, choices: &[&'static str], p: &mut Problems) -> &'static str {
        let Some(s) = self.opt_string(key, p) else {
            return choices[0];
        };
        match choices.iter().find(|c| **c == s) {
            Some(c) => c,
            None => {
                p.add(
                    self.key_path(key),
                    format!("'{s}' must be one of: {}", choices.join(", ")),
                );
                choices[0]
            }
        }
    }

    /// An integer within `range`, or `default` when absent (or unusable: then a problem is added).
    pub fn int_or(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        p: &mut Problems,
    ) -> u64 {
        self.opt_int(key, range, p).unwrap_or(default)
    }

    /// An optional integer within `range`.
    pub fn opt_int(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        p: &mut Problems,
    ) -> Option<u64> {
        match self.get(key)? {
            toml::Value::Integer(i) if *i >= 0 && range.contains(&(*i as u64)) => Some(*i as u64),
            toml::Value::Integer(i) => {
                p.add(
                    self.key_path(key),
                    format!("{i} is out of range {}..={}", range.start(), range.end()),
                );
                None
            }
            other => {
                p.add(
                    self.key_path(key),
                    format!("must be an integer, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// An optional list of strings (empty when absent).
    pub fn strings(&self, key: &str, p: &mut Problems) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    toml::Value::String(s) => Some(s.clone()),
                    other => {
                        p.add(
                            format!("{}[{i}]", self.key_path(key)),
                            format!("must be a string, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                p.add(
                    self.key_path(key),
                    format!("must be a list of strings, found {}", other.type_str()),
                );
                Vec::new()
            }
        }
    }

    /// A sub-table; an absent one reads as empty (its required keys then report themselves).
    pub fn table(&self, key: &str, p: &mut Problems) -> Table<'a> {
        let path = self.key_path(key);
        let table = match self.get(key) {
            None => None,
            Some(toml::Value::Table(t)) => Some(t),
            Some(other) => {
                p.add(
                    path.clone(),
                    format!("must be a table [{key}], found {}", other.type_str()),
                );
                None
            }
        };
        Table {
            path,
            table,
            used: RefCell::default(),
        }
    }

    /// An array of tables (`[[key]]`), each with its indexed path.
    pub fn tables(&self, key: &str, p: &mut Problems) -> Vec<Table<'a>> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    toml::Value::Table(t) => Some(Table {
                        path: format!("{path}[{i}]"),
                        table: Some(t),
                        used: RefCell::default(),
                    }),
                    other => {
                        p.add(
                            format!("{path}[{i}]"),
                            format!("must be a table, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                p.add(
                    path,
                    format!(
                        "must be an array of tables [[{key}]], found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// An optional table of strings (`headers = { "X-A" = "b" }`), sorted by key (empty when
    /// absent); each entry that is not a string is a problem at its own path.
    pub fn string_map(&self, key: &str, p: &mut Problems) -> Vec<(String, String)> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(toml::Value::Table(t)) => t
                .iter()
                .filter_map(|(k, v)| match v {
                    toml::Value::String(s) => Some((k.clone(), s.clone())),
                    other => {
                        p.add(
                            format!("{path}.{k}"),
                            format!("must be a string, found {}", other.type_str()),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                p.add(
                    path,
                    format!(
                        "must be a table of strings ({key} = {{ \"Name\" = \"value\" }}), found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// The key path of this table, for problems found by cross-field checks.
    pub fn path_of(&self, key: &str) -> String {
        self.key_path(key)
    }

    /// Reports every key present in the file that no reader asked for.
    pub fn finish(&self, p: &mut Problems) {
        let Some(t) = self.table else { return };
        let used = self.used.borrow();
        for key in t.keys().filter(|k| !used.contains(*k)) {
            p.add(
                self.key_path(key),
                "unknown key (check the spelling; see config/linegate.toml for every key)",
            );
        }
    }
}
