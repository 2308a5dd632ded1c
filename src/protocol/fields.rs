//! Typed access to the fields of one decoded JSON object: a missing field, a wrong type or an
//! over-long value becomes the `Rejection` the line is answered with (`missing_field`,
//! `invalid_field`), worded with the field's name, so every message type's decoder (`protocol`,
//! `protocol::ship`) refuses the same mistake with the same sentence. Identifier fields (`codes`,
//! `parent`) are read with the protocol's one code reader.

use serde_json::{Map, Value};

use super::{DecodeContext, MAX_ID_LEN, MAX_REASON_LEN, code};
use crate::model::{CodeRecord, RejectCode, Rejection};

pub(super) fn missing(field: &str) -> Rejection {
    Rejection::new(
        RejectCode::MissingField,
        format!("field `{field}` is required"),
    )
}

pub(super) fn invalid(field: &str, why: impl std::fmt::Display) -> Rejection {
    Rejection::new(RejectCode::InvalidField, format!("field `{field}` {why}"))
}

/// Typed access to the fields of one message, turning absence and wrong types into rejections.
pub(super) struct Fields<'a> {
    pub obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    pub fn string(&self, key: &str) -> Result<String, Rejection> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Err(missing(key)),
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(invalid(key, "must be a non-empty string")),
        }
    }

    /// Optional free text (a reason), printable, at most `MAX_REASON_LEN` characters.
    pub fn opt_text(&self, key: &str) -> Result<Option<String>, Rejection> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s))
                if s.chars().count() <= MAX_REASON_LEN && !s.chars().any(|c| c.is_control()) =>
            {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(invalid(
                key,
                format!("must be a string of at most {MAX_REASON_LEN} printable characters"),
            )),
        }
    }

    pub fn id_string(&self, key: &str) -> Result<String, Rejection> {
        let s = self.string(key)?;
        if s.len() > MAX_ID_LEN || s.chars().any(|c| c.is_control()) {
            return Err(invalid(
                key,
                format!("must be at most {MAX_ID_LEN} printable characters"),
            ));
        }
        Ok(s)
    }
}

/// A non-empty array of identifiers named `field`, each read as `code` reads one.
pub(super) fn codes(
    f: &Fields<'_>,
    field: &str,
    ctx: &DecodeContext<'_>,
) -> Result<Vec<CodeRecord>, Rejection> {
    let list = match f.obj.get(field) {
        None => return Err(missing(field)),
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(_) => {
            return Err(invalid(
                field,
                "must be a non-empty array of identifier strings",
            ));
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let name = format!("{field}[{i}]");
        let Value::String(text) = v else {
            return Err(invalid(&name, "must be a string"));
        };
        out.push(code(&name, text, ctx)?);
    }
    Ok(out)
}

/// One identifier named `field`.
pub(super) fn one_code(
    f: &Fields<'_>,
    field: &str,
    ctx: &DecodeContext<'_>,
) -> Result<CodeRecord, Rejection> {
    let text = f.string(field)?;
    code(field, &text, ctx)
}
