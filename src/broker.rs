//! The embedded MQTT broker: rumqttd in-process, for small sites and `linegate demo`.
//!
//! With `mqtt.embedded_broker = true`, `linegate run` starts a rumqttd broker (MQTT 3.1.1, no
//! TLS, anonymous) listening on the host and port of `mqtt.url` before the MQTT source connects
//! to it, so lines publish to the gateway's own broker. It is configured in code: one v4
//! listener, persistent sessions, dynamic topics (so the rejects topic works before anyone
//! subscribes), and a large in-memory log so QoS 1 messages for the gateway's persistent session
//! survive the source's reconnects.
//!
//! Limits, honestly: the broker keeps everything in memory. Messages it has acknowledged to a
//! line but not yet delivered to the gateway are lost if the process dies (the line saw a
//! PUBACK, the store never saw the message), and after `ROUTER_SEGMENTS` × `SEGMENT_BYTES` of
//! backlog the oldest are dropped. rumqttd has no way to stop: its threads live until the
//! process exits. A plant broker (mosquitto with persistence) has none of these limits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Bytes per in-memory log segment of one topic filter.
const SEGMENT_BYTES: usize = 64 * 1024 * 1024;
/// Segments kept per filter: the backlog the gateway may fall behind by before loss.
const ROUTER_SEGMENTS: usize = 16;
/// Largest PUBLISH the broker takes; bigger than any sane line message so the gateway can
/// quarantine oversized ones itself (`mqtt.max_payload_bytes`) rather than the broker
/// dropping the line's connection.
const MAX_PAYLOAD: usize = 256 * 1024 * 1024;
/// How long the listener may take to come up.
const LISTEN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the embedded broker did not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("mqtt.url host '{host}' does not resolve to an address to listen on: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot start the embedded MQTT broker's thread: {0}")]
    Thread(std::io::Error),
    #[error("the embedded MQTT broker cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
}

/// A running embedded broker (it runs until the process exits).
#[derive(Debug)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

/// Starts rumqttd on `host:port` and returns once it accepts TCP connections.
pub fn start(host: &str, port: u16) -> Result<EmbeddedBroker, BrokerError> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
        .map_err(|reason| BrokerError::Resolve {
            host: host.to_string(),
            reason,
        })?;
    // rumqttd only logs a failed bind; find out here, while we can still say so.
    drop(TcpListener::bind(addr).map_err(|e| BrokerError::Listen {
        addr,
        reason: e.to_string(),
    })?);
    let mut broker = Broker::new(config(addr));
    // Broker::start runs the listener on threads of its own and blocks until they end, which
    // is never unless the listener fails (then the thread finishes and we report it).
    let thread = std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    let deadline = Instant::now() + LISTEN_DEADLINE;
    loop {
        if mqtt_handshake(connect_addr(addr)).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(EmbeddedBroker { addr });
        }
        if thread.is_finished() || Instant::now() > deadline {
            let reason = "it did not answer an MQTT CONNECT (see the log above)".to_string();
            return Err(BrokerError::Listen { addr, reason });
        }
        // Readiness probe pacing: the listener binds on rumqttd's own thread.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The readiness probe: an MQTT 3.1.1 CONNECT (clean session, client id
/// `linegate-broker-probe`) answered by an accepting CONNACK, then DISCONNECT.
fn mqtt_handshake(addr: SocketAddr) -> std::io::Result<()> {
    const CONNECT: &[u8] = &[
        0x10, 33, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 21, b'l', b'i', b'n', b'e',
        b'g', b'a', b't', b'e', b'-', b'b', b'r', b'o', b'k', b'e', b'r', b'-', b'p', b'r', b'o',
        b'b', b'e',
    ];
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(CONNECT)?;
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack)?;
    if connack != [0x20, 2, 0, 0] {
        return Err(std::io::Error::other(format!(
            "unexpected answer {connack:?}"
        )));
    }
    s.write_all(&[0xE0, 0])
}

/// Where to probe a listener: an unspecified address (0.0.0.0, ::) is reached on loopback.
fn connect_addr(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match addr {
            SocketAddr::V4(_) => [127, 0, 0, 1].into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// rumqttd's configuration, built in code: one MQTT 3.1.1 listener on `addr`.
fn config(addr: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PAYLOAD,
        // Unacknowledged QoS 1 messages per connection; the gateway acknowledges after commit.
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "linegate-embedded".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1024,
            max_outgoing_packet_count: 200,
            max_segment_size: SEGMENT_BYTES,
            max_segment_count: ROUTER_SEGMENTS,
            ..RouterConfig::default()
        },
        v4: Some([("1".to_string(), server)].into_iter().collect()),
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

    use super::*;

    fn client(port: u16, id: &str, clean: bool) -> (AsyncClient, EventLoop) {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(clean).set_manual_acks(true);
        AsyncClient::new(o, 64)
    }

    /// Polls until `want` matches an event; returns it. Bounded by the test's timeout.
    async fn until<T>(ev: &mut EventLoop, mut want: impl FnMut(Event) -> Option<T>) -> T {
        loop {
            if let Some(t) = want(ev.poll().await.expect("broker connection")) {
                return t;
            }
        }
    }

    fn payload(e: Event) -> Option<rumqttc::Publish> {
        match e {
            Event::Incoming(Packet::Publish(p)) => Some(p),
            _ => None,
        }
    }

    /// The gateway's situation: a persistent session that goes away with messages unacknowledged
    /// and more published meanwhile must get all of them after it reconnects.
    #[tokio::test]
    async fn a_persistent_session_gets_unacknowledged_and_offline_messages_after_reconnecting() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = tokio::task::spawn_blocking(move || start("127.0.0.1", port))
            .await
            .unwrap();
        assert_eq!(b.unwrap().addr.port(), port);
        let test = async {
            let (gw, mut gw_ev) = client(port, "gw", false);
            until(&mut gw_ev, |e| {
                matches!(e, Event::Incoming(Packet::ConnAck(_))).then_some(())
            })
            .await;
            gw.subscribe("p/lines/+/events", QoS::AtLeastOnce)
                .await
                .unwrap();
            until(&mut gw_ev, |e| {
                matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(())
            })
            .await;

            let (line, mut line_ev) = client(port, "line", true);
            let publish =
                |n: u32| line.publish("p/lines/L1/events", QoS::AtLeastOnce, false, n.to_string());
            publish(1).await.unwrap();
            until(&mut line_ev, |e| {
                matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
            })
            .await;
            let first = until(&mut gw_ev, payload).await;
            assert_eq!(&first.payload[..], b"1");
            drop((gw, gw_ev)); // gone without acknowledging "1"

            for n in 2..=4 {
                publish(n).await.unwrap();
                until(&mut line_ev, |e| {
                    matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(())
                })
                .await;
            }
            let (gw, mut gw_ev) = client(port, "gw", false);
            let present = until(&mut gw_ev, |e| match e {
                Event::Incoming(Packet::ConnAck(a)) => Some(a.session_present),
                _ => None,
            })
            .await;
            assert!(present, "the session survived the disconnect");
            let mut got = Vec::new();
            while got.len() < 4 {
                let p = until(&mut gw_ev, payload).await;
                gw.ack(&p).await.unwrap();
                got.push(String::from_utf8_lossy(&p.payload).into_owned());
            }
            assert_eq!(got, ["1", "2", "3", "4"]);
        };
        tokio::time::timeout(Duration::from_secs(30), test)
            .await
            .expect("within 30 s");
    }

    #[test]
    fn a_taken_port_or_unknown_host_is_an_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        assert!(matches!(
            start("127.0.0.1", port),
            Err(BrokerError::Listen { .. })
        ));
        assert!(matches!(
            start("no-such-host.invalid", 1883),
            Err(BrokerError::Resolve { .. })
        ));
    }
}
