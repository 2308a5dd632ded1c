//! The MQTT sink: each document a QoS 1 PUBLISH, delivered when the broker's PUBACK for that
//! very packet arrives.

use super::sink::{Outgoing, Verdict};
use crate::config::upstream_target::MqttTarget;

/// Errors setting the sink up (unreadable TLS files).
#[derive(Debug, thiserror::Error)]
pub enum MqttSinkError {
    #[error("MQTT upstreams are not supported yet")]
    Unsupported,
}

pub struct MqttSink {}

impl MqttSink {
    pub fn new(
        _target: &MqttTarget,
        _upstream: &str,
        _timeout: std::time::Duration,
    ) -> Result<Self, MqttSinkError> {
        Err(MqttSinkError::Unsupported)
    }

    pub async fn send(&self, _d: &Outgoing) -> Verdict {
        Verdict::Retry {
            status: None,
            error: "not supported".into(),
            response: None,
            retry_after: None,
        }
    }
}
