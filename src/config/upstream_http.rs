//! The keys of an HTTP(S) `[[upstream]]` (`url = "https://…"`): trust (`ca_file`,
//! `tls_verify`), mutual TLS (`client_cert_file`, `client_key_file`), authentication (`auth`
//! with `token_file`, or `username` and `password_file`), extra `headers` and `gzip`.
//!
//! Like `[mqtt]`, only where the secrets are is configured, never the secrets; the files are
//! read by the sink when the daemon starts (`forward::http`), so an operator's CLI that loads the
//! same file never needs them. What can be checked without them is checked here, all at once:
//! keys that belong together, keys of another `auth`, TLS keys on a plain `http://` URL, and
//! each header's name and value (and that it is none of the headers linegate sets itself).

use std::collections::HashSet;
use std::path::PathBuf;

use reqwest::header::{HeaderName, HeaderValue};

use super::mqtt_security::client_auth;
use super::reader::{Problems, Table};
use super::upstream_target::{HttpAuth, HttpTarget};

/// Headers linegate sets on every request (or that HTTP itself owns), with what to do instead.
const RESERVED: &[(&str, &str)] = &[
    ("content-type", "it follows the document's format"),
    ("content-length", "it is the document's size"),
    (
        "content-encoding",
        "set gzip = true to send gzip-compressed bodies",
    ),
    (
        "authorization",
        "use auth = \"bearer\" with token_file, or auth = \"basic\" with username and \
         password_file, so the secret stays in a file",
    ),
    (
        "idempotency-key",
        "it is the document's id, the same on every attempt",
    ),
    (
        "x-linegate-part",
        "it is the document's part of its message (1/1, 2/3, …)",
    ),
    ("host", "it follows the url"),
    ("transfer-encoding", "HTTP sets it"),
    ("connection", "HTTP sets it"),
];

pub(super) fn read(t: &Table<'_>, url: &str, p: &mut Problems) -> Option<HttpTarget> {
    let parsed = reqwest::Url::parse(url).ok();
    let ok = parsed
        .as_ref()
        .is_some_and(|x| matches!(x.scheme(), "http" | "https") && x.host_str().is_some());
    if !ok {
        p.add(
            t.path_of("url"),
            format!("'{url}' must be an http:// or https:// URL"),
        );
    }
    let https = parsed.as_ref().is_some_and(|x| x.scheme() == "https");
    let ca_file = t.opt_string("ca_file", p).map(PathBuf::from);
    let tls_verify = t.bool_or("tls_verify", true, p);
    let client_auth = client_auth(t, p);
    if !https && ok {
        let tls_keys = [
            ("ca_file", ca_file.is_some()),
            ("client_cert_file", client_auth.is_some()),
            ("tls_verify", !tls_verify),
        ];
        for (key, set) in tls_keys {
            if set {
                p.add(
                    t.path_of(key),
                    "is a TLS setting: use an https:// url (or remove it)",
                );
            }
        }
    }
    let auth = auth(t, p);
    let headers = headers(t, p);
    let gzip = t.bool_or("gzip", false, p);
    ok.then(|| HttpTarget {
        url: url.to_string(),
        ca_file,
        client_auth,
        auth,
        headers,
        gzip,
        insecure_skip_verify: !tls_verify,
    })
}

/// `auth` ("none", "bearer", "basic") and the keys each one takes.
fn auth(t: &Table<'_>, p: &mut Problems) -> Option<HttpAuth> {
    let kind = t.choice("auth", &["none", "bearer", "basic"], p);
    let token_file = t.opt_string("token_file", p).map(PathBuf::from);
    let username = t.opt_string("username", p);
    let password_file = t.opt_string("password_file", p).map(PathBuf::from);
    let mut only_with = |key: &str, set: bool, with: &str| {
        if set {
            p.add(
                t.path_of(key),
                format!("is used only with auth = \"{with}\": add that (or remove {key})"),
            );
        }
    };
    if kind != "bearer" {
        only_with("token_file", token_file.is_some(), "bearer");
    }
    if kind != "basic" {
        only_with("username", username.is_some(), "basic");
        only_with("password_file", password_file.is_some(), "basic");
    }
    let mut required = |key: &str, set: bool, what: &str| {
        if !set {
            p.add(
                t.path_of(key),
                format!("is required with auth = \"{kind}\" ({what})"),
            );
        }
    };
    match kind {
        "bearer" => {
            required(
                "token_file",
                token_file.is_some(),
                "a file holding the token, chmod 600",
            );
            Some(HttpAuth::Bearer {
                token_file: token_file?,
            })
        }
        "basic" => {
            required("username", username.is_some(), "the user name");
            required(
                "password_file",
                password_file.is_some(),
                "a file holding the password, chmod 600",
            );
            Some(HttpAuth::Basic {
                username: username?,
                password_file: password_file?,
            })
        }
        _ => None,
    }
}

/// `headers = { "X-Partner-Id" = "abc" }`: each a valid name and value, none reserved, none
/// twice (names ignore case).
fn headers(t: &Table<'_>, p: &mut Problems) -> Vec<(String, String)> {
    let path = t.path_of("headers");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (name, value) in t.string_map("headers", p) {
        let at = format!("{path}.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            p.add(
                at,
                "is not an HTTP header name: use letters, digits and '-' (such as X-Partner-Id)",
            );
            continue;
        };
        if let Some((_, instead)) = RESERVED.iter().find(|(n, _)| *n == header.as_str()) {
            p.add(
                at,
                format!("is set by linegate and cannot be overridden: {instead}"),
            );
            continue;
        }
        if HeaderValue::from_str(&value).is_err() {
            p.add(
                at,
                "is not a valid header value: visible ASCII characters and spaces, one line",
            );
            continue;
        }
        if !seen.insert(header.as_str().to_string()) {
            p.add(at, "is given twice (header names ignore case): keep one");
            continue;
        }
        out.push((name, value));
    }
    out
}

#[cfg(test)]
#[path = "upstream_http_tests.rs"]
mod tests;
