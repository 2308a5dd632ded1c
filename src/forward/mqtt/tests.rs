//! The MQTT sink against a scripted broker in the test process: a PUBACK answers its own
//! publish whatever the order, a publish without one is retried, a lost connection fails what
//! was waiting and the next connection delivers, an oversized document is refused for good.
//! (`tests/it/mqtt_sink.rs` runs the daemon against a real mosquitto.)

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::model::Body;

/// What the scripted broker does with the publishes of one connection.
#[derive(Clone, Copy)]
enum Script {
    /// Acknowledge each at once.
    AckAll,
    /// Wait for three, then acknowledge the third and the first, never the second.
    AckThirdAndFirst,
    /// Close the connection on the first publish.
    DropOnPublish,
}

/// (topic, payload) of every publish the broker read.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A broker on a loopback port; connection n follows `scripts[n]` (the last one repeats).
async fn broker(scripts: Vec<Script>) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let script = scripts[n.min(scripts.len() - 1)];
            tokio::spawn(serve(sock, script, log.clone()));
        }
    });
    (port, seen)
}

async fn serve(mut sock: TcpStream, script: Script, seen: Seen) -> std::io::Result<()> {
    let mut held = Vec::new();
    loop {
        let first = sock.read_u8().await?;
        let mut len = 0usize;
        for shift in (0..28).step_by(7) {
            let b = sock.read_u8().await?;
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        sock.read_exact(&mut body).await?;
        match first >> 4 {
            1 => sock.write_all(&[0x20, 2, 0, 0]).await?,
            3 => {
                let tl = u16::from_be_bytes([body[0], body[1]]) as usize;
                let topic = String::from_utf8_lossy(&body[2..2 + tl]).into_owned();
                let pkid = [body[2 + tl], body[3 + tl]];
                seen.lock().unwrap().push((topic, body[4 + tl..].to_vec()));
                match script {
                    Script::AckAll => sock.write_all(&[0x40, 2, pkid[0], pkid[1]]).await?,
                    Script::DropOnPublish => return Ok(()),
                    Script::AckThirdAndFirst => {
                        held.push(pkid);
                        if held.len() == 3 {
                            for p in [held[2], held[0]] {
                                sock.write_all(&[0x40, 2, p[0], p[1]]).await?;
                            }
                        }
                    }
                }
            }
            12 => sock.write_all(&[0xd0, 0]).await?,
            14 => return Ok(()),
            _ => {}
        }
    }
}

fn target(port: u16) -> MqttTarget {
    MqttTarget {
        host: "127.0.0.1".into(),
        port,
        tls: None,
        credentials: None,
        topic: "p/{kind}/{batch}/{document_id}".into(),
        client_id: "linegate-test".into(),
        keep_alive_secs: 30,
        max_packet_bytes: 64 * 1024,
    }
}

fn doc(id: &str, body: &[u8]) -> Outgoing {
    Outgoing {
        document_id: id.into(),
        upstream: "cloud".into(),
        kind: "end_of_batch".into(),
        batch: Some("B1".into()),
        part: 1,
        parts: 1,
        content_type: "application/xml".into(),
        file_name: format!("{id}.xml"),
        body: Body::Inline(body.to_vec()),
        attempts: 0,
    }
}

fn kind(v: &Verdict) -> &'static str {
    match v {
        Verdict::Delivered { .. } => "delivered",
        Verdict::Retry { .. } => "retry",
        Verdict::Rejected { .. } => "rejected",
    }
}

#[tokio::test]
async fn each_puback_answers_its_own_publish() {
    let (port, seen) = broker(vec![Script::AckThirdAndFirst]).await;
    let sink = MqttSink::new(&target(port), "cloud", Duration::from_secs(1)).unwrap();
    let (a, b, c) = (doc("a", b"<a/>"), doc("b", b"<b/>"), doc("c", b"<c/>"));
    // join! polls them in this order, and each is handed over at its first poll, so their
    // packet ids are in this order too.
    let (va, vb, vc) = tokio::join!(sink.send(&a), sink.send(&b), sink.send(&c));
    assert_eq!(
        [kind(&va), kind(&vb), kind(&vc)],
        ["delivered", "retry", "delivered"]
    );
    let Verdict::Retry { error, .. } = vb else {
        unreachable!()
    };
    assert!(error.contains("no PUBACK"), "{error}");
    let seen = seen.lock().unwrap();
    let topics: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        topics[..3],
        [
            "p/end_of_batch/B1/a",
            "p/end_of_batch/B1/b",
            "p/end_of_batch/B1/c"
        ]
    );
    assert_eq!(seen[1].1, b"<b/>", "the payload is the document's bytes");
}

#[tokio::test]
async fn a_lost_connection_is_a_retry_and_the_next_connection_delivers() {
    let (port, seen) = broker(vec![Script::DropOnPublish, Script::AckAll]).await;
    let sink = MqttSink::new(&target(port), "cloud", Duration::from_secs(30)).unwrap();
    let d = doc("a", b"<a/>");
    let lost = sink.send(&d).await;
    match &lost {
        Verdict::Retry { error, .. } => assert!(error.contains("connection lost"), "{error}"),
        other => panic!("{other:?}"),
    }
    // As the scheduler does: send again, after a pause, until delivered. While the sink waits
    // to reconnect it answers at once: the broker is unreachable.
    let mut answers = Vec::new();
    loop {
        let v = sink.send(&d).await;
        answers.push(kind(&v));
        if let Verdict::Retry { error, .. } = &v {
            assert!(error.contains("broker unreachable"), "{error}");
        }
        if kind(&v) == "delivered" || answers.len() == 600 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answers.last(), Some(&"delivered"), "{answers:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one publish per connection");
    assert!(seen.iter().all(|(_, p)| p == b"<a/>"), "the same bytes");
}

#[tokio::test]
async fn nothing_listening_is_a_retry_naming_the_broker() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sink = MqttSink::new(&target(port), "cloud", Duration::from_secs(30)).unwrap();
    for i in 0..5 {
        match sink.send(&doc(&format!("d{i}"), b"<a/>")).await {
            Verdict::Retry { error, .. } => {
                assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_document_larger_than_the_broker_takes_is_refused_for_good() {
    let (port, seen) = broker(vec![Script::AckAll]).await;
    let sink = MqttSink::new(&target(port), "cloud", Duration::from_secs(30)).unwrap();
    let big = doc("big", &vec![b'x'; 64 * 1024]);
    match sink.send(&big).await {
        Verdict::Rejected { error, .. } => {
            assert!(
                error.contains("max_bytes_per_document") && error.contains("max_packet_bytes"),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(seen.lock().unwrap().is_empty());
    let fits = doc("fits", &vec![b'x'; 60 * 1024]);
    assert_eq!(kind(&sink.send(&fits).await), "delivered");
}

#[test]
fn the_packet_size_is_what_rumqttc_measures() {
    for (topic, payload) in [
        (1, 0),
        (10, 100),
        (20, 16_000),
        (5, 2_097_140),
        (3, 3_000_000),
    ] {
        let mut p = rumqttc::Publish::new(
            "t".repeat(topic),
            rumqttc::QoS::AtLeastOnce,
            vec![0u8; payload],
        );
        p.pkid = 1;
        assert_eq!(
            packet_size(topic, payload),
            p.size(),
            "topic {topic}, payload {payload}"
        );
    }
}

#[test]
fn setup_errors_name_the_upstreams_keys() {
    let e = MqttSinkError::from(MqttSetupError::NotPem {
        what: "CA certificate file",
        key: "mqtt.ca_file",
        path: "/etc/ca.pem".into(),
    });
    assert_eq!(
        e.to_string(),
        "/etc/ca.pem (this upstream's ca_file) contains no PEM CA certificate file"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut t = target(1);
    t.tls = Some(crate::config::MqttTls {
        ca_file: "/nonexistent/ca.pem".into(),
        client_auth: None,
    });
    let e = rt.block_on(async { MqttSink::new(&t, "cloud", Duration::from_secs(1)).err() });
    let text = e.expect("unreadable CA").to_string();
    assert!(
        text.contains("/nonexistent/ca.pem") && text.contains("ca_file"),
        "{text}"
    );
    let outside = MqttSink::new(&target(1), "cloud", Duration::from_secs(1)).err();
    assert!(matches!(outside, Some(MqttSinkError::NoRuntime)));
}
