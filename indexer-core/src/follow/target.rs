//! What a follower reads and writes: the table's stream, and the index the alias names, checked
//! before anything is written.

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;

use super::plan::FollowPlan;
use crate::error::Error;
use crate::sink::client::{NameState, SearchClient};
use crate::source::{scan, stream};
use crate::validate::IndexName;

/// The table's stream, which must carry new images.
pub(super) async fn stream_of(
    dynamo: &DynamoClient,
    streams: &StreamsClient,
    plan: &FollowPlan,
) -> Result<String, Error> {
    let info = scan::describe(dynamo, &plan.table).await?;
    let Some(arn) = info.stream_arn else {
        return Err(Error::Input(format!(
            "table {} has no stream enabled; follow reads the table's stream: enable one with the view type NEW_IMAGE or NEW_AND_OLD_IMAGES",
            plan.table
        )));
    };
    if !stream::has_new_images(streams, &arn).await? {
        return Err(Error::Input(format!(
            "the stream of table {} carries no new images; follow needs the view type NEW_IMAGE or NEW_AND_OLD_IMAGES",
            plan.table
        )));
    }
    Ok(arn)
}

/// Refuses (exit 2) an alias that names no index yet, or whose live index serves another
/// entity's documents (a wrong `--table` or `--entity` would write them beside the others).
pub(super) async fn guard_target(search: &SearchClient, plan: &FollowPlan) -> Result<(), Error> {
    let live = match search.name_state(plan.alias.as_str()).await? {
        NameState::Absent => {
            return Err(Error::Input(format!(
                "alias \"{}\" names no index on {}: build it first with `indexer rebuild`; follow keeps an existing index true",
                plan.alias,
                search.node()
            )));
        }
        NameState::Index => plan.alias.to_string(),
        NameState::Alias(indexes) => match indexes.as_slice() {
            [one] => one.clone(),
            _ => return Ok(()),
        },
    };
    let answer = search
        .json(
            &format!("read the mapping of {live}"),
            reqwest::Method::GET,
            &format!("/{live}/_mapping"),
            None,
        )
        .await?;
    let origin = crate::entities::compat::mapping_of(&answer)
        .and_then(|mapping| crate::rebuild::Origin::of_live(mapping, plan.entity));
    match origin {
        Some(origin) if origin.entity != plan.entity => Err(Error::Input(format!(
            "alias \"{}\" serves {} documents (its live index {live}), but this follower would write {} documents from table {} into it; check --table and --entity",
            plan.alias, origin.entity, plan.entity, plan.table
        ))),
        _ => Ok(()),
    }
}

/// The index the alias names now: the one physical index behind it, or the legacy concrete
/// index of that name.
pub(super) async fn live_index(search: &SearchClient, alias: &IndexName) -> Result<String, Error> {
    match search.name_state(alias.as_str()).await? {
        NameState::Alias(indexes) if indexes.len() == 1 => {
            Ok(indexes.into_iter().next().unwrap_or_default())
        }
        NameState::Index => Ok(alias.to_string()),
        NameState::Absent => Err(Error::Job(format!(
            "alias \"{alias}\" names no index now; the stream's records wait until it does"
        ))),
        NameState::Alias(indexes) => Err(Error::Job(format!(
            "alias \"{alias}\" names {} indexes ({}); the stream's records wait until it names one",
            indexes.len(),
            indexes.join(", ")
        ))),
    }
}
