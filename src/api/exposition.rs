//! The Prometheus text exposition format (0.0.4), written: each family's `# HELP` and `# TYPE`
//! once, before its samples; label values escaped (backslash, double quote, line feed); values
//! as Prometheus reads them.
//!
//! Metric and label names are ours and fixed, so a name that is not valid is a programming
//! error: it is caught by a debug assertion (and the unit tests), not at a scrape.

use std::fmt::{Display, Write};

#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: `kind` is `counter`, `gauge` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(valid_name(name), "metric name {name}");
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the family started last (or of its `_bucket`, `_sum`, `_count`).
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        debug_assert!(valid_name(name), "metric name {name}");
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                debug_assert!(valid_name(label) && !label.contains(':'), "label {label}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_are_written_as_prometheus_reads_them() {
        let mut x = Exposition::default();
        x.family("a_total", "counter", "Help with \\ and\nnewline.");
        x.sample("a_total", &[("k", "v\"\\\n")], 3);
        x.sample("a_total", &[], 0.25);
        assert_eq!(
            x.finish(),
            "# HELP a_total Help with \\\\ and\\nnewline.\n# TYPE a_total counter\n\
             a_total{k=\"v\\\"\\\\\\n\"} 3\na_total 0.25\n"
        );
        assert!(valid_name("linegate_x:y") && !valid_name("9x") && !valid_name("a-b"));
    }
}
