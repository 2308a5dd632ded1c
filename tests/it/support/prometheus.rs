//! A strict reader of the Prometheus text exposition format (0.0.4), for checking `/metrics`.
//!
//! Stricter than Prometheus itself where that catches our mistakes: every line must be a
//! `# HELP`, a `# TYPE` or a sample; a family's HELP and TYPE come once, before its samples,
//! and a family's samples are together; names and label names are valid; label values are
//! properly quoted and escaped; values are floats; a sample belongs to the family declared
//! last (histograms: `_bucket`, `_sum`, `_count`); a histogram's buckets are cumulative, end in
//! `le="+Inf"`, and that bucket equals `_count`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};

/// One sample: metric name, labels (sorted), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name → its TYPE.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of `name` with exactly `labels`, if present.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = (labels.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (self.samples.iter())
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Like [`Self::get`], 0 when the series is absent (a counter not yet seen).
    pub fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

pub fn parse(text: &str) -> Result<Exposition> {
    ensure!(
        text.ends_with('\n'),
        "the exposition must end with a line feed"
    );
    let mut x = Exposition::default();
    let mut helped = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut finished = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _help) = rest.split_once(' ').with_context(at)?;
            ensure!(valid_name(name), "bad metric name: {}", at());
            ensure!(helped.insert(name.to_string()), "HELP twice: {}", at());
            ensure!(!finished.contains(name), "family split: {}", at());
            if let Some(prev) = current.replace(name.to_string()) {
                finished.insert(prev);
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').with_context(at)?;
            ensure!(
                current.as_deref() == Some(name),
                "TYPE without its HELP first: {}",
                at()
            );
            ensure!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {}",
                at()
            );
            ensure!(
                x.types.insert(name.into(), kind.into()).is_none(),
                "TYPE twice: {}",
                at()
            );
        } else if line.starts_with('#') || line.is_empty() {
            bail!("neither HELP, TYPE nor a sample: {}", at());
        } else {
            let sample = sample(line).with_context(at)?;
            let family = current.as_deref().context("a sample before any HELP")?;
            let kind = x
                .types
                .get(family)
                .with_context(|| format!("no TYPE: {}", at()))?;
            let belongs = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| sample.name == format!("{family}{s}")),
                _ => sample.name == family,
            };
            ensure!(belongs, "sample of another family than {family}: {}", at());
            if kind == "counter"
                || sample.name.ends_with("_bucket")
                || sample.name.ends_with("_count")
            {
                ensure!(sample.value >= 0.0, "negative count: {}", at());
            }
            x.samples.push(sample);
        }
    }
    check_histograms(&x)?;
    Ok(x)
}

/// `name{label="value",…} value`.
fn sample(line: &str) -> Result<Sample> {
    let name_end = line.find(['{', ' ']).context("no value")?;
    let name = &line[..name_end];
    ensure!(valid_name(name), "bad metric name {name:?}");
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find('=').context("label without =")?;
            let label = &inner[..eq];
            ensure!(
                valid_name(label) && !label.contains(':'),
                "bad label name {label:?}"
            );
            inner = inner[eq + 1..]
                .strip_prefix('"')
                .context("label value not quoted")?;
            let mut value = String::new();
            let mut chars = inner.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => bail!("bad escape {other:?} in a label value"),
                    },
                    Some((_, '\n')) | None => bail!("unterminated label value"),
                    Some((_, c)) => value.push(c),
                }
            };
            ensure!(
                labels.insert(label.to_string(), value).is_none(),
                "label {label} twice"
            );
            inner = &inner[end + 1..];
            if let Some(after) = inner.strip_prefix(',') {
                inner = after;
            } else {
                ensure!(inner.starts_with('}'), "labels not separated by ,");
            }
        }
    }
    let value_text = rest
        .strip_prefix(' ')
        .context("no space before the value")?;
    ensure!(
        !value_text.contains(' '),
        "a timestamp or junk after the value"
    );
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .with_context(|| format!("value {v:?} is not a float"))?,
    };
    Ok(Sample {
        name: name.into(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// Buckets cumulative (in `le` order), ending in `+Inf` equal to `_count`, per label set.
fn check_histograms(x: &Exposition) -> Result<()> {
    for (family, _) in x.types.iter().filter(|(_, k)| *k == "histogram") {
        // The labels other than `le` → (bound, count) of each bucket.
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in x
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = s.labels.get("le").context("a bucket without le")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>()?
            };
            let rest: Labels = (s.labels.iter())
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series.entry(rest).or_default().push((bound, s.value));
        }
        ensure!(!series.is_empty(), "histogram {family} has no buckets");
        for (rest, buckets) in series {
            let ordered = buckets.windows(2).all(|w| w[0].0 < w[1].0);
            ensure!(
                ordered,
                "{family}{rest:?}: buckets not in ascending le order"
            );
            let cumulative = buckets.windows(2).all(|w| w[0].1 <= w[1].1);
            ensure!(
                cumulative,
                "{family}{rest:?}: buckets not cumulative: {buckets:?}"
            );
            let last = buckets.last().context("no bucket")?;
            ensure!(last.0 == f64::INFINITY, "{family}{rest:?}: no +Inf bucket");
            let labels: Vec<(&str, &str)> = rest.iter().map(|(k, v)| (&k[..], &v[..])).collect();
            let count = x
                .get(&format!("{family}_count"), &labels)
                .with_context(|| format!("{family}: no _count"))?;
            ensure!(
                x.get(&format!("{family}_sum"), &labels).is_some(),
                "{family}: no _sum"
            );
            ensure!(
                last.1 == count,
                "{family}: +Inf bucket {} but _count {count}",
                last.1
            );
        }
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[test]
fn api_prometheus_reader_refuses_what_prometheus_would_and_what_we_must_not_write() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{l=\"x\\\"y\"} 3\n\
                # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\n\
                h_sum 0.3\nh_count 2\n";
    let x = parse(good).expect("valid");
    assert_eq!(x.get("a_total", &[("l", "x\"y")]), Some(3.0));
    for bad in [
        "a 1\n",                                    // no HELP/TYPE
        "# HELP a A.\n# TYPE a gauge\nb 1\n",       // another family
        "# HELP a A.\n# TYPE a gauge\na{l=x} 1\n",  // unquoted
        "# HELP a A.\n# TYPE a gauge\na one\n",     // not a float
        "# HELP a-b A.\n# TYPE a-b gauge\na-b 1\n", // bad name
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# HELP a A.\n# TYPE a gauge\na 1", // no final newline
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}
