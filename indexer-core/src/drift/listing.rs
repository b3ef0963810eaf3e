//! Listing every document of an index, the way the cluster's version allows.
//!
//! - OpenSearch 3.3 and later: a point in time (`_search/point_in_time`, since 2.4) paged with
//!   `search_after` on `_shard_doc` (since 3.3): a snapshot, in index order.
//! - OpenSearch before 3.3, Elasticsearch 7.x and OpenSearch Serverless: `search_after` on `_id`,
//!   without a point in time (Elasticsearch's point in time is another API, `_pit`, and OpenSearch
//!   before 3.3 refuses `_shard_doc`). Not a snapshot: a document written while the listing runs
//!   may be listed in its old or new state, or not at all, but every document left alone is listed
//!   exactly once, and `verify` re-reads each suspect before reporting it.
//! - Elasticsearch 8 and later is refused: it sorts on `_id` only when
//!   `indices.id_field_data.enabled` is set, and its point in time is not OpenSearch's.

use reqwest::Method;
use serde_json::{Value, json};

use super::fingerprint::Fingerprint;
use crate::error::Error;
use crate::sink::client::SearchClient;
use crate::sink::cluster::{ClusterInfo, Distribution, Version};

/// The first OpenSearch that sorts on `_shard_doc` within a point in time.
pub const SHARD_DOC_SINCE: Version = Version {
    major: 3,
    minor: 3,
    patch: 0,
};

/// How the documents of an index are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// A point in time paged on `_shard_doc`.
    PointInTime,
    /// `search_after` on `_id`, no point in time.
    ById,
}

impl Listing {
    pub fn name(self) -> &'static str {
        match self {
            Listing::PointInTime => "point_in_time",
            Listing::ById => "search_after_id",
        }
    }
}

/// The listing the cluster supports, or why none is.
pub fn choose(info: ClusterInfo) -> Result<Listing, Error> {
    match (info.distribution, info.version) {
        (Distribution::OpenSearch, Some(version)) if version >= SHARD_DOC_SINCE => {
            Ok(Listing::PointInTime)
        }
        (Distribution::Elasticsearch, Some(version)) if version.major >= 8 => {
            Err(Error::Input(format!(
                "{info} is not supported by verify or sync: they list documents sorted on `_id`, which Elasticsearch 8 refuses by default; use OpenSearch, or Elasticsearch 7.x"
            )))
        }
        _ => Ok(Listing::ById),
    }
}

/// Where listed documents go: each id with its fingerprint.
pub type Sink<'a> = &'a mut dyn FnMut(&str, u64) -> Result<(), Error>;

/// Every document of `index`, as id and fingerprint, into `sink`.
pub async fn list_index(
    search: &SearchClient,
    index: &str,
    mode: Fingerprint,
    sink: Sink<'_>,
) -> Result<Listing, Error> {
    let listing = choose(search.cluster_info().await?)?;
    match listing {
        Listing::PointInTime => through_point_in_time(search, index, mode, sink).await?,
        Listing::ById => by_id(search, index, mode, sink).await?,
    }
    Ok(listing)
}

/// Hands a page's hits to `sink`; returns the last hit's sort values, if any.
fn take_page(page: &Value, mode: Fingerprint, sink: Sink<'_>) -> Result<Option<Value>, Error> {
    let Some(hits) = page["hits"]["hits"].as_array() else {
        return Ok(None);
    };
    for hit in hits {
        if let Some(id) = hit["_id"].as_str() {
            sink(id, mode.of(&hit["_source"]))?;
        }
    }
    Ok(hits.last().map(|last| last["sort"].clone()))
}

async fn by_id(
    search: &SearchClient,
    index: &str,
    mode: Fingerprint,
    sink: Sink<'_>,
) -> Result<(), Error> {
    let mut after: Option<Value> = None;
    loop {
        let mut query = json!({
            "size": 1000,
            "sort": [{ "_id": "asc" }],
            "track_total_hits": false
        });
        if let Some(after) = &after {
            query["search_after"] = after.clone();
        }
        let page = search
            .json(
                "list documents",
                Method::POST,
                &format!("/{index}/_search"),
                Some(query),
            )
            .await?;
        match take_page(&page, mode, &mut *sink)? {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    Ok(())
}

async fn through_point_in_time(
    search: &SearchClient,
    index: &str,
    mode: Fingerprint,
    sink: Sink<'_>,
) -> Result<(), Error> {
    let opened = search
        .json(
            "open a point in time",
            Method::POST,
            &format!("/{index}/_search/point_in_time?keep_alive=5m"),
            None,
        )
        .await?;
    let mut pit = opened["pit_id"].as_str().unwrap_or_default().to_owned();
    let mut after: Option<Value> = None;
    loop {
        let mut query = json!({
            "size": 1000,
            "pit": { "id": pit, "keep_alive": "5m" },
            "sort": [{ "_shard_doc": "asc" }],
            "track_total_hits": false
        });
        if let Some(after) = &after {
            query["search_after"] = after.clone();
        }
        let page = search
            .json("list documents", Method::POST, "/_search", Some(query))
            .await?;
        if let Some(id) = page["pit_id"].as_str() {
            pit = id.to_owned();
        }
        match take_page(&page, mode, &mut *sink)? {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let close = json!({ "pit_id": [pit] });
    if let Err(error) = search
        .json(
            "close the point in time",
            Method::DELETE,
            "/_search/point_in_time",
            Some(close),
        )
        .await
    {
        tracing::warn!(error = %error, "could not close the point in time; it expires by itself");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(distribution: Distribution, version: &str) -> ClusterInfo {
        ClusterInfo {
            distribution,
            version: Version::parse(version),
        }
    }

    #[test]
    fn the_listing_follows_the_version() {
        let open = Distribution::OpenSearch;
        assert_eq!(choose(info(open, "3.3.0")).ok(), Some(Listing::PointInTime));
        assert_eq!(choose(info(open, "3.8.0")).ok(), Some(Listing::PointInTime));
        assert_eq!(choose(info(open, "3.2.9")).ok(), Some(Listing::ById));
        assert_eq!(choose(info(open, "2.11.1")).ok(), Some(Listing::ById));
        assert_eq!(choose(info(open, "1.3.20")).ok(), Some(Listing::ById));
        let elastic = Distribution::Elasticsearch;
        assert_eq!(choose(info(elastic, "7.10.2")).ok(), Some(Listing::ById));
        let serverless = ClusterInfo {
            distribution: Distribution::OpenSearchServerless,
            version: None,
        };
        assert_eq!(choose(serverless).ok(), Some(Listing::ById));
        let refused = choose(info(elastic, "8.11.0")).expect_err("refused");
        assert!(
            refused.to_string().contains("elasticsearch 8.11.0"),
            "{refused}"
        );
    }
}
