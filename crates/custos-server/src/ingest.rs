//! Group commit for event batches.
//!
//! Handlers hand their validated batches to one [`Ingestor`] task, which
//! takes every job waiting at that moment and stores them in a single
//! transaction: one commit (one fsync on SQLite) for many requests. Each
//! handler answers 202 only once the commit holding its batches has
//! returned, so an acknowledged batch is durable.

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
        let mut size = first.batches.len();
        let mut group = vec![first];
        while size < MAX_GROUP_BATCHES {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.batches.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        commit_group(&*store, group).await;
    }
}

async fn commit_group(store: &dyn Store, group: Vec<Job>) {
    let stored = if let [job] = group.as_slice() {
        store.ingest_batches(&job.batches).await
    } else {
        let all: Vec<IncomingBatch> = group.iter().flat_map(|job| job.batches.iter().cloned()).collect();
        store.ingest_batches(&all).await
    };
    match stored {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for job in group {
                let mine = outcomes.by_ref().take(job.batches.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(error) if group.len() == 1 => {
            let error = Arc::new(error);
            for job in group {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
        // One job's failure must not fail the others: retry them one by one.
        Err(_) => {
            for job in group {
                let result = store.ingest_batches(&job.batches).await.map_err(Arc::new);
                let _ = job.reply.send(result);
            }
        }
    }
}
