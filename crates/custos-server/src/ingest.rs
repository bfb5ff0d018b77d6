//! Group commit for event batches.
//!
//! Handlers hand their validated batches to one [`Ingestor`] task, which
//! takes every job waiting at that moment and stores them in a single
//! transaction: one commit (one fsync on SQLite) for many requests. Each
//! handler answers 202 only once the commit holding its batches is durable.
//!
//! Groups are committed one after the other, and a group is formed only
//! when the previous one has committed, so it takes in everything that
//! arrived meanwhile: the busier the store, the larger the groups. Making a
//! commit durable ([`Store::sync_batches`](custos_store::BatchStore::sync_batches): on SQLite, flushing the WAL)
//! is handed off, so the next group is written while the previous one's
//! flush runs, and one flush can cover several groups.

use std::ops::Range;
use std::sync::Arc;

use custos_store::{IncomingBatch, IngestOutcome, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Most batches stored in one transaction.
const MAX_GROUP_BATCHES: usize = 2_000;

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>, Arc<StoreError>>>;

struct Job {
    batches: Vec<IncomingBatch>,
    reply: Reply,
}

/// A job's share of a group: where its batches are, and whom to answer.
struct Share {
    batches: Range<usize>,
    reply: Reply,
}

#[derive(Clone)]
pub(crate) struct Ingestor {
    jobs: mpsc::Sender<Job>,
}

impl Ingestor {
    pub(crate) fn start(store: Arc<dyn Store>) -> Ingestor {
        let (jobs, queue) = mpsc::channel(4_096);
        tokio::spawn(run(store, queue));
        Ingestor { jobs }
    }

    /// Stores `batches`; returns once they are committed.
    pub(crate) async fn ingest(&self, batches: Vec<IncomingBatch>) -> Result<Vec<IngestOutcome>, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        let closed = || Arc::new(StoreError::Io(std::io::Error::other("the ingest task has stopped")));
        self.jobs.send(Job { batches, reply }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        // The group's batches, moved into one vector, and each job's share of it.
        let mut batches = Vec::new();
        let mut shares = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            shares.push(Share { batches: batches.len()..batches.len() + job.batches.len(), reply: job.reply });
            batches.extend(job.batches);
            if batches.len() < MAX_GROUP_BATCHES {
                next = queue.try_recv().ok();
            }
        }
        match store.commit_batches(&batches).await {
            Ok(outcomes) => {
                let store = store.clone();
                tokio::spawn(async move {
                    let synced = store.sync_batches().await.map_err(Arc::new);
                    for share in shares {
                        let _ = share.reply.send(synced.clone().map(|()| outcomes[share.batches].to_vec()));
                    }
                });
            }
            Err(error) if shares.len() == 1 => {
                let error = Arc::new(error);
                for share in shares {
                    let _ = share.reply.send(Err(error.clone()));
                }
            }
            // One job's failure must not fail the others: retry them one by one.
            Err(_) => {
                for share in shares {
                    let _ = share.reply.send(store.ingest_batches(&batches[share.batches]).await.map_err(Arc::new));
                }
            }
        }
    }
}
