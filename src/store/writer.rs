//! The writer thread: the one owner of the read-write connection.
//!
//! It takes requests off the bounded channel, applies consecutive ingest requests as one group
//! (one transaction, one fsync), and answers each request only after its transaction committed.
//! If a commit fails, every request of that group gets the error and nothing is acknowledged;
//! the sources then stop acknowledging and the broker keeps the messages.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::rules::RulesPolicy;
use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditChain, Operator};
use super::audit_ingest::IngestAudit;
use super::outbox_queue::{self, DeliveryWrite};
use super::{
    Command, GROUP_MAX, IngestItem, IngestOutcome, StoreError, Wakeups, ledger, outbox, registry,
    schema,
};

/// Opens the database with the durability settings every connection of ours uses.
pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The serial registry's indexes are what every line message looks up; SQLite's default
    // 2 MiB page cache makes each lookup a pread once a batch passes ~50,000 units.
    conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    schema::migrate(&mut conn)?;
    restrict_permissions(path);
    Ok(conn)
}

/// The database holds production data: readable by the service user only.
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in [
        path.to_path_buf(),
        path.with_extension("db-wal"),
        path.with_extension("db-shm"),
    ] {
        if p.exists()
            && let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(path = %p.display(), error = %e, "cannot restrict database file permissions to 0600");
        }
    }
}

/// Page cache of the writer connection, KiB (the default is 2 MiB).
const PAGE_CACHE_KIB: i64 = 64 * 1024;

type IngestReply = oneshot::Sender<Result<IngestOutcome, StoreError>>;
type DeliveryReply = oneshot::Sender<Result<usize, StoreError>>;

pub(super) fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    wakeups: &Wakeups,
    policy: &RulesPolicy,
) {
    let mut group: Vec<(Box<IngestItem>, IngestReply)> = Vec::new();
    let mut deliveries: Vec<(DeliveryWrite, DeliveryReply)> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut pending = Some(first);
        // Drain what is already queued, so one commit serves many requests. Line messages and
        // delivery changes each form their own group; order between them is kept by
        // committing one group before the other starts.
        while let Some(cmd) = pending.take() {
            match cmd {
                Command::Ingest(item, reply) => {
                    commit_deliveries(&mut conn, &mut deliveries);
                    group.push((item, reply));
                }
                Command::Delivery(write, reply) => {
                    commit_group(&mut conn, &mut group, wakeups, policy, None);
                    deliveries.push((write, reply));
                }
                other => {
                    // Keep order: the groups received before this command commit first.
                    commit_group(&mut conn, &mut group, wakeups, policy, None);
                    commit_deliveries(&mut conn, &mut deliveries);
                    run_single(&mut conn, other, wakeups, policy);
                }
            }
            if group.len() < GROUP_MAX && deliveries.len() < GROUP_MAX {
                pending = rx.try_recv().ok();
            }
        }
        commit_group(&mut conn, &mut group, wakeups, policy, None);
        commit_deliveries(&mut conn, &mut deliveries);
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "WAL checkpoint at shutdown failed; the next start will recover it");
    }
    tracing::debug!("store writer stopped");
}

fn commit_group(
    conn: &mut Connection,
    group: &mut Vec<(Box<IngestItem>, IngestReply)>,
    wakeups: &Wakeups,
    policy: &RulesPolicy,
    operator: Option<&Operator>,
) {
    if group.is_empty() {
        return;
    }
    let items = std::mem::take(group);
    // A close or a release made an End of Batch due: wake the assembler.
    let mut document_due = false;
    let started = std::time::Instant::now();
    let result = (|| -> Result<Vec<IngestOutcome>, StoreError> {
        // IMMEDIATE: take the write lock first, so another writer (the CLI) makes us wait
        // (busy timeout) instead of failing with a stale read snapshot.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(items.len());
        let cache = registry::GroupCache::default();
        // The audit chain's head, read at the first append under this transaction's lock.
        let mut chain = AuditChain::new();
        for (item, _) in &items {
            let audit = IngestAudit {
                chain: &mut chain,
                operator,
            };
            let (outcome, due) = ledger::ingest(&tx, item, policy, &cache, audit)?;
            document_due |= due;
            outcomes.push(outcome);
        }
        tx.commit()?;
        Ok(outcomes)
    })();
    match result {
        Ok(outcomes) => {
            tracing::trace!(count = outcomes.len(), "ingest group committed");
            let counted = items.iter().map(|(item, _)| item.as_ref());
            (wakeups.stats).committed(started.elapsed(), counted.zip(&outcomes));
            for ((_, reply), outcome) in items.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
            if document_due {
                wakeups.batch_closed.notify_one();
            }
        }
        Err(e) => {
            tracing::error!(error = %e, count = items.len(), "ingest group failed; nothing of it is acknowledged");
            let text = e.to_string();
            wakeups.stats.failed(&text);
            for (_, reply) in items {
                let _ = reply.send(Err(StoreError::NotCommitted(text.clone())));
            }
        }
    }
}

/// Applies consecutive delivery changes in one transaction; each gets its rows changed, or
/// the error if the transaction did not commit.
fn commit_deliveries(conn: &mut Connection, group: &mut Vec<(DeliveryWrite, DeliveryReply)>) {
    if group.is_empty() {
        return;
    }
    let items = std::mem::take(group);
    let result = (|| -> Result<Vec<usize>, StoreError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut changed = Vec::with_capacity(items.len());
        for (w, _) in &items {
            changed.push(outbox_queue::apply(&tx, w)?);
        }
        tx.commit()?;
        Ok(changed)
    })();
    match result {
        Ok(changed) => {
            for ((_, reply), n) in items.into_iter().zip(changed) {
                let _ = reply.send(Ok(n));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, count = items.len(), "recording delivery outcomes failed; those documents will be sent again");
            let text = e.to_string();
            for (_, reply) in items {
                let _ = reply.send(Err(StoreError::NotCommitted(text.clone())));
            }
        }
    }
}

fn run_single(conn: &mut Connection, cmd: Command, wakeups: &Wakeups, policy: &RulesPolicy) {
    match cmd {
        Command::Ingest(item, reply) => {
            commit_group(conn, &mut vec![(item, reply)], wakeups, policy, None)
        }
        Command::IngestBy(item, operator, reply) => commit_group(
            conn,
            &mut vec![(item, reply)],
            wakeups,
            policy,
            Some(&operator),
        ),
        Command::Audit(entries, reply) => {
            let _ = reply.send(super::audit::append_all(conn, &entries));
        }
        Command::Assemble(built, reply) => {
            let result = outbox::record_assembly(conn, *built);
            if matches!(&result, Ok(Some(super::Assembled::Documents { document_ids, .. })) if !document_ids.is_empty())
            {
                wakeups.outbox_changed.notify_waiters();
            }
            let _ = reply.send(result);
        }
        Command::Shipments(built, reply) => {
            let _ = reply.send(super::shipments::assembly::record(conn, *built, wakeups));
        }
        Command::Delivery(write, reply) => commit_deliveries(conn, &mut vec![(write, reply)]),
        Command::Outbox(action, reply) => {
            let result = super::outbox_admin::apply(conn, &action);
            if result.is_ok() {
                wakeups.outbox_changed.notify_waiters();
            }
            let _ = reply.send(result);
        }
        Command::Events(write, reply) => {
            let _ = reply.send(super::event_record::apply(conn, write, wakeups));
        }
        Command::Prune(req, reply) => {
            let _ = reply.send(super::outbox_prune::apply(conn, &req));
        }
        Command::Enqueue(e, reply) => {
            let result = super::outbox_enqueue::apply(conn, &e);
            if result.is_ok() && !e.docs.is_empty() {
                wakeups.outbox_changed.notify_waiters();
            }
            let _ = reply.send(result);
        }
        Command::Ping(reply) => {
            let _ = reply.send(());
        }
    }
}
