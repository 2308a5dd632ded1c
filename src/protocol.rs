//! MQTT protocol v1: the contract with PLC integrators (docs/mqtt-protocol-v1.md,
//! schemas/line-event-v1.schema.json).
//!
//! Decoding is pure: bytes in, a `model::LineMessage` or a `Rejection` out. Every way a payload
//! can be wrong (not JSON, too large, a missing or mistyped field, an unknown type, a malformed
//! GS1 code) ends in a `Rejection` with a code the line can act on and a sentence an operator
//! understands. Nothing here panics on input and nothing here touches the store: whether a batch
//! is open or a serial is already used is for `rules`, which sees the ledger. The warehouse's
//! messages (`ship`, `void_shipment`, `receive`) are decoded in `ship`; `fields` reads fields.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

mod fields;
mod ship;

use fields::{Fields, codes, invalid, one_code};

use crate::gs1::{self, CompanyPrefixes, Gtin, Lot};
use crate::model::{
    BatchOpen, CodeRecord, LineEvent, LineMessage, RejectCode, Rejection, UnitAction,
};

/// Longest message id, batch id or work order accepted (they end up in keys and logs).
const MAX_ID_LEN: usize = 128;

/// The message types of protocol v1.
pub const TYPES: [&str; 13] = [
    "batch_open",
    "commission",
    "aggregate",
    "disaggregate",
    "decommission",
    "destroy",
    "sample",
    "correct_status",
    "batch_close",
    "batch_cancel",
    "ship",
    "void_shipment",
    "receive",
];

/// Longest free-text `reason` accepted.
const MAX_REASON_LEN: usize = 500;

/// What a decoder needs besides the payload.
pub struct DecodeContext<'a> {
    pub line: &'a str,
    pub received_at: DateTime<Utc>,
    pub max_payload_bytes: usize,
    pub prefixes: &'a CompanyPrefixes,
}

/// A payload that was refused, with the message id when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub message_id: Option<String>,
    pub rejection: Rejection,
}

/// Decodes one payload from `{prefix}/lines/{line}/events`.
pub fn decode(payload: &[u8], ctx: &DecodeContext<'_>) -> Result<LineMessage, Refused> {
    if payload.len() > ctx.max_payload_bytes {
        return Err(Refused {
            message_id: None,
            rejection: Rejection::new(
                RejectCode::PayloadTooLarge,
                format!(
                    "payload is {} bytes, more than mqtt.max_payload_bytes = {}; split the message",
                    payload.len(),
                    ctx.max_payload_bytes
                ),
            ),
        });
    }
    let value: Value = serde_json::from_slice(payload).map_err(|e| Refused {
        message_id: None,
        rejection: Rejection::new(
            RejectCode::InvalidJson,
            format!("payload is not valid JSON: {e}"),
        ),
    })?;
    let Value::Object(obj) = value else {
        return Err(Refused {
            message_id: None,
            rejection: Rejection::new(RejectCode::InvalidJson, "payload must be a JSON object"),
        });
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_LEN => s.clone(),
        Some(_) => {
            return Err(refused(
                None,
                RejectCode::InvalidField,
                format!("field `id` must be a non-empty string of at most {MAX_ID_LEN} characters"),
            ));
        }
        None => {
            return Err(refused(
                None,
                RejectCode::MissingField,
                "field `id` is required",
            ));
        }
    };
    decode_object(&obj, &id, ctx).map_err(|rejection| Refused {
        message_id: Some(id),
        rejection,
    })
}

fn refused(id: Option<String>, code: RejectCode, reason: impl Into<String>) -> Refused {
    Refused {
        message_id: id,
        rejection: Rejection::new(code, reason),
    }
}

fn decode_object(
    obj: &Map<String, Value>,
    id: &str,
    ctx: &DecodeContext<'_>,
) -> Result<LineMessage, Rejection> {
    let f = Fields { obj };
    let kind = f.string("type")?;
    let time = match obj.get("time") {
        None | Some(Value::Null) => ctx.received_at,
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                invalid(
                    "time",
                    format!("must be an RFC 3339 timestamp such as 2026-03-04T10:15:00Z ({e})"),
                )
            })?
            .with_timezone(&Utc),
        Some(_) => return Err(invalid("time", "must be an RFC 3339 timestamp string")),
    };
    let event = match kind.as_str() {
        "batch_open" => LineEvent::BatchOpen(batch_open(&f)?),
        "commission" => LineEvent::Commission {
            batch: f.id_string("batch")?,
            codes: codes(&f, "codes", ctx)?,
        },
        "aggregate" => LineEvent::Aggregate {
            parent: one_code(&f, "parent", ctx)?,
            children: codes(&f, "children", ctx)?,
        },
        "disaggregate" => LineEvent::Disaggregate {
            parent: one_code(&f, "parent", ctx)?,
            children: match obj.get("children") {
                None | Some(Value::Null) => None,
                Some(_) => Some(codes(&f, "children", ctx)?),
            },
        },
        "decommission" | "destroy" | "sample" | "correct_status" => LineEvent::Units {
            action: match kind.as_str() {
                "decommission" => UnitAction::Decommission,
                "destroy" => UnitAction::Destroy,
                "sample" => UnitAction::Sample,
                _ => UnitAction::CorrectStatus,
            },
            codes: codes(&f, "codes", ctx)?,
            reason: f.opt_text("reason")?,
        },
        "batch_close" => LineEvent::BatchClose {
            batch: f.id_string("batch")?,
        },
        "batch_cancel" => LineEvent::BatchCancel {
            batch: f.id_string("batch")?,
            reason: f.opt_text("reason")?,
        },
        "ship" => ship::ship(&f, ctx)?,
        "void_shipment" => ship::void_shipment(&f)?,
        "receive" => ship::receive(&f, ctx)?,
        other => {
            return Err(Rejection::new(
                RejectCode::UnknownType,
                format!(
                    "unknown type `{other}`; protocol v1 knows {}",
                    TYPES.join(", ")
                ),
            ));
        }
    };
    Ok(LineMessage {
        line: ctx.line.to_string(),
        message_id: id.to_string(),
        time,
        event,
    })
}

fn batch_open(f: &Fields<'_>) -> Result<BatchOpen, Rejection> {
    let batch = f.id_string("batch")?;
    let gtin = Gtin::parse(&f.string("gtin")?).map_err(|e| invalid("gtin", e.to_string()))?;
    let lot = Lot::parse(&f.string("lot")?).map_err(|e| invalid("lot", e.to_string()))?;
    let expiry_raw = f.string("expiry")?;
    let expiry = NaiveDate::parse_from_str(&expiry_raw, "%Y-%m-%d").map_err(|_| {
        invalid(
            "expiry",
            format!("'{expiry_raw}' is not a date in the form YYYY-MM-DD"),
        )
    })?;
    let work_order = match f.obj.get("work_order") {
        None | Some(Value::Null) => None,
        Some(_) => Some(f.id_string("work_order")?),
    };
    let planned_quantity = match f.obj.get("planned_quantity") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| invalid("planned_quantity", "must be a whole number"))?,
        ),
    };
    let mut pack_gtins = Vec::new();
    match f.obj.get("pack_gtins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, v) in list.iter().enumerate() {
                let field = format!("pack_gtins[{i}]");
                let text = v
                    .as_str()
                    .ok_or_else(|| invalid(&field, "must be a string"))?;
                let g = Gtin::parse(text).map_err(|e| invalid(&field, e.to_string()))?;
                pack_gtins.push(g.as_str().to_string());
            }
        }
        Some(_) => return Err(invalid("pack_gtins", "must be an array of GTIN strings")),
    }
    Ok(BatchOpen {
        batch,
        gtin: gtin.as_str().to_string(),
        pack_gtins,
        lot: lot.as_str().to_string(),
        expiry,
        work_order,
        planned_quantity,
    })
}

/// Parses one identifier (SGTIN or SSCC, any form) named `field` in messages; also used by
/// the serial scanner stations, so a scanned code is read exactly like one sent over MQTT.
pub fn code(field: &str, text: &str, ctx: &DecodeContext<'_>) -> Result<CodeRecord, Rejection> {
    let bad = |e: gs1::Gs1Error| {
        Rejection::new(
            RejectCode::InvalidCode,
            format!("{field} '{}': {e}", shorten(text)),
        )
    };
    let code = gs1::parse_code(text, ctx.received_at.date_naive()).map_err(bad)?;
    let epc = ctx.prefixes.epc_uri(&code).map_err(bad)?;
    Ok(CodeRecord {
        key: code.id.key(),
        epc,
        gtin: code.id.gtin().map(|g| g.as_str().to_string()),
        lot: code.lot.map(|l| l.as_str().to_string()),
        expiry: code.expiry.map(|e| e.date()),
    })
}

/// Keeps operator messages readable when a line sends something huge.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(60).collect::<String>())
    }
}

#[cfg(test)]
mod tests;
