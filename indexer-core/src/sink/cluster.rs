//! What the cluster is: the answer to `GET /`, read once at the start of every command.
//!
//! A host that does not answer like OpenSearch or Elasticsearch (a plain web server, a proxy's
//! error page, a wrong port) is refused at once, before anything is written, instead of being
//! retried with its HTML in every log line. The detected distribution and version are a typed
//! value, for features that differ between them. OpenSearch Serverless has no `GET /`: a client
//! signing for `aoss` skips the request and reports the serverless distribution.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Which search engine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    OpenSearch,
    Elasticsearch,
    /// Amazon OpenSearch Serverless, which reports no version.
    OpenSearchServerless,
}

impl Distribution {
    pub fn name(self) -> &'static str {
        match self {
            Distribution::OpenSearch => "opensearch",
            Distribution::Elasticsearch => "elasticsearch",
            Distribution::OpenSearchServerless => "opensearch-serverless",
        }
    }
}

/// A `major.minor.patch` version, as the cluster reports it (a suffix such as `-SNAPSHOT` dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Reads `7.10.2`, `2.11.0-SNAPSHOT` or `8.0`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(patch) => patch.parse().ok()?,
            None => 0,
        };
        parts.next().is_none().then_some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What answered `GET /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    pub distribution: Distribution,
    /// None for OpenSearch Serverless.
    pub version: Option<Version>,
}

impl fmt::Display for ClusterInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "{} {version}", self.distribution.name()),
            None => f.write_str(self.distribution.name()),
        }
    }
}

/// Why an answer to `GET /` is not a search cluster's, in words (never the body itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotACluster(pub String);

/// Reads the answer to `GET /`: status, content type and body.
pub fn read_root(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ClusterInfo, NotACluster> {
    let kind = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or("no content type");
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let Some(root) = json.filter(Value::is_object) else {
        return Err(NotACluster(format!(
            "GET / answered {status} with {kind}, not a JSON object"
        )));
    };
    if !(200..300).contains(&status) {
        return Err(NotACluster(format!(
            "GET / answered {status} (a search cluster answers 200 with its name and version)"
        )));
    }
    let version = root.pointer("/version/number").and_then(Value::as_str);
    let Some(version) = version.and_then(Version::parse) else {
        return Err(NotACluster(
            "GET / answered JSON without a version number (`version.number`)".into(),
        ));
    };
    let named_opensearch = root
        .pointer("/version/distribution")
        .and_then(Value::as_str)
        .is_some_and(|d| d.eq_ignore_ascii_case("opensearch"))
        || root
            .get("tagline")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("OpenSearch"));
    Ok(ClusterInfo {
        distribution: if named_opensearch {
            Distribution::OpenSearch
        } else {
            Distribution::Elasticsearch
        },
        version: Some(version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSEARCH: &[u8] = br#"{"name":"n","cluster_name":"c","version":{"distribution":"opensearch","number":"2.11.1","build_type":"tar"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;
    const ELASTIC: &[u8] = br#"{"name":"n","version":{"number":"7.10.2","build_flavor":"default"},"tagline":"You Know, for Search"}"#;

    #[test]
    fn opensearch_and_elasticsearch_are_told_apart_with_their_versions() {
        let info = read_root(200, Some("application/json; charset=UTF-8"), OPENSEARCH);
        assert_eq!(
            info,
            Ok(ClusterInfo {
                distribution: Distribution::OpenSearch,
                version: Some(Version {
                    major: 2,
                    minor: 11,
                    patch: 1
                }),
            })
        );
        let info = read_root(200, Some("application/json"), ELASTIC).expect("elasticsearch");
        assert_eq!(info.distribution, Distribution::Elasticsearch);
        assert_eq!(info.to_string(), "elasticsearch 7.10.2");
    }

    #[test]
    fn a_web_page_is_not_a_cluster_and_the_reason_quotes_no_body() {
        let page = b"<html><body><h1>It works!</h1></body></html>";
        let NotACluster(reason) = read_root(200, Some("text/html"), page).expect_err("a web page");
        assert_eq!(
            reason,
            "GET / answered 200 with text/html, not a JSON object"
        );
        let NotACluster(reason) = read_root(404, None, b"").expect_err("empty 404");
        assert!(reason.contains("404") && !reason.contains('<'), "{reason}");
        let NotACluster(reason) =
            read_root(404, Some("application/json"), br#"{"error":"not found"}"#)
                .expect_err("json 404");
        assert!(reason.contains("answered 404"), "{reason}");
        let NotACluster(reason) =
            read_root(200, Some("application/json"), br#"{"ok":true}"#).expect_err("no version");
        assert!(reason.contains("version.number"), "{reason}");
    }

    #[test]
    fn versions_read_with_and_without_patch_or_suffix() {
        assert_eq!(
            Version::parse("8.0").map(|v| v.to_string()),
            Some("8.0.0".into())
        );
        assert_eq!(
            Version::parse("2.11.0-SNAPSHOT").map(|v| v.to_string()),
            Some("2.11.0".into())
        );
        assert_eq!(Version::parse("seven"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert!(Version::parse("7.10.2") < Version::parse("7.17.0"));
    }
}
