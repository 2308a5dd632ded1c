//! What the HTTPS sink reads from disk when it is built: the CA bundle, the client certificate
//! and key, and the bearer token or basic-auth password.
//!
//! Reading them at start (not per request, not at config time) makes a broken file stop the
//! daemon with the file named, while the operator's CLI, which loads the same configuration,
//! never needs them. A secret file must be for its owner alone, as `api.token_file`; a secret
//! ends up only in a header value marked sensitive, and no error here quotes one.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::HttpSinkError;
use super::verdict::chain;
use crate::config::upstream_target::HttpAuth;

/// Longest secret file read (a token or password is a line, not a document).
const MAX_SECRET: u64 = 4096;

pub(super) fn ca_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, HttpSinkError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| HttpSinkError::CaFile {
        path: shown.clone(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| HttpSinkError::CaPem {
        path: shown.clone(),
        problem: chain(&e),
    })?;
    if certs.is_empty() {
        return Err(HttpSinkError::CaPem {
            path: shown,
            problem: "no certificate found".into(),
        });
    }
    Ok(certs)
}

pub(super) fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, HttpSinkError> {
    std::fs::read(path).map_err(|source| HttpSinkError::Unreadable {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// Private keys should be for their owner alone; a warning (the key file may be shared with
/// other services of the same group by design).
pub(super) fn warn_if_open(what: &str, path: &Path) {
    if let Ok(m) = std::fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the {what} file is open to group or others (mode {mode:04o}): chmod 600 {}", path.display());
        }
    }
}

/// The `Authorization` header, its secret read from its file now (marked sensitive).
pub(super) fn authorization(
    client: &reqwest::Client,
    url: &str,
    auth: &HttpAuth,
) -> Result<HeaderValue, HttpSinkError> {
    let mut value = match auth {
        HttpAuth::Bearer { token_file } => {
            let token = secret("token file", token_file)?;
            let bad = |problem: &str| HttpSinkError::Secret {
                what: "token file",
                path: token_file.display().to_string(),
                problem: problem.into(),
            };
            let token = token.trim();
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    "must hold one token of visible ASCII characters (no spaces, one line)",
                ));
            }
            HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| bad("holds a token that cannot be sent in a header"))?
        }
        HttpAuth::Basic {
            username,
            password_file,
        } => {
            let password = secret("password file", password_file)?;
            // reqwest's own encoder (base64 of "user:password"); the request is never sent.
            let req = client
                .post(url)
                .basic_auth(username, Some(password))
                .build()?;
            req.headers()
                .get(AUTHORIZATION)
                .cloned()
                .ok_or_else(|| HttpSinkError::Secret {
                    what: "password file",
                    path: password_file.display().to_string(),
                    problem: "could not be made into a basic-auth header".into(),
                })?
        }
    };
    value.set_sensitive(true);
    Ok(value)
}

/// A secret file's text without its final line break: the file must be for its owner alone
/// (as `api.token_file`) and not empty.
fn secret(what: &'static str, path: &Path) -> Result<String, HttpSinkError> {
    let shown = path.display().to_string();
    let invalid = |problem: String| HttpSinkError::Secret {
        what,
        path: shown.clone(),
        problem,
    };
    let unreadable = |source| HttpSinkError::Unreadable {
        what,
        path: shown.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(unreadable)?;
    let mode = f.metadata().map_err(unreadable)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(invalid(format!(
            "is open to group or others (mode {mode:04o}): chmod 600 {shown}"
        )));
    }
    let mut text = String::new();
    f.take(MAX_SECRET + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_SECRET {
        return Err(invalid(format!("is longer than {MAX_SECRET} bytes")));
    }
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(invalid("is empty: write the secret into it".into()));
    }
    Ok(text.to_string())
}
