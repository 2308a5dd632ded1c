//! The MQTT sink's connection task: the one owner of the rumqttc client and event loop.
//!
//! `send` calls hand their publish here over a bounded channel with a reply slot; this task
//! hands it to rumqttc, and the `PubackTracker` turns rumqttc's packet ids back into the reply
//! to give: delivered when the broker's PUBACK for that packet arrives. Each connection gets a
//! fresh client and event loop with a clean session, and is thrown away whole at the first
//! error (or when a PUBACK is overdue): every publish still waiting is answered "retry", so
//! rumqttc never replays old packets under ids the tracker no longer knows, and the scheduler
//! sends those documents again later, with the same bytes (duplicates at the partner are what
//! at-least-once allows). Between connections, with backoff, every publish is answered
//! "broker unreachable" at once.
//!
//! The event loop's `poll` future is never dropped half-way while a connection is in use
//! (requests are taken beside it), so a connection attempt is not restarted by traffic.

use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, Outgoing, Packet, QoS, StateError,
};
use tokio::sync::{mpsc, oneshot};

use super::Settings;
use super::tracker::PubackTracker;
use crate::forward::Verdict;
use crate::forward::backoff;

/// Publishes waiting for a PUBACK on one connection (below rumqttc's in-flight window of 100,
/// so its packet ids never wrap onto one still waiting).
pub(super) const MAX_OUTSTANDING: usize = 64;
const RECONNECT_INITIAL: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// How long a clean DISCONNECT may take when the sink is dropped.
const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// One document to publish, and where its verdict goes.
pub(super) struct Request {
    pub topic: String,
    pub payload: Vec<u8>,
    pub reply: oneshot::Sender<Verdict>,
}

/// How a connection ended.
enum End {
    /// The sink was dropped: stop.
    Closed,
    /// Lost (or never made); `connected` says whether the broker had accepted it.
    Lost { reason: String, connected: bool },
}

/// Runs until the sink (every sender of `requests`) is gone.
pub(super) async fn run(s: Settings, mut requests: mpsc::Receiver<Request>) {
    let mut failures: u32 = 0;
    let mut logged: Option<String> = None;
    loop {
        let reason = match s.options() {
            Err(e) => format!("cannot connect: {e}"),
            Ok(opts) => match serve(&s, opts, &mut requests).await {
                End::Closed => return,
                End::Lost { reason, connected } => {
                    if connected {
                        failures = 0;
                        logged = None;
                    }
                    reason
                }
            },
        };
        failures = failures.saturating_add(1);
        let wait = backoff::delay(failures, RECONNECT_INITIAL, RECONNECT_MAX, fastrand::f64());
        if logged.as_deref() != Some(reason.as_str()) {
            tracing::warn!(upstream = %s.upstream, broker = %s.broker(), error = %reason, retry_in_ms = wait.as_millis() as u64, "upstream MQTT broker not reachable; reconnecting with backoff");
            logged = Some(reason.clone());
        } else {
            tracing::debug!(upstream = %s.upstream, error = %reason, retry_in_ms = wait.as_millis() as u64, "upstream MQTT broker still not reachable");
        }
        let until = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                r = requests.recv() => match r {
                    None => return,
                    Some(req) => {
                        let _ = req.reply.send(Verdict::retry(format!(
                            "broker unreachable: {reason}; will retry"
                        )));
                    }
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
    }
}

/// One connection, from CONNECT until it fails or the sink is dropped.
async fn serve(
    s: &Settings,
    opts: rumqttc::MqttOptions,
    requests: &mut mpsc::Receiver<Request>,
) -> End {
    let (client, mut eventloop) = AsyncClient::new(opts, MAX_OUTSTANDING);
    let net = crate::sources::mqtt::options::network();
    let connect_secs = net.connection_timeout();
    eventloop.set_network_options(net);
    let mut tracker: PubackTracker<oneshot::Sender<Verdict>> = PubackTracker::new();
    let mut connected = false;
    let end = 'conn: loop {
        let event = {
            let poll = eventloop.poll();
            tokio::pin!(poll);
            loop {
                let overdue = tracker
                    .oldest()
                    .map(|t| tokio::time::Instant::from_std(t + s.timeout));
                tokio::select! {
                    ev = &mut poll => break ev,
                    r = requests.recv(), if tracker.len() < MAX_OUTSTANDING => match r {
                        None => break 'conn End::Closed,
                        Some(req) => hand_over(&client, &mut tracker, req),
                    },
                    _ = sleep_until_some(overdue) => {
                        let (broker, secs) = (s.broker(), s.timeout.as_secs());
                        let reason = if connected {
                            format!("no PUBACK from broker {broker} within {secs} s")
                        } else {
                            format!("broker {broker} did not accept the connection within {secs} s")
                        };
                        break 'conn End::Lost { reason, connected };
                    }
                }
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                connected = true;
                tracing::info!(upstream = %s.upstream, broker = %s.broker(), tls = s.target.tls.is_some(), client_id = %s.target.client_id, "connected to the upstream MQTT broker");
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Err(m) = tracker.sent(pkid) {
                    let reason = format!("{m}; reconnecting to start afresh");
                    break End::Lost { reason, connected };
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => match tracker.acked(ack.pkid) {
                Some(reply) => {
                    let _ = reply.send(Verdict::Delivered {
                        status: None,
                        response: None,
                    });
                }
                None => {
                    tracing::debug!(upstream = %s.upstream, pkid = ack.pkid, "PUBACK for a packet nobody waits for")
                }
            },
            Ok(_) => {}
            Err(e) => {
                let reason = explain(s, &e, connect_secs);
                break End::Lost { reason, connected };
            }
        }
    };
    let why = match &end {
        End::Closed => "the forwarder stopped".to_string(),
        End::Lost { reason, .. } => reason.clone(),
    };
    for reply in tracker.fail_all() {
        let _ = reply.send(Verdict::retry(format!(
            "broker connection lost before its PUBACK: {why}; will be sent again"
        )));
    }
    if matches!(end, End::Closed) && connected {
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(DISCONNECT_WAIT, async {
            while let Ok(ev) = eventloop.poll().await {
                if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
    }
    end
}

/// Hands one publish to rumqttc and notes who waits for it.
fn hand_over(
    client: &AsyncClient,
    tracker: &mut PubackTracker<oneshot::Sender<Verdict>>,
    req: Request,
) {
    match client.try_publish(req.topic, QoS::AtLeastOnce, false, req.payload) {
        Ok(()) => tracker.queued(req.reply, Instant::now()),
        Err(e) => {
            let error = format!("the MQTT client did not take the document: {e}");
            let _ = req.reply.send(Verdict::retry(error));
        }
    }
}

async fn sleep_until_some(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A connection failure in words that name its cause and the settings to check.
fn explain(s: &Settings, e: &ConnectionError, connect_secs: u64) -> String {
    let broker = s.broker();
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => format!(
                "broker {broker} refused the login: bad username or password (check this upstream's username and password_file)"
            ),
            ConnectReturnCode::NotAuthorized => format!(
                "broker {broker} refused the login: not authorised (check username, password and the broker's ACL for client id '{}')",
                s.target.client_id
            ),
            ConnectReturnCode::BadClientId => format!(
                "broker {broker} refused client id '{}' (set another with client_id)",
                s.target.client_id
            ),
            other => format!("broker {broker} refused the connection: {other:?}"),
        },
        e if s.target.tls.is_some() && looks_like_tls(e) => {
            let files = match &s.target.tls {
                Some(tls) => format!(
                    "ca_file {}{}",
                    tls.ca_file.display(),
                    match &tls.client_auth {
                        Some(a) => format!(", client_cert_file {}", a.cert_file.display()),
                        None => ", no client_cert_file".into(),
                    }
                ),
                None => String::new(),
            };
            format!("TLS with broker {broker} failed: {e} (check {files})")
        }
        ConnectionError::NetworkTimeout => format!(
            "broker {broker} did not answer within {connect_secs} s (host, port, firewall, or mqtt:// where the broker wants mqtts://)"
        ),
        ConnectionError::Io(io)
        | ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::Io(io))) => {
            format!("broker {broker}: {io}")
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) => {
            format!("broker {broker} closed the connection")
        }
        ConnectionError::MqttState(StateError::AwaitPingResp) => {
            format!("broker {broker} stopped answering (no reply to a ping within keep_alive_secs)")
        }
        other => format!("broker {broker}: {other}"),
    }
}

fn looks_like_tls(e: &ConnectionError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["certificate", "alert", "handshake", "tls"]
        .iter()
        .any(|w| text.contains(w))
}
