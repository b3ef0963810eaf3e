//! Reading and writing job state in the status index (see the module above for the model).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use std::sync::Arc;

use super::docs::Docs;
use super::{JobRecord, LockRecord};
use crate::sink::client::{Conditional, SearchClient, SinkError, Versioned};

/// Which other jobs of an alias depend on a job (see [`JobStore::sharing`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sharing {
    /// The job that resumed it.
    pub resumed_by: Option<String>,
    /// The other jobs whose `new_index` is its index.
    pub index_users: Vec<String>,
}

/// A lock this process holds, with the token for renewing it.
#[derive(Debug, Clone)]
pub struct HeldLock {
    pub record: LockRecord,
    token: (u64, u64),
}

/// The version of a document read, for writing it back only if it is unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Token((u64, u64));

/// What happened when taking the lock.
#[derive(Debug)]
pub enum Acquire {
    /// Taken; `took_over` names the hung job it was taken from.
    Taken {
        lock: HeldLock,
        took_over: Option<LockRecord>,
    },
    /// Held by a live run.
    Held {
        lock: LockRecord,
        job: Option<Box<JobRecord>>,
    },
}

/// The lock of an alias as seen by an observer.
#[derive(Debug, Clone)]
pub struct LockView {
    pub record: LockRecord,
    pub stale: bool,
    token: (u64, u64),
}

/// Job state of one cluster.
#[derive(Clone)]
pub struct JobStore {
    docs: Arc<dyn Docs>,
}

fn lock_id(alias: &str) -> String {
    format!("lock:{alias}")
}

fn job_id(id: &str) -> String {
    format!("job:{id}")
}

fn latest_id(alias: &str) -> String {
    format!("latest:{alias}")
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T, SinkError> {
    serde_json::from_value(value).map_err(|e| SinkError::Decode {
        op: format!("read {what}"),
        reason: e.to_string(),
    })
}

fn encode(kind: &str, value: &impl serde::Serialize) -> Value {
    let mut body = serde_json::to_value(value).unwrap_or_else(|_| json!({}));
    body["kind"] = json!(kind);
    body
}

impl JobStore {
    pub fn new(client: SearchClient) -> JobStore {
        JobStore {
            docs: Arc::new(client),
        }
    }

    /// Job state kept in `docs` (the engine's unit tests keep it in memory).
    pub fn over(docs: Arc<dyn Docs>) -> JobStore {
        JobStore { docs }
    }

    /// Creates the status index if it does not exist.
    pub async fn ensure(&self) -> Result<(), SinkError> {
        let definition = json!({
            "settings": { "number_of_shards": 1, "auto_expand_replicas": "0-1" },
            "mappings": {
                "dynamic": false,
                "properties": {
                    "kind": { "type": "keyword" },
                    "alias": { "type": "keyword" },
                    "job_id": { "type": "keyword" },
                    "status": { "type": "keyword" },
                    "mode": { "type": "keyword" },
                    "started_at": { "type": "date" },
                    "heartbeat_at": { "type": "date" },
                    "ended_at": { "type": "date" }
                }
            }
        });
        self.docs.ensure(&definition).await
    }

    /// Reads the alias's lock, if any.
    pub async fn lock(
        &self,
        alias: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LockView>, SinkError> {
        let Some(Versioned {
            source,
            seq_no,
            primary_term,
        }) = self.docs.get(&lock_id(alias)).await?
        else {
            return Ok(None);
        };
        let record: LockRecord = decode("lock", source)?;
        Ok(Some(LockView {
            stale: record.is_stale(now),
            record,
            token: (seq_no, primary_term),
        }))
    }

    /// Takes the alias's lock for `job_id`, taking over a stale one when `take_over_stale`.
    pub async fn acquire(
        &self,
        record: LockRecord,
        take_over_stale: bool,
    ) -> Result<Acquire, SinkError> {
        let body = encode("lock", &record);
        let id = lock_id(&record.alias);
        for _ in 0..3 {
            if let Conditional::Written {
                seq_no,
                primary_term,
            } = self.docs.write_if(&id, &body, None).await?
            {
                return Ok(Acquire::Taken {
                    lock: HeldLock {
                        record,
                        token: (seq_no, primary_term),
                    },
                    took_over: None,
                });
            }
            let Some(current) = self.lock(&record.alias, Utc::now()).await? else {
                continue; // released in between: try to create it again
            };
            if current.record.job_id == record.job_id && current.record.holder == record.holder {
                // Our own write, whose answer was lost: the lock is ours.
                return Ok(Acquire::Taken {
                    lock: HeldLock {
                        record: current.record,
                        token: current.token,
                    },
                    took_over: None,
                });
            }
            if !(current.stale && take_over_stale) {
                let job = self.job(&current.record.job_id).await?.map(Box::new);
                return Ok(Acquire::Held {
                    lock: current.record,
                    job,
                });
            }
            if let Conditional::Written {
                seq_no,
                primary_term,
            } = self.docs.write_if(&id, &body, Some(current.token)).await?
            {
                return Ok(Acquire::Taken {
                    lock: HeldLock {
                        record,
                        token: (seq_no, primary_term),
                    },
                    took_over: Some(current.record),
                });
            }
        }
        let current = self.lock(&record.alias, Utc::now()).await?;
        match current {
            Some(current) => {
                let job = self.job(&current.record.job_id).await?.map(Box::new);
                Ok(Acquire::Held {
                    lock: current.record,
                    job,
                })
            }
            None => Err(SinkError::Decode {
                op: "take the lock".into(),
                reason: "the lock changed hands repeatedly; try again".into(),
            }),
        }
    }

    /// Renews a held lock's heartbeat; `false` when it was taken over (the run must stop).
    pub async fn renew(&self, lock: &mut HeldLock, now: DateTime<Utc>) -> Result<bool, SinkError> {
        let mut record = lock.record.clone();
        record.heartbeat_at = now;
        let body = encode("lock", &record);
        match self
            .docs
            .write_if(&lock_id(&record.alias), &body, Some(lock.token))
            .await?
        {
            Conditional::Written {
                seq_no,
                primary_term,
            } => {
                lock.record = record;
                lock.token = (seq_no, primary_term);
                Ok(true)
            }
            Conditional::Conflict => {
                // A renewal whose answer was lost meets a conflict on its retry: the lock is
                // still ours if it still names this job and holder.
                match self.lock(&lock.record.alias, now).await? {
                    Some(current)
                        if current.record.job_id == lock.record.job_id
                            && current.record.holder == lock.record.holder =>
                    {
                        lock.record = current.record;
                        lock.token = current.token;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
        }
    }

    /// Releases a held lock (a no-op if it was taken over meanwhile). If the token is out of
    /// date (a renewal's answer was lost), the lock is re-read and released if still ours.
    pub async fn release(&self, lock: &HeldLock) -> Result<(), SinkError> {
        let id = lock_id(&lock.record.alias);
        if self.docs.delete_if(&id, lock.token).await? {
            return Ok(());
        }
        if let Some(current) = self.lock(&lock.record.alias, Utc::now()).await? {
            if current.record.job_id == lock.record.job_id {
                self.docs.delete_if(&id, current.token).await?;
            }
        }
        Ok(())
    }

    /// Removes a lock as an operator (abandon), if it is still the one observed.
    pub async fn break_lock(&self, view: &LockView) -> Result<bool, SinkError> {
        self.docs
            .delete_if(&lock_id(&view.record.alias), view.token)
            .await
    }

    /// Writes a job record, and makes it the alias's latest job.
    pub async fn save(&self, job: &JobRecord) -> Result<(), SinkError> {
        self.docs
            .put(&job_id(&job.job_id), &encode("job", job))
            .await
    }

    /// Marks `job` as the alias's newest job.
    pub async fn set_latest(&self, job: &JobRecord) -> Result<(), SinkError> {
        let body = json!({ "kind": "latest", "alias": job.alias, "job_id": job.job_id });
        self.docs.put(&latest_id(&job.alias), &body).await
    }

    /// Creates a job record unless one with its id exists; `false` when it does.
    pub async fn create_job(&self, job: &JobRecord) -> Result<bool, SinkError> {
        let written = self
            .docs
            .write_if(&job_id(&job.job_id), &encode("job", job), None)
            .await?;
        Ok(matches!(written, Conditional::Written { .. }))
    }

    /// A job record with the token for writing it back under optimistic concurrency.
    pub async fn job_versioned(&self, id: &str) -> Result<Option<(JobRecord, Token)>, SinkError> {
        match self.docs.get(&job_id(id)).await? {
            Some(doc) => Ok(Some((
                decode("job", doc.source)?,
                Token((doc.seq_no, doc.primary_term)),
            ))),
            None => Ok(None),
        }
    }

    /// Writes a job record read with `token`; `false` when it changed since (read it again).
    pub async fn save_job_if(&self, job: &JobRecord, token: Token) -> Result<bool, SinkError> {
        let written = self
            .docs
            .write_if(&job_id(&job.job_id), &encode("job", job), Some(token.0))
            .await?;
        Ok(matches!(written, Conditional::Written { .. }))
    }

    /// Renews the alias's lock on behalf of a job split over workers, any of which may renew
    /// it. `false` when the lock is gone or belongs to another job.
    pub async fn renew_for_job(
        &self,
        alias: &str,
        job: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, SinkError> {
        for _ in 0..5 {
            let Some(current) = self.lock(alias, now).await? else {
                return Ok(false);
            };
            if current.record.job_id != job {
                return Ok(false);
            }
            let record = LockRecord {
                heartbeat_at: now.max(current.record.heartbeat_at),
                ..current.record
            };
            if let Conditional::Written { .. } = self
                .docs
                .write_if(
                    &lock_id(alias),
                    &encode("lock", &record),
                    Some(current.token),
                )
                .await?
            {
                return Ok(true);
            }
        }
        // Renewed by the job's other workers meanwhile: still ours.
        Ok(self
            .lock(alias, now)
            .await?
            .is_some_and(|l| l.record.job_id == job))
    }

    /// Releases the alias's lock if `job` holds it.
    pub async fn release_for_job(&self, alias: &str, job: &str) -> Result<(), SinkError> {
        for _ in 0..5 {
            let Some(current) = self.lock(alias, Utc::now()).await? else {
                return Ok(());
            };
            if current.record.job_id != job {
                return Ok(());
            }
            if self.docs.delete_if(&lock_id(alias), current.token).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, SinkError> {
        match self.docs.get(&job_id(id)).await? {
            Some(doc) => decode("job", doc.source).map(Some),
            None => Ok(None),
        }
    }

    /// The alias's newest job, read in real time.
    pub async fn latest(&self, alias: &str) -> Result<Option<JobRecord>, SinkError> {
        let Some(pointer) = self.docs.get(&latest_id(alias)).await? else {
            return Ok(None);
        };
        match pointer.source.get("job_id").and_then(Value::as_str) {
            Some(id) => self.job(id).await,
            None => Ok(None),
        }
    }

    /// The indexes that a rebuild of the alias built and swapped in successfully: the only ones
    /// `rollback` may return to (a gate-refused or failed build never served readers).
    pub async fn succeeded_indexes(
        &self,
        alias: &str,
    ) -> Result<std::collections::BTreeSet<String>, SinkError> {
        let query = json!({
            "size": 1000,
            "query": { "bool": { "filter": [
                { "term": { "kind": "job" } },
                { "term": { "alias": alias } },
                { "term": { "status": "succeeded" } }
            ] } },
            "sort": [{ "started_at": { "order": "desc" } }]
        });
        let answer = match self.docs.search(&query).await {
            Err(SinkError::Status { status: 404, .. }) => return Ok(Default::default()),
            other => other?,
        };
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut indexes = std::collections::BTreeSet::new();
        for hit in hits {
            let job: JobRecord = decode("job", hit.get("_source").cloned().unwrap_or(Value::Null))?;
            if job.mode == super::JobMode::Rebuild
                && let Some(index) = job.new_index
            {
                indexes.insert(index);
            }
        }
        Ok(indexes)
    }

    /// The alias's newest rebuild: the latest job when it is one, else the newest rebuild in the
    /// history (an operator job run in between must not hide a rebuild that can be resumed).
    /// `except`: the asking job itself, never its own predecessor.
    pub async fn latest_rebuild(
        &self,
        alias: &str,
        except: &str,
    ) -> Result<Option<JobRecord>, SinkError> {
        if let Some(latest) = self.latest(alias).await?
            && latest.job_id != except
            && latest.mode == super::JobMode::Rebuild
        {
            return Ok(Some(latest));
        }
        Ok(self
            .history(alias, 50)
            .await?
            .into_iter()
            .find(|job| job.job_id != except && job.mode == super::JobMode::Rebuild))
    }

    /// What other jobs of `job`'s alias make of it: the job that resumed it (and so carries on
    /// its index), and the other jobs that name its index as theirs (a run that resumed it, a
    /// rollback), never the jobs it resumed itself. Reads the alias's newest 1000 jobs.
    pub async fn sharing(&self, job: &JobRecord) -> Result<Sharing, SinkError> {
        let others: Vec<JobRecord> = self
            .history(&job.alias, 1000)
            .await?
            .into_iter()
            .filter(|other| other.job_id != job.job_id)
            .collect();
        let resumed_by = others
            .iter()
            .find(|other| other.resumed_from.as_deref() == Some(job.job_id.as_str()))
            .map(|other| other.job_id.clone());
        // The jobs this one resumed (one after another) carried on into it: their index is its.
        let mut predecessors = Vec::new();
        let mut from = job.resumed_from.clone();
        while let Some(id) = from.take().filter(|id| !predecessors.contains(id)) {
            from = others
                .iter()
                .find(|other| other.job_id == id)
                .and_then(|other| other.resumed_from.clone());
            predecessors.push(id);
        }
        let index_users = others
            .iter()
            .filter(|other| !predecessors.contains(&other.job_id))
            .filter(|other| job.new_index.is_some() && other.new_index == job.new_index)
            .map(|other| other.job_id.clone())
            .collect();
        Ok(Sharing {
            resumed_by,
            index_users,
        })
    }

    /// The alias's jobs, newest first.
    pub async fn history(&self, alias: &str, limit: usize) -> Result<Vec<JobRecord>, SinkError> {
        let query = json!({
            "size": limit,
            "query": { "bool": { "filter": [
                { "term": { "kind": "job" } },
                { "term": { "alias": alias } }
            ] } },
            "sort": [{ "started_at": { "order": "desc" } }]
        });
        let answer = match self.docs.search(&query).await {
            Err(SinkError::Status { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        hits.into_iter()
            .map(|hit| decode("job", hit.get("_source").cloned().unwrap_or(Value::Null)))
            .collect()
    }
}
