//! From a PUBLISH to what the store keeps, and from a commit outcome to the line's reject notice.
//!
//! Both directions are pure apart from the clock: decoding never fails (a bad message becomes a
//! refusal the store quarantines), and a notice is built only from a committed outcome, so the
//! line is told about exactly what the store recorded.

use chrono::Utc;
use rumqttc::Publish;

use super::MqttSourceConfig;
use crate::model::{RejectCode, Rejection};
use crate::protocol::{self, DecodeContext};
use crate::store::{Decoded, IngestItem, IngestOutcome};

/// Decodes a PUBLISH into what the store keeps, and names its line (`unknown` when the topic
/// does not name one).
pub fn to_item(cfg: &MqttSourceConfig, publish: &Publish) -> (IngestItem, String) {
    let topic = publish.topic.clone();
    let received_at = Utc::now();
    let topic_line = cfg.line_of(&topic).unwrap_or("unknown").to_string();
    let known = cfg.lines.contains(&topic_line);
    let decoded = if known {
        let ctx = DecodeContext {
            line: &topic_line,
            received_at,
            max_payload_bytes: cfg.mqtt.max_payload_bytes,
            prefixes: &cfg.prefixes,
        };
        match protocol::decode(&publish.payload, &ctx) {
            Ok(msg) => Decoded::Accepted(msg),
            Err(r) => Decoded::Refused {
                message_id: r.message_id,
                rejection: r.rejection,
            },
        }
    } else {
        Decoded::Refused {
            message_id: message_id_of(&publish.payload),
            rejection: Rejection::new(
                RejectCode::UnknownLine,
                format!(
                    "line '{topic_line}' is not configured in [[line]]; add it or fix the topic"
                ),
            ),
        }
    };
    let item = IngestItem {
        topic,
        line: known.then(|| topic_line.clone()),
        received_at,
        payload: publish.payload.to_vec(),
        decoded,
    };
    (item, topic_line)
}

/// The reject notice for a committed outcome, if the line must be told: (topic, body).
pub fn notice(
    prefix: &str,
    line: &str,
    publish: &Publish,
    outcome: &IngestOutcome,
) -> Option<(String, String)> {
    let r = match outcome {
        IngestOutcome::Applied | IngestOutcome::Duplicate { earlier: None } => return None,
        IngestOutcome::Rejected(r) | IngestOutcome::Duplicate { earlier: Some(r) } => r,
    };
    let id = message_id_of(&publish.payload);
    tracing::warn!(%line, id = ?id, code = r.code.as_str(), reason = %r.reason, "message rejected and quarantined");
    let body =
        serde_json::json!({ "id": id, "code": r.code.as_str(), "reason": r.reason }).to_string();
    Some((format!("{prefix}/lines/{line}/rejects"), body))
}

/// The message id for a notice, when the payload has one (even a refused payload may).
fn message_id_of(payload: &[u8]) -> Option<String> {
    if payload.len() > 1024 * 1024 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("id")?.as_str().map(str::to_string)
}
