//! Parallel segmented Scan.
//!
//! DynamoDB splits a table into `TotalSegments` disjoint segments; each segment is read page by
//! page with `ExclusiveStartKey`, and every item appears in exactly one segment. Pages are asked
//! for with an explicit `Limit`: without it each page costs more the deeper a segment goes.
//! Throttling and transient errors are retried by the SDK's standard retry strategy.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, Select};

use super::item::Item;
use crate::validate::TableName;

/// A failure reading the table.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "table {table:?} was not found in DynamoDB ({endpoint}); check the name, region and account"
    )]
    TableNotFound { table: String, endpoint: String },
    #[error("{op} on table {table:?} failed: {message}")]
    Aws {
        op: &'static str,
        table: String,
        message: String,
    },
}

/// What the indexer needs to know about a table before reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// DynamoDB's estimate, refreshed about every six hours; used only for progress.
    pub approximate_items: Option<u64>,
    /// The key attributes, hash key first, with their DynamoDB types (`S`, `N` or `B`).
    pub key_attributes: Vec<(String, String)>,
    /// The table's stream, when it has one enabled.
    pub stream_arn: Option<String>,
}

/// Reads one table's description; a missing table is [`SourceError::TableNotFound`].
pub async fn describe(client: &Client, table: &TableName) -> Result<TableInfo, SourceError> {
    let result = client
        .describe_table()
        .table_name(table.as_str())
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(err) => {
            let not_found = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception());
            if not_found {
                return Err(SourceError::TableNotFound {
                    table: table.to_string(),
                    endpoint: endpoint_label(client),
                });
            }
            return Err(SourceError::Aws {
                op: "DescribeTable",
                table: table.to_string(),
                message: crate::logging::cause_chain(&err),
            });
        }
    };
    let description = output.table;
    let stream_enabled = description
        .as_ref()
        .and_then(|t| t.stream_specification())
        .is_some_and(|spec| spec.stream_enabled());
    Ok(TableInfo {
        stream_arn: description
            .as_ref()
            .and_then(|t| t.latest_stream_arn())
            .filter(|_| stream_enabled)
            .map(str::to_owned),
        approximate_items: description
            .as_ref()
            .and_then(|t| t.item_count)
            .and_then(|n| u64::try_from(n).ok()),
        key_attributes: description
            .as_ref()
            .map(|t| {
                let mut keys: Vec<_> = t.key_schema().iter().collect();
                keys.sort_by_key(|k| k.key_type().as_str() != "HASH");
                keys.iter()
                    .map(|k| {
                        let name = k.attribute_name().to_owned();
                        let kind = t
                            .attribute_definitions()
                            .iter()
                            .find(|d| d.attribute_name() == name)
                            .map(|d| d.attribute_type().as_str().to_owned())
                            .unwrap_or_else(|| "S".to_owned());
                        (name, kind)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn endpoint_label(client: &Client) -> String {
    let config = client.config();
    let region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "no region".into());
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
    {
        Ok(endpoint) => format!("endpoint {endpoint}, region {region}"),
        Err(_) => format!("region {region}"),
    }
}

/// Where one segment's reading stands.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub segment: u32,
    pub total_segments: u32,
    /// The key to continue after; `None` at the start.
    pub last_key: Option<Item>,
    pub done: bool,
    /// Read with strongly consistent reads: every write acknowledged before the page was asked
    /// for is in it.
    pub consistent: bool,
}

impl Cursor {
    pub fn start(segment: u32, total_segments: u32) -> Cursor {
        Cursor {
            segment,
            total_segments,
            last_key: None,
            done: false,
            consistent: false,
        }
    }
}

/// One page of a segment and the read capacity it consumed.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Item>,
    pub read_units: f64,
}

/// Reads the next page of a segment and advances the cursor; `None` once the segment is done.
pub async fn next_page(
    client: &Client,
    table: &TableName,
    page_size: u32,
    cursor: &mut Cursor,
) -> Result<Option<Page>, SourceError> {
    if cursor.done {
        return Ok(None);
    }
    let output = client
        .scan()
        .table_name(table.as_str())
        .segment(cursor.segment as i32)
        .total_segments(cursor.total_segments as i32)
        .limit(page_size as i32)
        .consistent_read(cursor.consistent)
        .select(Select::AllAttributes)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .set_exclusive_start_key(cursor.last_key.clone())
        .send()
        .await
        .map_err(|err| SourceError::Aws {
            op: "Scan",
            table: table.to_string(),
            message: crate::logging::cause_chain(&err),
        })?;
    cursor.last_key = output.last_evaluated_key.filter(|key| !key.is_empty());
    cursor.done = cursor.last_key.is_none();
    let read_units = output
        .consumed_capacity
        .and_then(|c| c.capacity_units)
        .unwrap_or_default();
    Ok(Some(Page {
        items: output.items.unwrap_or_default(),
        read_units,
    }))
}
