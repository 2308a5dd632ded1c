//! The pre-hash string of one event (`hash.rs` has the field order): each field written
//! `name=value`, lists as their name followed by their sorted entries, objects as their name
//! followed by their fields and then their sorted user extensions, nothing in between.
//!
//! Errors carry the path of the offending value (`sensorElementList[0].sensorReport[1].time`),
//! built only when one is raised.

use serde_json::{Map, Value};

use super::values::{KeyError, Prefixes, Vocab, timestamp};
use super::{
    EVENT_TYPES, EventHashError, FIXED, Kind, LEFT_OUT, LOCATION, MAX_DEPTH, QUANTITY,
    SENSOR_METADATA, SENSOR_REPORT, SORTED, Shape,
};

/// Where a value sits in the event, for error messages; rendered only when one is raised.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Key(Path::Root, key) => (*key).to_owned(),
            Path::Key(parent, key) => format!("{}.{key}", parent.render()),
            Path::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }

    fn depth(&self) -> usize {
        match self {
            Path::Root => 0,
            Path::Key(parent, _) | Path::Index(parent, _) => parent.depth() + 1,
        }
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(path: &Path<'_>, expected: &'static str, found: &Value) -> EventHashError {
    EventHashError::WrongType {
        path: path.render(),
        expected,
        found: kind(found),
    }
}

fn object<'v>(v: &'v Value, path: &Path<'_>) -> Result<&'v Map<String, Value>, EventHashError> {
    v.as_object().ok_or_else(|| wrong(path, "an object", v))
}

/// The entries of a list; a single value counts as a list of one (JSON-LD `@set`).
fn entries(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// Builds the pre-hash string of one event with the namespace prefixes in scope for it.
pub(super) struct Pre<'p> {
    prefixes: &'p Prefixes,
}

type Res<T> = Result<T, EventHashError>;

impl<'p> Pre<'p> {
    pub(super) fn new(prefixes: &'p Prefixes) -> Self {
        Self { prefixes }
    }

    pub(super) fn event(&self, event: &Map<String, Value>) -> Res<String> {
        let event_type = match event.get("type") {
            None => return Err(EventHashError::Missing { field: "type" }),
            Some(Value::String(t)) => t.as_str(),
            Some(other) => return Err(wrong(&Path::Key(&Path::Root, "type"), "a string", other)),
        };
        if !EVENT_TYPES.contains(&event_type) {
            return Err(EventHashError::UnknownEventType {
                value: event_type.to_owned(),
            });
        }
        if !event.contains_key("eventTime") {
            return Err(EventHashError::Missing { field: "eventTime" });
        }
        let mut out = format!("eventType={event_type}");
        for (name, shape) in FIXED {
            if let Some(v) = event.get(name) {
                out.push_str(&self.field(name, shape, v, &Path::Key(&Path::Root, name))?);
            }
        }
        let mut sorted = Vec::new();
        for (name, shape) in SORTED {
            if let Some(v) = event.get(name) {
                let text = self.field(name, shape, v, &Path::Key(&Path::Root, name))?;
                if !text.is_empty() {
                    sorted.push(text);
                }
            }
        }
        let standard = |key: &str| {
            LEFT_OUT.contains(&key) || FIXED.iter().chain(&SORTED).any(|(name, _)| *name == key)
        };
        for (key, v) in event.iter().filter(|(key, _)| !standard(key)) {
            self.extension(key, v, &Path::Key(&Path::Root, key), &mut sorted)?;
        }
        sorted.sort_unstable();
        out.extend(sorted);
        Ok(out)
    }

    /// One top-level field; empty if it contributes nothing.
    fn field(&self, name: &str, shape: Shape, v: &Value, path: &Path<'_>) -> Res<String> {
        Ok(match shape {
            Shape::One(kind) => self.named(name, v, kind, path)?.unwrap_or_default(),
            Shape::Many => self.each(name, v, Kind::Text, path)?.concat(),
            Shape::Epcs => prefixed(name, self.each("epc", v, Kind::Text, path)?),
            Shape::Quantities => {
                let items = self.list(v, path, |item, p| {
                    let fields = self.fields(object(item, p)?, &QUANTITY, p)?;
                    Ok(fields.map(|f| format!("quantityElement{f}")))
                })?;
                prefixed(name, items)
            }
            Shape::PersistentDisposition => {
                let map = object(v, path)?;
                let mut out = String::new();
                for key in ["set", "unset"] {
                    if let Some(values) = map.get(key) {
                        let kind = Kind::Vocab(Vocab::Disposition);
                        out.extend(self.each(key, values, kind, &Path::Key(path, key))?);
                    }
                }
                out.push_str(&self.rest(map, &["set", "unset"], path)?);
                prefixed(name, vec![out])
            }
            Shape::Location => {
                let fields = self.fields(object(v, path)?, &LOCATION, path)?;
                prefixed(name, fields.into_iter().collect())
            }
            Shape::Sensors => prefixed(name, self.list(v, path, |e, p| self.sensor(e, p))?),
            Shape::Typed(id, vocab) => {
                let items = self.list(v, path, |item, p| {
                    let map = object(item, p)?;
                    let mut out = String::new();
                    for (key, kind) in [("type", Kind::Vocab(vocab)), (id, Kind::Text)] {
                        if let Some(value) = map.get(key) {
                            out.extend(self.named(key, value, kind, &Path::Key(p, key))?);
                        }
                    }
                    out.push_str(&self.rest(map, &["type", id], p)?);
                    Ok((!out.is_empty()).then_some(out))
                })?;
                prefixed(name, items)
            }
            Shape::Ilmd => prefixed(name, vec![self.rest(object(v, path)?, &[], path)?]),
        })
    }

    /// `sensorElement`, its `sensorMetadata`, its sorted `sensorReport`s, then its extensions.
    fn sensor(&self, element: &Value, path: &Path<'_>) -> Res<Option<String>> {
        let map = object(element, path)?;
        let mut out = String::new();
        if let Some(meta) = map.get("sensorMetadata") {
            let p = Path::Key(path, "sensorMetadata");
            if let Some(fields) = self.fields(object(meta, &p)?, &SENSOR_METADATA, &p)? {
                out.push_str("sensorMetadata");
                out.push_str(&fields);
            }
        }
        if let Some(reports) = map.get("sensorReport") {
            let p = Path::Key(path, "sensorReport");
            let reports = self.list(reports, &p, |report, p| {
                let fields = self.fields(object(report, p)?, &SENSOR_REPORT, p)?;
                Ok(fields.map(|f| format!("sensorReport{f}")))
            })?;
            out.extend(reports);
        }
        out.push_str(&self.rest(map, &["sensorMetadata", "sensorReport"], path)?);
        Ok((!out.is_empty()).then(|| format!("sensorElement{out}")))
    }

    /// The listed fields of an object in order, then its user extensions; `None` if empty.
    fn fields(
        &self,
        map: &Map<String, Value>,
        order: &[(&str, Kind)],
        path: &Path<'_>,
    ) -> Res<Option<String>> {
        let mut out = String::new();
        for &(name, kind) in order {
            if let Some(v) = map.get(name) {
                out.extend(self.named(name, v, kind, &Path::Key(path, name))?);
            }
        }
        let known: Vec<&str> = order.iter().map(|(name, _)| *name).collect();
        out.push_str(&self.rest(map, &known, path)?);
        Ok((!out.is_empty()).then_some(out))
    }

    /// The keys of `map` other than `known`, as user extensions, sorted and concatenated.
    fn rest(&self, map: &Map<String, Value>, known: &[&str], path: &Path<'_>) -> Res<String> {
        let mut out = Vec::new();
        for (key, v) in map.iter().filter(|(key, _)| !known.contains(&key.as_str())) {
            self.extension(key, v, &Path::Key(path, key), &mut out)?;
        }
        out.sort_unstable();
        Ok(out.concat())
    }

    /// The rendered entries of a list, sorted, the empty ones dropped.
    fn list(
        &self,
        v: &Value,
        path: &Path<'_>,
        render: impl Fn(&Value, &Path<'_>) -> Res<Option<String>>,
    ) -> Res<Vec<String>> {
        let Value::Array(items) = v else {
            return Err(wrong(path, "an array", v));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(render(item, &Path::Index(path, i))?.filter(|s| !s.is_empty()));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// `name=value` for each entry of a value or list of values, sorted.
    fn each(&self, name: &str, v: &Value, kind: Kind, path: &Path<'_>) -> Res<Vec<String>> {
        let mut out = Vec::new();
        for (i, item) in entries(v).iter().enumerate() {
            let p = if v.is_array() {
                Path::Index(path, i)
            } else {
                *path
            };
            out.extend(self.named(name, item, kind, &p)?);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// `name=value`, or `None` when the value is null or empty.
    fn named(&self, name: &str, v: &Value, kind: Kind, path: &Path<'_>) -> Res<Option<String>> {
        Ok(self
            .value(v, kind, path)?
            .map(|text| format!("{name}={text}")))
    }

    /// The canonical text of a single value; `None` when it is null or empty.
    fn value(&self, v: &Value, kind: Kind, path: &Path<'_>) -> Res<Option<String>> {
        let text = match (v, kind) {
            (Value::Null, _) => return Ok(None),
            (Value::String(s), Kind::Time) => {
                timestamp(s.trim()).ok_or_else(|| EventHashError::BadTimestamp {
                    path: path.render(),
                    value: v.to_string(),
                })?
            }
            (_, Kind::Time) => return Err(wrong(path, "a date-time string", v)),
            (Value::String(s), Kind::Vocab(vocab)) => self.prefixes.canonical(s, Some(vocab)),
            (Value::String(s), Kind::Text) => self.prefixes.canonical(s, None),
            (Value::Number(n), _) => self.prefixes.canonical(&n.to_string(), None),
            (Value::Bool(b), _) => b.to_string(),
            (Value::Array(_) | Value::Object(_), _) => {
                return Err(wrong(path, "a single value", v));
            }
        };
        Ok((!text.is_empty()).then_some(text))
    }

    /// A user extension (also an ILMD entry): `{namespace}name=value`, one entry per list item,
    /// an object as its name followed by its own entries, sorted.
    fn extension(&self, key: &str, v: &Value, path: &Path<'_>, out: &mut Vec<String>) -> Res<()> {
        let name = self.prefixes.expand_key(key).map_err(|e| match e {
            KeyError::Unprefixed => EventHashError::UnknownField {
                path: path.render(),
            },
            KeyError::Undeclared(prefix) => EventHashError::UndeclaredPrefix {
                path: path.render(),
                prefix,
            },
        })?;
        self.extension_value(&name, v, path, out)
    }

    fn extension_value(
        &self,
        name: &str,
        v: &Value,
        path: &Path<'_>,
        out: &mut Vec<String>,
    ) -> Res<()> {
        if path.depth() > MAX_DEPTH {
            return Err(EventHashError::TooDeep {
                path: path.render(),
            });
        }
        match v {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.extension_value(name, item, &Path::Index(path, i), out)?;
                }
            }
            Value::Object(map) => {
                let mut inner = Vec::new();
                for (key, value) in map {
                    self.extension(key, value, &Path::Key(path, key), &mut inner)?;
                }
                inner.sort_unstable();
                out.push(format!("{name}{}", inner.concat()));
            }
            scalar => match self.value(scalar, Kind::Text, path)? {
                Some(text) => out.push(format!("{name}={text}")),
                None => out.push(name.to_owned()),
            },
        }
        Ok(())
    }
}

/// `name` followed by the entries, or nothing when they are all empty.
fn prefixed(name: &str, entries: Vec<String>) -> String {
    if entries.iter().all(String::is_empty) {
        String::new()
    } else {
        let mut out = name.to_owned();
        out.extend(entries);
        out
    }
}
