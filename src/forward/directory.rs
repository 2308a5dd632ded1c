//! The directory sink: each document renamed into a pickup folder.

use super::sink::{Outgoing, Verdict};
use crate::config::upstream_target::DirectoryTarget;

/// Errors setting the sink up (the folder cannot be created).
#[derive(Debug, thiserror::Error)]
pub enum DirectorySinkError {
    #[error("directory upstreams are not supported yet")]
    Unsupported,
}

pub struct DirectorySink {}

impl DirectorySink {
    pub fn new(_target: &DirectoryTarget) -> Result<Self, DirectorySinkError> {
        Err(DirectorySinkError::Unsupported)
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
