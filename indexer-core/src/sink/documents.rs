//! Single documents on the search cluster: read in real time, written and deleted under a guard
//! (optimistic concurrency on sequence number and primary term), or written unconditionally.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::answers::{Conditional, Versioned};
use super::client::SearchClient;
use super::error::{SinkError, decode, status_error};

impl SearchClient {
    /// Reads a document in real time; `None` when it (or its index) does not exist.
    pub async fn get_doc(&self, index: &str, id: &str) -> Result<Option<Versioned>, SinkError> {
        let op = format!("read {index}/{id}");
        let (status, bytes) = self
            .raw_retrying(&op, Method::GET, &format!("/{index}/_doc/{id}"), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(&op, status.as_u16(), &bytes));
        }
        let answer = decode(&op, &bytes)?;
        if answer.get("found").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        Ok(Some(Versioned {
            source: answer.get("_source").cloned().unwrap_or(Value::Null),
            seq_no: answer["_seq_no"].as_u64().unwrap_or_default(),
            primary_term: answer["_primary_term"].as_u64().unwrap_or_default(),
        }))
    }

    /// Writes a document: only if absent (`guard` = `None`), or only if unchanged since `guard`.
    pub async fn write_doc_if(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        guard: Option<(u64, u64)>,
    ) -> Result<Conditional, SinkError> {
        let path = match guard {
            None => format!("/{index}/_doc/{id}?op_type=create&refresh=wait_for"),
            Some((seq_no, term)) => {
                format!(
                    "/{index}/_doc/{id}?if_seq_no={seq_no}&if_primary_term={term}&refresh=wait_for"
                )
            }
        };
        let op = format!("write {index}/{id}");
        let bytes = body.to_string().into_bytes();
        let (status, answer) = self
            .raw_retrying(&op, Method::PUT, &path, Some(bytes))
            .await?;
        if status == StatusCode::CONFLICT {
            return Ok(Conditional::Conflict);
        }
        if !status.is_success() {
            return Err(status_error(&op, status.as_u16(), &answer));
        }
        let answer = decode(&op, &answer)?;
        Ok(Conditional::Written {
            seq_no: answer["_seq_no"].as_u64().unwrap_or_default(),
            primary_term: answer["_primary_term"].as_u64().unwrap_or_default(),
        })
    }

    /// Writes a document unconditionally (retrying transient failures: it is idempotent).
    pub async fn put_doc(&self, index: &str, id: &str, body: &Value) -> Result<(), SinkError> {
        let op = format!("write {index}/{id}");
        self.call(
            &op,
            Method::PUT,
            &format!("/{index}/_doc/{id}?refresh=wait_for"),
            Some(body.clone()),
        )
        .await
        .map(drop)
    }

    /// Deletes a document if unchanged since `guard`; `false` on a conflict or when it is gone.
    pub async fn delete_doc_if(
        &self,
        index: &str,
        id: &str,
        guard: (u64, u64),
    ) -> Result<bool, SinkError> {
        let op = format!("delete {index}/{id}");
        let path = format!(
            "/{index}/_doc/{id}?if_seq_no={}&if_primary_term={}&refresh=wait_for",
            guard.0, guard.1
        );
        let (status, bytes) = self.raw_retrying(&op, Method::DELETE, &path, None).await?;
        match status {
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(status_error(&op, s.as_u16(), &bytes)),
        }
    }
}
