//! Index and alias administration on the search cluster: creating, deleting and configuring
//! indexes, counting their documents, and reading and moving aliases.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answers::{AliasProps, NameState};
use super::client::SearchClient;
use super::error::{SinkError, decode, status_error};

#[derive(Deserialize)]
struct IndexAliases {
    #[serde(default)]
    aliases: BTreeMap<String, AliasProps>,
}

impl SearchClient {
    /// Creates an index with the given settings and mappings. After a retry, "already exists"
    /// means the lost first attempt created it.
    pub async fn create_index(&self, name: &str, definition: &Value) -> Result<(), SinkError> {
        self.call_retrying(
            &format!("create index {name}"),
            Method::PUT,
            &format!("/{name}"),
            Some(definition.clone()),
            SinkError::already_exists,
        )
        .await
        .map(drop)
    }

    /// Deletes an index. After a retry, a 404 means the lost first attempt deleted it.
    pub async fn delete_index(&self, name: &str) -> Result<(), SinkError> {
        self.call_retrying(
            &format!("delete index {name}"),
            Method::DELETE,
            &format!("/{name}"),
            None,
            |error| matches!(error, SinkError::Status { status: 404, .. }),
        )
        .await
        .map(drop)
    }

    pub async fn put_settings(&self, name: &str, settings: &Value) -> Result<(), SinkError> {
        let body = json!({ "index": settings });
        self.call(
            &format!("update settings of {name}"),
            Method::PUT,
            &format!("/{name}/_settings"),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// An index's settings, flattened under `index.` as the cluster reports them.
    pub async fn settings(&self, name: &str) -> Result<Value, SinkError> {
        let op = format!("read settings of {name}");
        let answer = self
            .call(&op, Method::GET, &format!("/{name}/_settings"), None)
            .await?;
        answer
            .get(name)
            .and_then(|v| v.get("settings"))
            .and_then(|v| v.get("index"))
            .cloned()
            .ok_or_else(|| SinkError::Decode {
                op,
                reason: "no settings.index in the answer".into(),
            })
    }

    pub async fn refresh(&self, name: &str) -> Result<(), SinkError> {
        self.call(
            &format!("refresh {name}"),
            Method::POST,
            &format!("/{name}/_refresh"),
            None,
        )
        .await
        .map(drop)
    }

    /// The number of documents searchable in an index or alias.
    pub async fn count(&self, name: &str) -> Result<u64, SinkError> {
        let op = format!("count documents in {name}");
        let answer = self
            .call(&op, Method::GET, &format!("/{name}/_count"), None)
            .await?;
        answer["count"].as_u64().ok_or_else(|| SinkError::Decode {
            op,
            reason: format!("no count in {answer}"),
        })
    }

    /// Whether `name` is an alias, a concrete index or nothing.
    pub async fn name_state(&self, name: &str) -> Result<NameState, SinkError> {
        let op = format!("look up alias {name}");
        let (status, bytes) = self
            .raw(&op, Method::GET, &format!("/_alias/{name}"), None)
            .await?;
        if status.is_success() {
            let indexes: BTreeMap<String, Value> =
                serde_json::from_slice(&bytes).map_err(|e| SinkError::Decode {
                    op: op.clone(),
                    reason: e.to_string(),
                })?;
            if !indexes.is_empty() {
                return Ok(NameState::Alias(indexes.into_keys().collect()));
            }
        } else if status != StatusCode::NOT_FOUND {
            return Err(status_error(&op, status.as_u16(), &bytes));
        }
        let op = format!("look up index {name}");
        let (status, bytes) = self
            .raw(&op, Method::GET, &format!("/{name}"), None)
            .await?;
        match status {
            StatusCode::NOT_FOUND => Ok(NameState::Absent),
            s if s.is_success() => Ok(NameState::Index),
            s => Err(status_error(&op, s.as_u16(), &bytes)),
        }
    }

    /// Every alias on an index, with its properties.
    pub async fn aliases_of(&self, index: &str) -> Result<BTreeMap<String, AliasProps>, SinkError> {
        let op = format!("read aliases of {index}");
        let answer = self
            .call(&op, Method::GET, &format!("/{index}/_alias"), None)
            .await?;
        let mut by_index: BTreeMap<String, IndexAliases> =
            serde_json::from_value(answer).map_err(|e| SinkError::Decode {
                op: op.clone(),
                reason: e.to_string(),
            })?;
        Ok(by_index
            .remove(index)
            .map(|i| i.aliases)
            .unwrap_or_default())
    }

    /// Applies alias actions in one atomic `_aliases` call, sent once: never retried, because a
    /// lost answer may hide an applied change. After an error the caller reads the aliases back
    /// to learn what happened.
    pub async fn update_aliases(&self, actions: Vec<Value>) -> Result<(), SinkError> {
        let op = "update aliases";
        let body = json!({ "actions": actions }).to_string().into_bytes();
        let (status, bytes) = self
            .raw(
                op,
                Method::POST,
                "/_aliases",
                Some((body, "application/json")),
            )
            .await?;
        if !status.is_success() {
            return Err(status_error(op, status.as_u16(), &bytes));
        }
        let answer = decode(op, &bytes)?;
        if answer.get("acknowledged").and_then(Value::as_bool) == Some(false) {
            return Err(SinkError::Decode {
                op: "update aliases".into(),
                reason: "the cluster did not acknowledge the change".into(),
            });
        }
        Ok(())
    }

    /// Names of the indexes matching a wildcard pattern (hidden ones included).
    pub async fn indexes_matching(&self, pattern: &str) -> Result<Vec<String>, SinkError> {
        let op = format!("list indexes {pattern}");
        let answer = self
            .call(
                &op,
                Method::GET,
                &format!("/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=all"),
                None,
            )
            .await;
        let answer = match answer {
            Err(SinkError::Status { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let rows = answer.as_array().ok_or_else(|| SinkError::Decode {
            op: op.clone(),
            reason: "expected a JSON array".into(),
        })?;
        Ok(rows
            .iter()
            .filter_map(|row| row.get("index").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Creates an index unless it exists.
    pub async fn ensure_index(&self, name: &str, definition: &Value) -> Result<(), SinkError> {
        match self.create_index(name, definition).await {
            Err(error) if error.already_exists() => Ok(()),
            other => other,
        }
    }
}
