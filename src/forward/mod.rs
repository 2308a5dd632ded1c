//! Forwarding: one scheduler per `[[upstream]]`, draining that upstream's outbox through its
//! sink (HTTPS, MQTT or a pickup directory) at least once, in causal order.
//!
//! The scheduler looks at the heads of the upstream's ordering groups (`store::QueueHead`: a
//! batch's documents, one shipment's, the per-event stream), starts sending every head that is
//! due — one per group, up to `max_in_flight` groups at once — and turns each sink's verdict
//! into outbox state: delivered, retry later (exponential backoff with jitter, at least what
//! the upstream's `Retry-After` asked), or rejected (a dead letter, logged at ERROR once, which
//! holds back its own group only). Each change goes to the store's writer without waiting for
//! its commit, so a draining backlog costs one fsync per group of changes, not per document;
//! until a change is committed the scheduler remembers it (`Pending`), so it neither sends a
//! delivered document again nor a retried one too early. A crash loses at most those
//! uncommitted changes: their documents are sent again, with the same ids and bytes.
//! Forwarders know nothing of batches or sources; they talk to the rest only through the store.

pub mod backoff;
pub mod directory;
pub mod http;
pub mod monitor;
pub mod mqtt;
pub mod sink;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Upstream;
use crate::config::upstream_target::Target;
use crate::store::{AttemptOutcome, DeliveryWrite, QueueHead, QueueReader, Store, StoreError};
pub use sink::{Sink, Verdict};

/// How often the queue is looked at when nothing woke the scheduler (an operator's command
/// line changed it, or a retry fell due).
const POLL: Duration = Duration::from_secs(2);
/// Most delivery changes sent to the writer and not yet committed; beyond it the scheduler
/// waits (the writer is behind).
const MAX_UNCONFIRMED: usize = 8192;
/// The longest `Retry-After` obeyed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The delivery settings of one upstream.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    pub name: String,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub max_in_flight: usize,
    pub block_on_rejected: bool,
}

impl ForwardConfig {
    pub fn of(up: &Upstream) -> ForwardConfig {
        ForwardConfig {
            name: up.name.clone(),
            retry_initial: up.retry_initial,
            retry_max: up.retry_max,
            max_in_flight: up.max_in_flight,
            block_on_rejected: up.block_on_rejected,
        }
    }
}

/// Errors setting up an upstream's sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Http(#[from] http::HttpSinkError),
    #[error(transparent)]
    Mqtt(#[from] mqtt::MqttSinkError),
    #[error(transparent)]
    Directory(#[from] directory::DirectorySinkError),
}

/// The sink `up` is configured for.
pub fn build_sink(up: &Upstream) -> Result<Sink, SinkError> {
    Ok(match &up.target {
        Target::Http(t) => Sink::Http(http::HttpSink::new(t, up.timeout)?),
        Target::Mqtt(t) => Sink::Mqtt(mqtt::MqttSink::new(t, &up.name, up.timeout)?),
        Target::Directory(t) => Sink::Directory(directory::DirectorySink::new(t)?),
    })
}

/// A change sent to the writer whose commit has not been confirmed yet.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    /// Delivered (or stepped over): the group goes on after it.
    Done,
    /// A dead letter that holds back its group.
    Blocked,
    /// Not to be tried before this time (ms since the epoch).
    NotBefore(i64),
}

/// The scheduler's memory of what the store does not show yet.
#[derive(Default)]
struct Memory {
    /// Groups with a send in progress.
    sending: HashMap<String, String>,
    /// Per document: its uncommitted change, with its group and seq, and the ticket its
    /// confirmation will carry.
    pending: HashMap<String, (String, i64, Pending, u64)>,
    tickets: u64,
}

impl Memory {
    /// Per group, the highest seq whose uncommitted change lets the group go on.
    fn after(&self) -> HashMap<String, i64> {
        let mut after: HashMap<String, i64> = HashMap::new();
        for (group, seq, p, _) in self.pending.values() {
            if *p == Pending::Done {
                let e = after.entry(group.clone()).or_insert(*seq);
                *e = (*e).max(*seq);
            }
        }
        after
    }
}

/// Runs until `shutdown`. Sends in progress then are finished and recorded (the caller bounds
/// this with the shutdown deadline); what an abort cuts off stays `in_flight` and is sent again
/// at the next start.
pub async fn run(store: Store, cfg: ForwardConfig, sink: Sink, shutdown: CancellationToken) {
    let sink = Arc::new(sink);
    let reader = loop {
        match store.queue_reader() {
            Ok(r) => break r,
            Err(e) => {
                tracing::error!(upstream = %cfg.name, error = %e, "cannot read the outbox; retrying in 5 s");
                if pause(&shutdown, Duration::from_secs(5)).await {
                    return;
                }
            }
        }
    };
    while let Err(e) = store
        .delivery(DeliveryWrite::ResetInFlight {
            upstream: cfg.name.clone(),
        })
        .await
    {
        tracing::error!(upstream = %cfg.name, error = %e, "cannot reset the documents that were in flight; retrying in 5 s");
        if pause(&shutdown, Duration::from_secs(5)).await {
            return;
        }
    }
    let mut s = Scheduler {
        store,
        cfg,
        sink,
        reader,
        memory: Memory::default(),
        sends: JoinSet::new(),
        confirms: JoinSet::new(),
    };
    s.serve(&shutdown).await;
    s.drain().await;
}

/// A commit's confirmation: the document, the ticket of its `Memory::pending` entry (none for
/// an in-flight mark), and the result.
type Confirm = (String, Option<u64>, Result<usize, StoreError>);

struct Scheduler {
    store: Store,
    cfg: ForwardConfig,
    sink: Arc<Sink>,
    reader: QueueReader,
    memory: Memory,
    sends: JoinSet<(QueueHead, Verdict)>,
    confirms: JoinSet<Confirm>,
}

impl Scheduler {
    async fn serve(&mut self, shutdown: &CancellationToken) {
        let wakeups = self.store.wakeups().clone();
        let mut look = true;
        let mut next_look = tokio::time::Instant::now() + POLL;
        while !shutdown.is_cancelled() {
            // Register for the wake-up before looking, so an enqueue in between is not missed.
            let changed = wakeups.outbox_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if look && self.sends.len() < self.cfg.max_in_flight {
                look = false;
                match self.start_due().await {
                    Ok(next_due) => {
                        next_look = tokio::time::Instant::now()
                            + next_due.map_or(POLL, |ms| {
                                Duration::from_millis(ms.clamp(0, POLL.as_millis() as i64) as u64)
                            });
                    }
                    Err(e) => {
                        tracing::error!(upstream = %self.cfg.name, error = %e, "cannot read the outbox; retrying in 5 s");
                        next_look = tokio::time::Instant::now() + Duration::from_secs(5);
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(done) = self.sends.join_next() => {
                    match done {
                        Ok((head, verdict)) => self.finish(head, verdict).await,
                        Err(e) => tracing::error!(upstream = %self.cfg.name, error = %e, "a send task failed; its document will be sent again"),
                    }
                    look = true;
                }
                Some(c) = self.confirms.join_next(), if !self.confirms.is_empty() => {
                    look |= self.confirmed(c);
                }
                _ = &mut changed => look = true,
                _ = tokio::time::sleep_until(next_look) => look = true,
            }
        }
    }

    /// Starts every due head it may; returns the wait until the next head falls due.
    async fn start_due(&mut self) -> Result<Option<i64>, StoreError> {
        let mut heads = self
            .reader
            .heads(
                &self.cfg.name,
                self.cfg.block_on_rejected,
                self.memory.after(),
            )
            .await?;
        heads.sort_by_key(|h| h.seq);
        let now = chrono::Utc::now().timestamp_millis();
        let mut next_due: Option<i64> = None;
        for h in heads {
            if self.sends.len() >= self.cfg.max_in_flight {
                break;
            }
            if self.memory.sending.contains_key(&h.order_key) || h.state == "rejected" {
                continue;
            }
            let due = match self.memory.pending.get(&h.outgoing.document_id) {
                Some((_, _, Pending::Blocked | Pending::Done, _)) => continue,
                Some((_, _, Pending::NotBefore(t), _)) => (*t).max(h.next_attempt_ms),
                None => h.next_attempt_ms,
            };
            if due > now {
                next_due = Some(next_due.map_or(due - now, |n: i64| n.min(due - now)));
                continue;
            }
            if let Some(why) = &h.missing {
                let verdict = Verdict::Rejected {
                    status: None,
                    error: format!("cannot be sent: {why}"),
                    response: None,
                };
                self.finish(h, verdict).await;
                continue;
            }
            self.start(h).await;
        }
        Ok(next_due)
    }

    async fn start(&mut self, h: QueueHead) {
        let write = DeliveryWrite::InFlight {
            document_id: h.outgoing.document_id.clone(),
            upstream: self.cfg.name.clone(),
        };
        // Only for the operator's view: a crash leaves it `in_flight`, reset at the next start.
        if let Ok(rx) = self.store.submit_delivery(write).await {
            let doc = h.outgoing.document_id.clone();
            self.confirms
                .spawn(async move { (doc, None, rx.await.unwrap_or(Err(StoreError::Closed))) });
        }
        self.memory
            .sending
            .insert(h.order_key.clone(), h.outgoing.document_id.clone());
        let sink = self.sink.clone();
        self.sends.spawn(async move {
            let verdict = sink.send(&h.outgoing).await;
            (h, verdict)
        });
    }

    /// Records a verdict (without waiting for the commit) and remembers it until committed.
    async fn finish(&mut self, h: QueueHead, verdict: Verdict) {
        self.memory.sending.remove(&h.order_key);
        let name = self.cfg.name.clone();
        let name = &name;
        let d = &h.outgoing;
        let attempts = d.attempts + 1;
        let (outcome, memo) = match verdict {
            Verdict::Delivered { status, response } => {
                tracing::debug!(upstream = %name, document = %d.document_id, kind = %d.kind, ?status, attempts, "document delivered");
                (
                    AttemptOutcome::Delivered { status, response },
                    Pending::Done,
                )
            }
            Verdict::Retry {
                status,
                error,
                response,
                retry_after,
            } => {
                let after = backoff::delay(
                    attempts,
                    self.cfg.retry_initial,
                    self.cfg.retry_max,
                    fastrand::f64(),
                )
                .max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
                tracing::warn!(upstream = %name, document = %d.document_id, attempts, %error, retry_in_ms = after.as_millis() as u64, "delivery failed; will retry");
                let at = chrono::Utc::now().timestamp_millis() + after.as_millis() as i64;
                (
                    AttemptOutcome::Retry {
                        status,
                        error,
                        response,
                        after,
                    },
                    Pending::NotBefore(at),
                )
            }
            Verdict::Rejected {
                status,
                error,
                response,
            } => {
                tracing::error!(upstream = %name, document = %d.document_id, kind = %d.kind, batch = d.batch.as_deref().unwrap_or("-"), ?status, %error, response = response.as_deref().unwrap_or(""), blocks_group = self.cfg.block_on_rejected, "upstream refused the document for good; it is a dead letter now: see `linegate outbox show {}`", d.document_id);
                let memo = if self.cfg.block_on_rejected {
                    Pending::Blocked
                } else {
                    Pending::Done
                };
                (
                    AttemptOutcome::Rejected {
                        status,
                        error,
                        response,
                    },
                    memo,
                )
            }
        };
        self.memory.tickets += 1;
        let ticket = self.memory.tickets;
        self.memory.pending.insert(
            d.document_id.clone(),
            (h.order_key.clone(), h.seq, memo, ticket),
        );
        let write = DeliveryWrite::Attempt {
            document_id: d.document_id.clone(),
            upstream: name.clone(),
            outcome,
        };
        while self.confirms.len() >= MAX_UNCONFIRMED {
            if let Some(c) = self.confirms.join_next().await {
                self.confirmed(c);
            }
        }
        match self.store.submit_delivery(write).await {
            Ok(rx) => {
                let doc = d.document_id.clone();
                self.confirms.spawn(async move {
                    (
                        doc,
                        Some(ticket),
                        rx.await.unwrap_or(Err(StoreError::Closed)),
                    )
                });
            }
            Err(e) => {
                tracing::error!(upstream = %name, error = %e, "cannot record a delivery outcome; the document will be sent again");
                self.memory.pending.remove(&d.document_id);
            }
        }
    }

    /// A change was committed (or not). Returns whether the queue should be looked at again.
    fn confirmed(&mut self, c: Result<Confirm, tokio::task::JoinError>) -> bool {
        let Ok((doc, ticket, result)) = c else {
            return false;
        };
        if let Err(e) = &result {
            tracing::error!(upstream = %self.cfg.name, document = %doc, error = %e, "a delivery change was not recorded; the document will be sent again");
        }
        // Committed or not, the store is the truth again for this document — unless a later
        // change of it is still on its way (another ticket).
        let Some(ticket) = ticket else {
            return result.is_err();
        };
        match self.memory.pending.get(&doc) {
            Some((_, _, memo, t)) if *t == ticket => {
                let look = *memo != Pending::Done || result.is_err();
                self.memory.pending.remove(&doc);
                look
            }
            _ => false,
        }
    }

    /// After shutdown: let the sends in progress finish and wait until their outcomes are
    /// committed.
    async fn drain(&mut self) {
        while let Some(done) = self.sends.join_next().await {
            if let Ok((head, verdict)) = done {
                self.finish(head, verdict).await;
            }
        }
        while let Some(c) = self.confirms.join_next().await {
            self.confirmed(c);
        }
    }
}

/// Sleeps `d` unless shut down first; true when shut down.
async fn pause(shutdown: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
