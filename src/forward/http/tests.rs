//! Tests of the HTTPS sink apart from a server: the status mapping and its advice,
//! `Retry-After`, gzip, the files read at build (errors naming them, secrets kept sensitive),
//! and what a refused connection or a missing document file comes to.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::ClientAuth;
use crate::config::upstream_target::HttpAuth;

fn check(status: u16, expect: &str) {
    let got = match classify(status, String::new(), None) {
        Verdict::Delivered { .. } => "delivered",
        Verdict::Retry { .. } => "retry",
        Verdict::Rejected { .. } => "rejected",
    };
    assert_eq!(got, expect, "HTTP {status}");
}

#[test]
fn maps_statuses_to_outbox_decisions() {
    check(200, "delivered");
    check(202, "delivered");
    check(204, "delivered");
    check(408, "retry");
    check(429, "retry");
    check(500, "retry");
    check(502, "retry");
    check(503, "retry");
    check(599, "retry");
    check(400, "rejected");
    check(401, "rejected");
    check(404, "rejected");
    check(409, "rejected");
    check(413, "rejected");
    check(422, "rejected");
    check(301, "rejected");
    check(307, "rejected");
}

#[test]
fn a_verdict_keeps_the_answer_and_the_pause_and_says_what_to_do() {
    let pause = Some(Duration::from_secs(7));
    let v = classify(429, "slow down".into(), pause);
    let Verdict::Retry {
        status,
        error,
        response,
        retry_after,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(status, Some(429));
    assert_eq!(response.as_deref(), Some("slow down"));
    assert_eq!(retry_after, pause);
    assert!(error.starts_with("HTTP 429 Too Many Requests: "), "{error}");
    assert!(error.contains("7 s"), "{error}");
    let advice = [
        (400, "linegate outbox retry"),
        (401, "token_file"),
        (404, "url's path"),
        (413, "max_bytes_per_document"),
        (301, "set url"),
    ];
    for (status, words) in advice {
        match classify(status, "no".into(), None) {
            Verdict::Rejected {
                error, response, ..
            } => {
                assert!(error.contains(words), "{status}: {error}");
                assert_eq!(response.as_deref(), Some("no"));
            }
            v => panic!("{status}: {v:?}"),
        }
    }
    match classify(503, String::new(), None) {
        Verdict::Retry { error, .. } => assert!(error.contains("will retry"), "{error}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn retry_after_is_seconds_or_an_http_date() {
    let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
    let at = |v: &str| retry_after(v, now);
    assert_eq!(at("120"), Some(Duration::from_secs(120)));
    assert_eq!(at(" 0 "), Some(Duration::ZERO));
    // IMF-fixdate, and the two obsolete forms RFC 9110 still asks a recipient to take.
    assert_eq!(
        at("Sun, 06 Nov 1994 08:50:07 GMT"),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        at("Sunday, 06-Nov-94 08:50:37 GMT"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        at("Sun Nov  6 08:51:37 1994"),
        Some(Duration::from_secs(120))
    );
    // A date already past is no pause; anything else is no Retry-After at all.
    assert_eq!(at("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
    for junk in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994"] {
        assert_eq!(at(junk), None, "{junk:?}");
    }
    assert_eq!(
        at("99999999999999999999999"),
        Some(Duration::from_secs(u64::MAX))
    );
}

#[test]
fn gzip_is_the_same_bytes_every_time_and_decompresses_to_the_document() {
    let doc = b"<epcis>".repeat(1000);
    let a = gzip(&doc[..]).unwrap();
    assert_eq!(a, gzip(&doc[..]).unwrap());
    assert!(a.len() < doc.len() / 10);
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(&a[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, doc);
}

fn target(url: &str) -> HttpTarget {
    HttpTarget {
        url: url.into(),
        ca_file: None,
        client_auth: None,
        auth: None,
        headers: Vec::new(),
        gzip: false,
        insecure_skip_verify: false,
    }
}

fn build_error(t: &HttpTarget) -> String {
    match HttpSink::new(t, Duration::from_secs(1)) {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    }
}

fn file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn a_file_that_cannot_be_used_stops_the_build_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let junk = file(dir.path(), "junk.pem", "not a certificate\n", 0o644);
    let open = file(dir.path(), "open.token", "0123456789abcdef\n", 0o644);
    let empty = file(dir.path(), "empty.token", "\n", 0o600);
    let spaced = file(dir.path(), "spaced.token", "two words\n", 0o600);
    let url = "https://partner.example/epcis";
    let cases = [
        (
            HttpTarget {
                ca_file: Some(missing.clone()),
                ..target(url)
            },
            vec!["CA file", "missing.pem", "readable"],
        ),
        (
            HttpTarget {
                ca_file: Some(junk.clone()),
                ..target(url)
            },
            vec!["junk.pem", "PEM"],
        ),
        (
            HttpTarget {
                client_auth: Some(ClientAuth {
                    cert_file: junk.clone(),
                    key_file: junk.clone(),
                }),
                ..target(url)
            },
            vec!["client certificate", "junk.pem", "private key"],
        ),
        (
            HttpTarget {
                client_auth: Some(ClientAuth {
                    cert_file: missing.clone(),
                    key_file: junk.clone(),
                }),
                ..target(url)
            },
            vec!["client certificate", "missing.pem"],
        ),
        (
            HttpTarget {
                auth: Some(HttpAuth::Bearer {
                    token_file: open.clone(),
                }),
                ..target(url)
            },
            vec!["open.token", "chmod 600"],
        ),
        (
            HttpTarget {
                auth: Some(HttpAuth::Bearer {
                    token_file: empty.clone(),
                }),
                ..target(url)
            },
            vec!["empty.token", "empty"],
        ),
        (
            HttpTarget {
                auth: Some(HttpAuth::Bearer {
                    token_file: spaced.clone(),
                }),
                ..target(url)
            },
            vec!["spaced.token", "visible ASCII"],
        ),
        (
            HttpTarget {
                auth: Some(HttpAuth::Basic {
                    username: "cmo".into(),
                    password_file: missing.clone(),
                }),
                ..target(url)
            },
            vec!["password file", "missing.pem"],
        ),
    ];
    for (t, words) in cases {
        let e = build_error(&t);
        for w in words {
            assert!(e.contains(w), "no '{w}' in: {e}");
        }
        assert!(!e.contains("two words"), "a secret in an error: {e}");
    }
}

#[test]
fn secrets_are_read_whole_without_the_line_break_and_kept_sensitive() {
    let dir = tempfile::tempdir().unwrap();
    let token = file(dir.path(), "t", "tok-0123456789abcdef\r\n", 0o600);
    let password = file(dir.path(), "p", " pass word \n", 0o400);
    let bearer = HttpSink::new(
        &HttpTarget {
            auth: Some(HttpAuth::Bearer { token_file: token }),
            headers: vec![("X-Partner-Id".into(), "abc".into())],
            ..target("https://partner.example/epcis")
        },
        Duration::from_secs(1),
    )
    .unwrap();
    let value = &bearer.headers[AUTHORIZATION];
    assert_eq!(value, "Bearer tok-0123456789abcdef");
    assert!(value.is_sensitive());
    assert!(!format!("{value:?}").contains("tok-"));
    assert_eq!(bearer.headers["x-partner-id"], "abc");

    let basic = HttpSink::new(
        &HttpTarget {
            auth: Some(HttpAuth::Basic {
                username: "cmo".into(),
                password_file: password,
            }),
            ..target("https://partner.example/epcis")
        },
        Duration::from_secs(1),
    )
    .unwrap();
    let value = &basic.headers[AUTHORIZATION];
    // base64("cmo: pass word "): spaces inside a password are the password's.
    assert_eq!(value, "Basic Y21vOiBwYXNzIHdvcmQg");
    assert!(value.is_sensitive());
}

fn outgoing(body: Body) -> Outgoing {
    Outgoing {
        document_id: "urn:uuid:3b1c".into(),
        upstream: "mah".into(),
        kind: "end_of_batch".into(),
        batch: Some("B1".into()),
        part: 1,
        parts: 1,
        content_type: "application/xml".into(),
        file_name: "3b1c.xml".into(),
        body,
        attempts: 0,
    }
}

#[tokio::test]
async fn a_refused_connection_or_a_missing_file_is_retried_with_advice() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sink = HttpSink::new(
        &target(&format!("http://127.0.0.1:{port}/epcis")),
        Duration::from_secs(5),
    )
    .unwrap();
    match sink.send(&outgoing(Body::Inline(b"<x/>".to_vec()))).await {
        Verdict::Retry { status, error, .. } => {
            assert_eq!(status, None);
            assert!(error.contains("connection refused"), "{error}");
            assert!(error.contains("is it running"), "{error}");
        }
        v => panic!("{v:?}"),
    }
    let gone = Body::File {
        path: "/nonexistent/linegate/3b1c.xml".into(),
        len: 4,
    };
    match sink.send(&outgoing(gone)).await {
        Verdict::Retry { error, .. } => {
            assert!(error.contains("/nonexistent/linegate/3b1c.xml"), "{error}");
        }
        v => panic!("{v:?}"),
    }
}
