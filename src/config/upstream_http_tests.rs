//! Tests of the HTTP `[[upstream]]` keys: defaults, every key, and each problem at its key
//! path with what to do.

use super::super::upstream_target::Target;
use super::super::{ParseError, parse};
use super::*;
use crate::config::ClientAuth;

/// The example configuration with its first upstream's `url` and `keys` replaced/added:
/// the HTTP target, or every problem.
fn read_with(url: &str, keys: &str) -> Result<HttpTarget, Vec<String>> {
    let example = include_str!("../../config/linegate.toml");
    let text = example
        .replacen("name = \"mah\"", &format!("name = \"mah\"\n{keys}"), 1)
        .replacen(
            "url = \"https://epcis.example.com/receive\"",
            &format!("url = \"{url}\""),
            1,
        );
    match parse(&text) {
        Ok(c) => match c.upstreams.into_iter().next().map(|u| u.target) {
            Some(Target::Http(t)) => Ok(t),
            other => panic!("{other:?}"),
        },
        Err(ParseError::Invalid(p)) => Err(p.into_iter().map(|p| p.to_string()).collect()),
        Err(e) => panic!("{e:?}"),
    }
}

fn with(keys: &str) -> HttpTarget {
    read_with("https://epcis.example.com/receive", keys).unwrap_or_else(|p| panic!("{p:#?}"))
}

/// The problems `keys` cause: one each at `upstream[0].{path}`, naming every word.
fn refused(url: &str, keys: &str, expected: &[(&str, &[&str])]) {
    let p = match read_with(url, keys) {
        Ok(t) => panic!("{keys}: accepted as {t:#?}"),
        Err(p) => p,
    };
    assert_eq!(p.len(), expected.len(), "{keys}: {p:#?}");
    for (path, words) in expected {
        let prefix = format!("upstream[0].{path}: ");
        let found = p.iter().find(|m| m.starts_with(&prefix));
        let found = found.unwrap_or_else(|| panic!("{keys}: nothing at {path}: {p:#?}"));
        for w in *words {
            assert!(found.contains(w), "{keys}: no '{w}' in {found}");
        }
    }
}

fn https(keys: &str, expected: &[(&str, &[&str])]) {
    refused("https://epcis.example.com/receive", keys, expected);
}

#[test]
fn without_keys_the_server_is_verified_and_nothing_else_is_added() {
    let t = with("");
    assert_eq!(t.url, "https://epcis.example.com/receive");
    assert!(!t.insecure_skip_verify && !t.gzip);
    assert_eq!((t.ca_file, t.client_auth, t.auth), (None, None, None));
    assert!(t.headers.is_empty());
}

#[test]
fn every_http_key_is_read() {
    let t = with(
        r#"ca_file = "/etc/linegate/ca.pem"
tls_verify = false
client_cert_file = "/etc/linegate/c.pem"
client_key_file = "/etc/linegate/c.key"
auth = "bearer"
token_file = "/etc/linegate/t"
headers = { "X-Partner-Id" = "abc", "x-site" = "plant 1" }
gzip = true"#,
    );
    assert_eq!(t.ca_file, Some(PathBuf::from("/etc/linegate/ca.pem")));
    assert!(t.insecure_skip_verify && t.gzip);
    assert_eq!(
        t.client_auth,
        Some(ClientAuth {
            cert_file: "/etc/linegate/c.pem".into(),
            key_file: "/etc/linegate/c.key".into()
        })
    );
    assert_eq!(
        t.auth,
        Some(HttpAuth::Bearer {
            token_file: "/etc/linegate/t".into()
        })
    );
    let headers = [("X-Partner-Id", "abc"), ("x-site", "plant 1")];
    let headers = headers.map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(t.headers, headers);

    let basic = with("auth = \"basic\"\nusername = \"cmo\"\npassword_file = \"/p\"");
    let expected = HttpAuth::Basic {
        username: "cmo".into(),
        password_file: "/p".into(),
    };
    assert_eq!(basic.auth, Some(expected));
    assert_eq!(with("auth = \"none\"").auth, None);
}

#[test]
fn a_client_certificate_needs_its_key_and_the_key_its_certificate() {
    https(
        "client_cert_file = \"/c.pem\"",
        &[(
            "client_key_file",
            &["required with client_cert_file", "private key"],
        )],
    );
    https(
        "client_key_file = \"/c.key\"",
        &[("client_cert_file", &["required with client_key_file"])],
    );
}

#[test]
fn each_auth_takes_its_own_keys_and_needs_them() {
    https(
        "auth = \"bearer\"",
        &[(
            "token_file",
            &["required with auth = \"bearer\"", "chmod 600"],
        )],
    );
    https(
        "auth = \"basic\"",
        &[
            ("username", &["required with auth = \"basic\""]),
            ("password_file", &["required with auth = \"basic\""]),
        ],
    );
    https(
        "token_file = \"/t\"",
        &[("token_file", &["only with auth = \"bearer\""])],
    );
    https(
        "auth = \"bearer\"\ntoken_file = \"/t\"\nusername = \"u\"\npassword_file = \"/p\"",
        &[
            ("username", &["only with auth = \"basic\""]),
            ("password_file", &["only with auth = \"basic\""]),
        ],
    );
    https(
        "auth = \"digest\"",
        &[("auth", &["'digest'", "none, bearer, basic"])],
    );
}

#[test]
fn a_header_must_be_valid_and_not_one_linegate_sets() {
    https(
        "headers = { \"X Partner\" = \"abc\" }",
        &[("headers.X Partner", &["not an HTTP header name"])],
    );
    https(
        "headers = { \"X-Partner\" = \"a\\nb\" }",
        &[("headers.X-Partner", &["not a valid header value"])],
    );
    https(
        "headers = { \"X-Partner\" = 5 }",
        &[("headers.X-Partner", &["must be a string"])],
    );
    https(
        "headers = [\"X-Partner: a\"]",
        &[("headers", &["table of strings"])],
    );
    https(
        "headers = { \"X-Partner\" = \"a\", \"x-partner\" = \"b\" }",
        &[("headers.x-partner", &["twice"])],
    );
    let reserved: [(&str, &[&str]); 6] = [
        ("Authorization", &["token_file"]),
        ("content-type", &["format"]),
        ("Content-Length", &["size"]),
        ("Idempotency-Key", &["document's id"]),
        ("Content-Encoding", &["gzip = true"]),
        ("X-Linegate-Part", &["part of its message"]),
    ];
    for (name, words) in reserved {
        let path = format!("headers.{name}");
        let mut all = vec!["cannot be overridden"];
        all.extend_from_slice(words);
        https(
            &format!("headers = {{ \"{name}\" = \"x\" }}"),
            &[(path.as_str(), &all[..])],
        );
    }
}

#[test]
fn tls_keys_need_an_https_url() {
    let keys = "ca_file = \"/ca.pem\"\ntls_verify = false\nclient_cert_file = \"/c\"\nclient_key_file = \"/k\"";
    let tls = &["TLS setting", "https://"][..];
    refused(
        "http://partner.example/epcis",
        keys,
        &[
            ("ca_file", tls),
            ("tls_verify", tls),
            ("client_cert_file", tls),
        ],
    );
    // Plain http with credentials is allowed (a loopback test receiver); the sink warns.
    let t = read_with(
        "http://127.0.0.1:8080/epcis",
        "auth = \"bearer\"\ntoken_file = \"/t\"\ntls_verify = true",
    );
    assert!(t.is_ok(), "{t:?}");
}
