//! `[api]`: the local HTTP API (docs/local-api.md) — where it listens and where its token is.
//!
//! The section is optional; without it the daemon serves no API. The API takes the writes a
//! line or the warehouse would otherwise publish (it can ship goods), in plain HTTP, so it
//! listens on a loopback address unless `allow_remote = true` says plant IT put it behind
//! something it trusts — and even then only with a token: an API reachable from the network
//! without one is refused. Without `token_file` (on loopback) the API serves its reads only
//! (health, metrics, batches, the outbox) and refuses every write. `token_name` names the
//! token's holder in the audit trail (`api:<name>`). The bearer token is named by a file,
//! never written in this file, and
//! like `mqtt.password_file` the file is not opened here: every CLI command loads the
//! configuration, and `linegate code` at a scanner bench must not need the service user's
//! secret. What its metadata shows is checked here (it exists, holds something, is readable by
//! its owner and by nobody else: `chmod 600`); the daemon reads it when it starts and refuses
//! an unreadable or blank one then (`api::Token::read`).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::reader::{Problems, Table};

/// Where the API listens when `api.listen` is not set.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9780";
/// Who an API write is audited as (`api:<name>`) unless `api.token_name` says otherwise.
pub const DEFAULT_TOKEN_NAME: &str = "api";
/// Longest `api.token_name`.
const MAX_TOKEN_NAME: usize = 64;

/// `[api]`: the local HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub listen: SocketAddr,
    /// `listen` may be a non-loopback address.
    pub allow_remote: bool,
    /// The file holding the bearer token for writes. A path, never the token. Without it the
    /// API takes no writes (only allowed on loopback).
    pub token_file: Option<PathBuf>,
    /// The token's holder, as the audit trail names it: `api:<token_name>`.
    pub token_name: String,
}

/// Reads `[api]`; `present` says whether the file has the table at all.
pub(super) fn read(root: &Table<'_>, present: bool, p: &mut Problems) -> Option<Api> {
    if !present {
        return None;
    }
    let t = root.table("api", p);
    let allow_remote = t.bool_or("allow_remote", false, p);
    let text = t
        .opt_string("listen", p)
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = match text.parse::<SocketAddr>() {
        Ok(a) if a.ip().is_loopback() || allow_remote => Some(a),
        Ok(a) => {
            p.add(
                t.path_of("listen"),
                format!(
                    "{a} is not a loopback address: the API takes writes (it can ship goods) over \
                     plain HTTP, where anyone on the network path can read the token; listen on \
                     127.0.0.1 or [::1], or set api.allow_remote = true if a firewall or a TLS \
                     proxy you control stands in front of it"
                ),
            );
            None
        }
        Err(_) => {
            p.add(
                t.path_of("listen"),
                format!(
                    "'{text}' must be an IP address and port such as {DEFAULT_LISTEN} or [::1]:9780"
                ),
            );
            None
        }
    };
    let token_file = t.opt_string("token_file", p).map(PathBuf::from);
    if let Some(file) = &token_file
        && let Some(problem) = token_file_problem(file)
    {
        p.add(t.path_of("token_file"), problem);
    }
    if let Some(a) = listen
        && !a.ip().is_loopback()
        && token_file.is_none()
    {
        p.add(
            t.path_of("token_file"),
            format!(
                "is required when the API listens on {a}, which is not a loopback address: an \
                 API reachable from the network must refuse writes without a bearer token; set \
                 token_file, or listen on 127.0.0.1"
            ),
        );
    }
    let token_name = t
        .opt_string("token_name", p)
        .unwrap_or_else(|| DEFAULT_TOKEN_NAME.into());
    let name_ok = !token_name.is_empty()
        && token_name.len() <= MAX_TOKEN_NAME
        && (token_name.bytes()).all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !name_ok {
        p.add(
            t.path_of("token_name"),
            format!(
                "must be 1 to {MAX_TOKEN_NAME} letters, digits or . _ - @ (it names the token's \
                 holder in the audit trail as api:<token_name>), such as \"wms\""
            ),
        );
    }
    t.finish(p);
    let listen = listen?;
    if !listen.ip().is_loopback() && token_file.is_none() {
        return None;
    }
    Some(Api {
        listen,
        allow_remote,
        token_file,
        token_name,
    })
}

/// What is wrong with the token file as its metadata shows it, if anything.
fn token_file_problem(file: &Path) -> Option<String> {
    let path = file.display();
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        // Another user (an operator running the CLI) may not see into the service user's
        // directory; the daemon checks again when it reads the file.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "{path} does not exist: write a random token into it (docs/local-api.md), owned \
                 by the user linegate runs as, and chmod 600 {path}"
            ));
        }
        Err(e) => return Some(format!("cannot read {path}: {e}")),
    };
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() {
        Some(format!("{path} is not a regular file"))
    } else if mode & 0o077 != 0 {
        Some(format!(
            "{path} is open to group or others (mode {mode:04o}); the token is for linegate \
             alone: chmod 600 {path}"
        ))
    } else if mode & 0o400 == 0 {
        Some(format!(
            "{path} is not readable (mode {mode:04o}): chmod 600 {path}"
        ))
    } else if meta.len() == 0 {
        Some(format!(
            "{path} is empty: write the token into it (docs/local-api.md)"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::{ParseError, parse};

    fn shipped() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/linegate.toml"))
            .expect("config/linegate.toml")
    }

    /// The shipped example without its `[api]` table (its keys up to the next table).
    fn example() -> String {
        let text = shipped();
        let start = text
            .find("\n[api]\n")
            .expect("the example has an [api] table")
            + 1;
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |i| start + 1 + i + 1);
        format!("{}{}", &text[..start], &text[end..])
    }

    #[test]
    fn the_shipped_example_serves_reads_on_loopback_without_a_token() {
        let api = parse(&shipped()).expect("valid").api.expect("[api] on");
        assert_eq!(api.listen, DEFAULT_LISTEN.parse().expect("addr"));
        assert_eq!((api.allow_remote, api.token_file), (false, None));
    }

    /// A token file with `mode` and `text` in a fresh directory (kept alive by the caller).
    fn token(mode: u32, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("api-token");
        std::fs::write(&file, text).expect("write token");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        (dir, file)
    }

    fn with_api(keys: &str) -> Result<crate::config::Config, ParseError> {
        parse(&format!("{}\n[api]\n{keys}\n", example()))
    }

    /// The problems of a refused file, as `path: message` lines.
    fn problems(r: Result<crate::config::Config, ParseError>) -> String {
        match r {
            Err(ParseError::Invalid(p)) => p.iter().map(|p| format!("{p}\n")).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn without_the_table_there_is_no_api_and_an_empty_one_serves_reads_on_loopback() {
        assert_eq!(parse(&example()).expect("valid").api, None);
        let api = with_api("").expect("valid").api.expect("api");
        assert_eq!(api.listen, DEFAULT_LISTEN.parse().expect("addr"));
        assert_eq!(api.listen.port(), 9780);
        assert_eq!((api.token_file, api.token_name.as_str()), (None, "api"));
    }

    #[test]
    fn an_api_off_loopback_without_a_token_is_refused_even_when_remote_access_is_allowed() {
        for keys in [
            "listen = \"0.0.0.0:9780\"\nallow_remote = true",
            "listen = \"[::]:9780\"\nallow_remote = true",
            "listen = \"10.1.2.3:9780\"\nallow_remote = true\ntoken_name = \"wms\"",
        ] {
            let p = problems(with_api(keys));
            assert!(
                p.contains("api.token_file: is required when the API listens on")
                    && p.contains("not a loopback address"),
                "{keys}: {p}"
            );
        }
    }

    #[test]
    fn the_token_name_is_a_short_plain_word() {
        let (_dir, file) = token(0o600, "an-api-token-of-some-length");
        let named = with_api(&format!("token_file = {file:?}\ntoken_name = \"wms-1\""));
        assert_eq!(named.expect("valid").api.expect("api").token_name, "wms-1");
        for bad in [
            "\"\"",
            "\"two words\"",
            "\"a:b\"",
            &format!("{:?}", "x".repeat(65)),
        ] {
            let p = problems(with_api(&format!("token_name = {bad}")));
            // An empty string is refused by the reader itself ("must not be empty").
            assert!(
                p.contains("api.token_name: must be 1 to 64")
                    || p.contains("api.token_name: must not be empty"),
                "{bad}: {p}"
            );
        }
    }

    #[test]
    fn a_private_token_file_on_loopback_is_accepted_with_the_default_address() {
        let (_dir, file) = token(0o600, "an-api-token-of-some-length\n");
        let c = with_api(&format!("token_file = {:?}", file.display().to_string()));
        let api = c.expect("valid").api.expect("api");
        assert_eq!(api.listen, DEFAULT_LISTEN.parse().expect("addr"));
        assert_eq!(
            (api.allow_remote, api.token_file),
            (false, Some(file.clone()))
        );
        let v6 = with_api(&format!("listen = \"[::1]:9000\"\ntoken_file = {file:?}"));
        assert_eq!(v6.expect("valid").api.expect("api").listen.port(), 9000);
    }

    #[test]
    fn a_non_loopback_address_is_refused_unless_remote_access_is_allowed() {
        let (_dir, file) = token(0o600, "an-api-token-of-some-length");
        for addr in ["0.0.0.0:9780", "192.168.10.5:9780", "[::]:9780"] {
            let p = problems(with_api(&format!(
                "listen = \"{addr}\"\ntoken_file = {file:?}"
            )));
            assert!(
                p.contains("api.listen")
                    && p.contains("not a loopback")
                    && p.contains("allow_remote"),
                "{p}"
            );
        }
        let allowed = with_api(&format!(
            "listen = \"0.0.0.0:9780\"\nallow_remote = true\ntoken_file = {file:?}"
        ));
        assert!(allowed.expect("valid").api.expect("api").allow_remote);
        let p = problems(with_api(&format!(
            "listen = \"localhost:9780\"\ntoken_file = {file:?}"
        )));
        assert!(p.contains("must be an IP address and port"), "{p}");
    }

    #[test]
    fn a_token_file_that_is_shared_missing_unreadable_or_empty_is_refused() {
        let cases = [
            (0o644, "tok", "chmod 600"),
            (0o640, "tok", "chmod 600"),
            (0o604, "tok", "chmod 600"),
            (0o200, "tok", "not readable"),
            (0o600, "", "is empty"),
        ];
        for (mode, text, expected) in cases {
            let (_dir, file) = token(mode, text);
            let p = problems(with_api(&format!("token_file = {file:?}")));
            assert!(
                p.contains("api.token_file") && p.contains(expected),
                "mode {mode:o}: {p}"
            );
        }
        let p = problems(with_api("token_file = \"/nonexistent/linegate/api-token\""));
        assert!(
            p.contains("does not exist") && p.contains("chmod 600"),
            "{p}"
        );
        let (dir, _) = token(0o600, "tok");
        let p = problems(with_api(&format!("token_file = {:?}", dir.path())));
        assert!(p.contains("not a regular file"), "{p}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_named() {
        let (_dir, file) = token(0o600, "tok");
        let p = problems(with_api(&format!(
            "token_file = {file:?}\ntoken = \"secret\"\nallow_remote = \"yes\""
        )));
        assert!(p.contains("api.token: unknown key"), "{p}");
        assert!(p.contains("api.allow_remote: must be true or false"), "{p}");
        // The value of an unknown key is never echoed (it may be the token itself).
        assert!(!p.contains("secret"), "{p}");
    }

    /// The shipped `[api]` table with its commented `token_file` line turned on (pointed at a
    /// real file) is valid.
    #[test]
    fn the_shipped_table_with_its_token_file_is_valid() {
        let (_dir, file) = token(0o600, "an-api-token-of-some-length");
        let text = shipped().replacen(
            "# token_file = \"/etc/linegate/api-token\"",
            &format!("token_file = {:?}", file.display().to_string()),
            1,
        );
        assert_ne!(
            text,
            shipped(),
            "the example has no commented token_file line"
        );
        let c = parse(&text).expect("valid");
        assert_eq!(c.api.expect("api").token_file, Some(file));
    }
}
