//! The bearer token of the local API: read once at start, kept only as a digest, compared in
//! constant time.
//!
//! A write through the API is a line message — it can ship goods — so only a program holding
//! the token (`api.token_file`) may make one. The file is read when the daemon starts and
//! checked again there (its mode may have changed since `config::load` looked, and only the
//! service user can tell whether it is readable); the token itself is not kept: only its
//! SHA-256 digest is, and a presented token is hashed and compared byte by byte without an
//! early exit, so neither the time an answer takes nor a memory dump gives the token away.
//! Nothing here logs, formats or `Debug`-prints a token.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use super::ApiError;

/// Shortest token accepted: a token a person could guess is no protection.
pub const MIN_LEN: usize = 16;
/// Longest token file read (a token is a line, not a document).
const MAX_FILE: u64 = 4096;

/// The API's token, as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Reads the token from `file`: the file must be for its owner alone (`chmod 600`) and hold
    /// one token of at least `MIN_LEN` visible ASCII characters (surrounding whitespace, such as
    /// the final newline, is not part of it).
    pub fn read(file: &Path) -> Result<Token, ApiError> {
        let invalid = |problem: String| ApiError::Token {
            path: file.to_path_buf(),
            problem,
        };
        let read_error = |e: std::io::Error| {
            invalid(format!(
                "cannot be read: {e}; it must be readable by the user linegate runs as (chown \
                 it to that user, chmod 600)"
            ))
        };
        let f = std::fs::File::open(file).map_err(read_error)?;
        let mode = f.metadata().map_err(read_error)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(invalid(format!(
                "is open to group or others (mode {mode:04o}): chmod 600 {}",
                file.display()
            )));
        }
        let mut text = String::new();
        f.take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        let token = text.trim();
        if text.len() as u64 > MAX_FILE {
            Err(invalid(format!("is longer than {MAX_FILE} bytes")))
        } else if token.is_empty() {
            Err(invalid("holds no token: write one into it".into()))
        } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
            Err(invalid(
                "must hold one token of visible ASCII characters (no spaces, one line)".into(),
            ))
        } else if token.len() < MIN_LEN {
            Err(invalid(format!(
                "holds a token of {} characters; use at least {MIN_LEN} random ones",
                token.len()
            )))
        } else {
            Ok(Token::of(token))
        }
    }

    fn of(token: &str) -> Token {
        Token {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token; takes the same time wherever the two differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let other: [u8; 32] = Sha256::digest(presented).into();
        let diff = (self.digest.iter())
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Whether the request carries `Authorization: Bearer <the token>`.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return false;
        };
        let value = value.as_bytes();
        let scheme = b"bearer ";
        value.len() > scheme.len()
            && value[..scheme.len()].eq_ignore_ascii_case(scheme)
            && self.matches(value[scheme.len()..].trim_ascii())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const GOOD: &str = "0123456789abcdefXYZ";

    fn file(mode: u32, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api-token");
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        (dir, path)
    }

    fn refusal(mode: u32, text: &str) -> String {
        let (_dir, path) = file(mode, text);
        let e = Token::read(&path).expect_err("refused");
        let shown = e.to_string();
        assert!(shown.contains("api.token_file"), "{shown}");
        shown
    }

    #[test]
    fn a_private_file_gives_the_token_without_its_newline() {
        let (_dir, path) = file(0o600, &format!("{GOOD}\n"));
        let token = Token::read(&path).expect("token");
        assert!(token.matches(GOOD.as_bytes()));
        assert!(!token.matches(format!("{GOOD}\n").as_bytes()));
        assert!(!token.matches(&GOOD.as_bytes()[1..]));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }

    #[test]
    fn a_shared_blank_short_or_odd_token_file_is_refused_and_never_echoed() {
        assert!(refusal(0o640, GOOD).contains("chmod 600"));
        assert!(refusal(0o600, " \n").contains("holds no token"));
        assert!(refusal(0o600, "short").contains("at least 16"));
        let two = refusal(0o600, "first-token-of-length second-token-of-length");
        assert!(
            two.contains("visible ASCII") && !two.contains("first-token"),
            "{two}"
        );
        assert!(refusal(0o600, &"x".repeat(5000)).contains("longer than"));
        let missing = Token::read(Path::new("/nonexistent/api-token")).expect_err("missing");
        assert!(missing.to_string().contains("cannot be read"), "{missing}");
    }

    #[test]
    fn only_the_bearer_scheme_with_the_token_authorizes() {
        let token = Token::of(GOOD);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_str(v).expect("header"));
            token.authorizes(&h)
        };
        assert!(with(&format!("Bearer {GOOD}")));
        assert!(with(&format!("bearer {GOOD}")));
        assert!(!with(&format!("Basic {GOOD}")));
        assert!(!with(&format!("Bearer {GOOD}x")));
        assert!(!with("Bearer "));
        assert!(!token.authorizes(&HeaderMap::new()));
    }
}
