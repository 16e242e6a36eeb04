//! Group commit for webhook intake: a request is answered 202 only once its
//! event is on disk, but requests arriving together share one transaction
//! (one fsync) instead of one each, so intake grows with concurrency.
//!
//! One committer thread takes every request waiting when it is free (up to
//! [`MAX_GROUP`]) and records them with [`Inbox::accept_many`]; while that
//! commit runs, the next requests gather for the one after. A lone request
//! is committed at once: nothing waits for company.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::backends::inbox::{Arrival, Inbox, Refused};
use crate::ports::storage::StorageError;

/// The most requests one commit takes: bounds a transaction's size and the
/// latency of the requests at its end.
const MAX_GROUP: usize = 512;

struct Job {
    arrival: Arrival,
    reply: oneshot::Sender<Result<i64, Refused>>,
}

/// The handle requests are recorded through.
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committer thread on `inbox`; it ends when the handle is
    /// dropped.
    pub fn start(inbox: Arc<Inbox>) -> std::io::Result<GroupCommit> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("unsubscribe-sync-intake".into())
            .spawn(move || commit_loop(&inbox, &queue))?;
        Ok(GroupCommit { jobs })
    }

    /// Records one request; resolves once it is committed (or refused).
    pub async fn accept(&self, arrival: Arrival) -> Result<i64, Refused> {
        let (reply, answer) = oneshot::channel();
        let gone = || Refused::Storage(StorageError::Unavailable("the intake stopped".into()));
        self.jobs.send(Job { arrival, reply }).map_err(|_| gone())?;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

fn commit_loop(inbox: &Inbox, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let arrivals: Vec<Arrival> = group.iter().map(|j| j.arrival.clone()).collect();
        match inbox.accept_many(&arrivals) {
            Ok(answers) => {
                for (job, answer) in group.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                // Nothing of the group was recorded: every sender is told,
                // and retries.
                for job in group {
                    let _ = job.reply.send(Err(Refused::Storage(e.clone())));
                }
            }
        }
    }
}
