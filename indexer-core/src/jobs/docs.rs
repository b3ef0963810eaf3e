//! The seam between the job engine and the cluster: the status index's documents, read and
//! written one at a time, conditionally. In a run they are the cluster's ([`SearchClient`]); in
//! the engine's unit tests an in-memory double with the same conditional semantics, which can
//! also apply a write and lose its answer, stands in for it, so the lock's and the job record's
//! transitions are tested without servers.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::STATUS_INDEX;
use crate::sink::client::{Conditional, SearchClient, SinkError, Versioned};

/// A pending answer of the status index.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// The status index's documents, by id. Writes are conditional on the version read (or on the
/// document being absent); a write whose first answer was lost after it applied is sent again
/// and meets a conflict (or, for a delete, finds nothing), as the cluster client does.
pub trait Docs: Send + Sync {
    /// Creates the index with `definition` unless it exists.
    fn ensure<'a>(&'a self, definition: &'a Value) -> Answer<'a, ()>;
    /// Reads a document in real time.
    fn get<'a>(&'a self, id: &'a str) -> Answer<'a, Option<Versioned>>;
    /// Writes a document only if absent (`None`) or unchanged since `guard`.
    fn write_if<'a>(
        &'a self,
        id: &'a str,
        body: &'a Value,
        guard: Option<(u64, u64)>,
    ) -> Answer<'a, Conditional>;
    /// Writes a document unconditionally.
    fn put<'a>(&'a self, id: &'a str, body: &'a Value) -> Answer<'a, ()>;
    /// Deletes a document if unchanged since `guard`; `false` on a conflict or when it is gone.
    fn delete_if<'a>(&'a self, id: &'a str, guard: (u64, u64)) -> Answer<'a, bool>;
    /// Runs a search (term filters on top-level fields, sorted) and returns the raw answer.
    fn search<'a>(&'a self, query: &'a Value) -> Answer<'a, Value>;
}

impl Docs for SearchClient {
    fn ensure<'a>(&'a self, definition: &'a Value) -> Answer<'a, ()> {
        Box::pin(self.ensure_index(STATUS_INDEX, definition))
    }

    fn get<'a>(&'a self, id: &'a str) -> Answer<'a, Option<Versioned>> {
        Box::pin(self.get_doc(STATUS_INDEX, id))
    }

    fn write_if<'a>(
        &'a self,
        id: &'a str,
        body: &'a Value,
        guard: Option<(u64, u64)>,
    ) -> Answer<'a, Conditional> {
        Box::pin(self.write_doc_if(STATUS_INDEX, id, body, guard))
    }

    fn put<'a>(&'a self, id: &'a str, body: &'a Value) -> Answer<'a, ()> {
        Box::pin(self.put_doc(STATUS_INDEX, id, body))
    }

    fn delete_if<'a>(&'a self, id: &'a str, guard: (u64, u64)) -> Answer<'a, bool> {
        Box::pin(self.delete_doc_if(STATUS_INDEX, id, guard))
    }

    fn search<'a>(&'a self, query: &'a Value) -> Answer<'a, Value> {
        Box::pin(SearchClient::search(self, STATUS_INDEX, query))
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! The in-memory double of the status index.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use serde_json::{Value, json};

    use super::{Answer, Docs};
    use crate::sink::client::{Conditional, SinkError, Versioned};

    #[derive(Default)]
    struct State {
        docs: HashMap<String, (Value, u64)>,
        seq: u64,
        /// Ids (by prefix) whose next write or delete applies and then loses its answer.
        lose: Vec<String>,
    }

    /// The status index in memory.
    #[derive(Default)]
    pub struct Memory {
        state: Mutex<State>,
    }

    impl Memory {
        /// The next write or delete of a document whose id starts with `prefix` applies, and its
        /// answer is lost: the client sends it again and reports what that second attempt met.
        pub fn lose_next_answer(&self, prefix: &str) {
            if let Ok(mut state) = self.state.lock() {
                state.lose.push(prefix.to_owned());
            }
        }

        /// Writes a document as another process would, unconditionally.
        pub fn force(&self, id: &str, body: Value) {
            if let Ok(mut state) = self.state.lock() {
                state.seq += 1;
                let seq = state.seq;
                state.docs.insert(id.to_owned(), (body, seq));
            }
        }

        /// A document's body, if it exists.
        pub fn body(&self, id: &str) -> Option<Value> {
            self.state
                .lock()
                .ok()
                .and_then(|s| s.docs.get(id).map(|(body, _)| body.clone()))
        }

        fn losing(state: &mut State, id: &str) -> bool {
            match state.lose.iter().position(|p| id.starts_with(p.as_str())) {
                Some(at) => {
                    state.lose.remove(at);
                    true
                }
                None => false,
            }
        }

        fn write(
            state: &mut State,
            id: &str,
            body: &Value,
            guard: Option<(u64, u64)>,
        ) -> Conditional {
            let current = state.docs.get(id).map(|(_, seq)| *seq);
            let allowed = match guard {
                None => current.is_none(),
                Some((seq, _)) => current == Some(seq),
            };
            if !allowed {
                return Conditional::Conflict;
            }
            state.seq += 1;
            let seq = state.seq;
            state.docs.insert(id.to_owned(), (body.clone(), seq));
            Conditional::Written {
                seq_no: seq,
                primary_term: 1,
            }
        }

        fn delete(state: &mut State, id: &str, guard: (u64, u64)) -> bool {
            if state.docs.get(id).map(|(_, seq)| *seq) == Some(guard.0) {
                state.docs.remove(id);
                true
            } else {
                false
            }
        }

        fn locked(&self) -> Result<std::sync::MutexGuard<'_, State>, SinkError> {
            self.state.lock().map_err(|_| SinkError::Decode {
                op: "memory".into(),
                reason: "poisoned".into(),
            })
        }
    }

    impl Docs for Memory {
        fn ensure<'a>(&'a self, _definition: &'a Value) -> Answer<'a, ()> {
            Box::pin(async { Ok(()) })
        }

        fn get<'a>(&'a self, id: &'a str) -> Answer<'a, Option<Versioned>> {
            Box::pin(async move {
                let state = self.locked()?;
                Ok(state.docs.get(id).map(|(source, seq)| Versioned {
                    source: source.clone(),
                    seq_no: *seq,
                    primary_term: 1,
                }))
            })
        }

        fn write_if<'a>(
            &'a self,
            id: &'a str,
            body: &'a Value,
            guard: Option<(u64, u64)>,
        ) -> Answer<'a, Conditional> {
            Box::pin(async move {
                let mut state = self.locked()?;
                let first = Memory::write(&mut state, id, body, guard);
                if Memory::losing(&mut state, id) {
                    return Ok(Memory::write(&mut state, id, body, guard));
                }
                Ok(first)
            })
        }

        fn put<'a>(&'a self, id: &'a str, body: &'a Value) -> Answer<'a, ()> {
            Box::pin(async move {
                self.force(id, body.clone());
                Ok(())
            })
        }

        fn delete_if<'a>(&'a self, id: &'a str, guard: (u64, u64)) -> Answer<'a, bool> {
            Box::pin(async move {
                let mut state = self.locked()?;
                let first = Memory::delete(&mut state, id, guard);
                if Memory::losing(&mut state, id) {
                    return Ok(Memory::delete(&mut state, id, guard));
                }
                Ok(first)
            })
        }

        fn search<'a>(&'a self, query: &'a Value) -> Answer<'a, Value> {
            Box::pin(async move {
                let state = self.locked()?;
                let filters = query["query"]["bool"]["filter"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut hits: Vec<Value> = state
                    .docs
                    .values()
                    .map(|(source, _)| source.clone())
                    .filter(|source| {
                        filters.iter().all(|filter| {
                            filter["term"]
                                .as_object()
                                .is_some_and(|term| term.iter().all(|(k, v)| &source[k] == v))
                        })
                    })
                    .collect();
                hits.sort_by(|a, b| {
                    b["started_at"]
                        .as_str()
                        .unwrap_or_default()
                        .cmp(a["started_at"].as_str().unwrap_or_default())
                });
                hits.truncate(query["size"].as_u64().unwrap_or(10) as usize);
                let hits: Vec<Value> = hits.into_iter().map(|s| json!({ "_source": s })).collect();
                Ok(json!({ "hits": { "hits": hits } }))
            })
        }
    }
}
