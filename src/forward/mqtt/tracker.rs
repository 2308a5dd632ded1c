//! Which `send` a PUBACK answers. rumqttc tells its user nothing but packet ids: a publish
//! handed to the client comes back as `Outgoing::Publish(pkid)` when it is written, in the
//! order the publishes were handed over, and the broker's `PubAck(pkid)` names the same id.
//! So each waiting sender goes on a FIFO when its publish is handed over, moves to a map under
//! its packet id when that publish is written, and is answered when the PUBACK for that id
//! comes. Anything that does not fit this picture (a packet id written twice, a write with no
//! publish waiting) means the bookkeeping can no longer be trusted: the caller drops the
//! connection and answers everyone "retry", which at-least-once delivery allows.
//!
//! Pure: no I/O, no clock of its own (times are handed in), generic over what is waiting, so
//! the matching is tested without a broker.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// The publishes of one connection that have no PUBACK yet, and who waits for each.
pub(super) struct PubackTracker<R> {
    /// Handed to rumqttc, not yet written (no packet id), in the order handed over.
    queued: VecDeque<(R, Instant)>,
    /// Written under this packet id, waiting for the broker's PUBACK.
    sent: HashMap<u16, (R, Instant)>,
}

/// rumqttc's events do not match what was handed to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Mismatch {
    #[error("the MQTT client wrote packet {0} with no publish waiting for an id")]
    NothingQueued(u16),
    #[error("the MQTT client wrote packet {0} while that id still waited for its PUBACK")]
    AlreadySent(u16),
}

impl<R> PubackTracker<R> {
    pub fn new() -> Self {
        PubackTracker {
            queued: VecDeque::new(),
            sent: HashMap::new(),
        }
    }

    /// A publish was handed to the client at `at`; `r` waits for it.
    pub fn queued(&mut self, r: R, at: Instant) {
        self.queued.push_back((r, at));
    }

    /// The client wrote the oldest handed-over publish as packet `pkid`.
    pub fn sent(&mut self, pkid: u16) -> Result<(), Mismatch> {
        if self.sent.contains_key(&pkid) {
            return Err(Mismatch::AlreadySent(pkid));
        }
        let head = self
            .queued
            .pop_front()
            .ok_or(Mismatch::NothingQueued(pkid))?;
        self.sent.insert(pkid, head);
        Ok(())
    }

    /// The broker acknowledged packet `pkid`: who waited for it, if anyone.
    pub fn acked(&mut self, pkid: u16) -> Option<R> {
        self.sent.remove(&pkid).map(|(r, _)| r)
    }

    /// When the longest-waiting publish was handed over.
    pub fn oldest(&self) -> Option<Instant> {
        let queued = self.queued.iter().map(|(_, at)| *at);
        let sent = self.sent.values().map(|(_, at)| *at);
        queued.chain(sent).min()
    }

    /// Publishes waiting, written or not.
    pub fn len(&self) -> usize {
        self.queued.len() + self.sent.len()
    }

    /// Everyone still waiting, oldest first: the connection is gone.
    pub fn fail_all(&mut self) -> Vec<R> {
        let mut all: Vec<(R, Instant)> = self.sent.drain().map(|(_, v)| v).collect();
        all.extend(self.queued.drain(..));
        all.sort_by_key(|(_, at)| *at);
        all.into_iter().map(|(r, _)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn ids_go_to_publishes_in_the_order_they_were_handed_over() {
        let t0 = Instant::now();
        let mut t = PubackTracker::new();
        for (doc, ms) in [("a", 0), ("b", 1), ("c", 2)] {
            t.queued(doc, at(t0, ms));
        }
        assert_eq!(t.sent(7), Ok(()));
        assert_eq!(t.sent(8), Ok(()));
        // The broker may acknowledge out of order; each ack answers its own publish.
        assert_eq!(t.acked(8), Some("b"));
        assert_eq!(t.sent(9), Ok(()));
        assert_eq!(t.acked(9), Some("c"));
        assert_eq!(t.acked(7), Some("a"));
        assert_eq!(t.len(), 0);
        assert_eq!(t.oldest(), None);
    }

    #[test]
    fn an_unknown_or_repeated_ack_answers_nobody() {
        let t0 = Instant::now();
        let mut t = PubackTracker::new();
        t.queued("a", t0);
        assert_eq!(t.acked(1), None, "not written yet");
        t.sent(1).unwrap();
        assert_eq!(t.acked(2), None);
        assert_eq!(t.acked(1), Some("a"));
        assert_eq!(t.acked(1), None, "a second PUBACK for the same id");
    }

    #[test]
    fn a_write_that_fits_no_publish_is_a_mismatch() {
        let t0 = Instant::now();
        let mut t = PubackTracker::new();
        assert_eq!(t.sent(1), Err(Mismatch::NothingQueued(1)));
        t.queued("a", t0);
        t.queued("b", t0);
        t.sent(1).unwrap();
        assert_eq!(t.sent(1), Err(Mismatch::AlreadySent(1)));
        // The mismatch took nothing off the queue: "b" still waits for an id.
        assert_eq!(t.len(), 2);
        // Once 1 is acknowledged the id may be used again.
        assert_eq!(t.acked(1), Some("a"));
        assert_eq!(t.sent(1), Ok(()));
        assert_eq!(t.acked(1), Some("b"));
    }

    #[test]
    fn a_lost_connection_fails_everyone_oldest_first() {
        let t0 = Instant::now();
        let mut t = PubackTracker::new();
        t.queued("a", at(t0, 0));
        t.queued("b", at(t0, 5));
        t.queued("c", at(t0, 9));
        t.sent(3).unwrap();
        t.sent(4).unwrap();
        assert_eq!(t.oldest(), Some(t0));
        assert_eq!(t.acked(3), Some("a"));
        assert_eq!(t.oldest(), Some(at(t0, 5)));
        assert_eq!(t.fail_all(), vec!["b", "c"]);
        assert_eq!(t.len(), 0);
        assert_eq!(t.fail_all(), Vec::<&str>::new());
        // A fresh start after the reset.
        t.queued("d", at(t0, 20));
        t.sent(1).unwrap();
        assert_eq!(t.acked(1), Some("d"));
    }
}
