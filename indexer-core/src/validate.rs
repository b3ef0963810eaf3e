//! Validated names and addresses. Raw strings from flags, environment or an event become these
//! newtypes at the boundary, so an invalid name never reaches a service. Each error names the
//! offending value and the rule it breaks.

use std::fmt;

use reqwest::Url;

/// A value failed validation; the message names the value and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A DynamoDB table name: 3–255 characters of `a-z A-Z 0-9 _ - .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TableName {
    type Error = Invalid;

    fn try_from(value: &str) -> Result<Self, Invalid> {
        let len = value.chars().count();
        if !(3..=255).contains(&len) {
            return Err(Invalid(format!(
                "invalid table name {value:?}: DynamoDB table names are 3 to 255 characters long (got {len})"
            )));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(Invalid(format!(
                "invalid table name {value:?}: character {bad:?} is not allowed (DynamoDB allows a-z, A-Z, 0-9, '_', '-' and '.')"
            )));
        }
        Ok(TableName(value.to_owned()))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Room kept after an alias for the `-<UTC timestamp>` suffix of its physical indexes.
const PHYSICAL_SUFFIX_LEN: usize = "-20260101t000000000z".len();

/// An OpenSearch index or alias name, by the cluster's rules: lowercase, none of
/// `\ / * ? " < > | , # :` or spaces, not starting with `_ - +`, not `.` or `..`, and short
/// enough (255 bytes) to carry the timestamp suffix of a physical index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexName(String);

impl IndexName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for IndexName {
    type Error = Invalid;

    fn try_from(value: &str) -> Result<Self, Invalid> {
        let rule = |why: &str| Invalid(format!("invalid index name {value:?}: {why}"));
        if value.is_empty() {
            return Err(rule("it is empty"));
        }
        if value == "." || value == ".." {
            return Err(rule("'.' and '..' are reserved"));
        }
        if value.starts_with(['_', '-', '+']) {
            return Err(rule("it must not start with '_', '-' or '+'"));
        }
        if value.starts_with('.') {
            return Err(rule("names starting with '.' are hidden or system indexes"));
        }
        if value.chars().any(|c| c.is_uppercase()) {
            return Err(rule("index names must be lowercase"));
        }
        if let Some(bad) = value.chars().find(|c| {
            matches!(
                c,
                '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
            ) || c.is_whitespace()
        }) {
            return Err(rule(&format!(
                "character {bad:?} is not allowed (none of \\ / * ? \" < > | , # : or whitespace)"
            )));
        }
        if value.len() + PHYSICAL_SUFFIX_LEN > 255 {
            return Err(rule(&format!(
                "it is {} bytes; at most {} leave room for the timestamp of its physical indexes",
                value.len(),
                255 - PHYSICAL_SUFFIX_LEN
            )));
        }
        Ok(IndexName(value.to_owned()))
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The base URL of the search cluster: `http(s)://host[:port]`, nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeUrl(Url);

impl NodeUrl {
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The URL of `path` (which starts with `/`) on this node.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0.as_str().trim_end_matches('/'), path)
    }
}

impl TryFrom<&str> for NodeUrl {
    type Error = Invalid;

    fn try_from(value: &str) -> Result<Self, Invalid> {
        // Errors quote the value as given, minus any credentials in it.
        let shown = redact_userinfo(value);
        let rule = |why: &str| Invalid(format!("invalid host URL \"{shown}\": {why}"));
        let url = Url::parse(value.trim()).map_err(|e| {
            rule(&format!(
                "{e} (expected e.g. https://search-x.eu-west-2.es.amazonaws.com or http://localhost:9200)"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(rule(&format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(rule("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(rule(
                "credentials must not be part of the URL, where they would show in logs and process lists; set INDEX_USERNAME and INDEX_PASSWORD, or pass --basic-auth-file",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(rule("it must not carry a query or fragment"));
        }
        if url.path() != "/" {
            return Err(rule(&format!(
                "it must not carry a path (got {:?})",
                url.path()
            )));
        }
        Ok(NodeUrl(url))
    }
}

/// `value` with whatever sits between the scheme (or the start) and the last `@` of its
/// authority replaced by `***`: a URL's user name and password never reach a message, even when
/// the URL is malformed. Control characters are escaped, so the result quotes safely.
///
/// Everything up to the *last* `@` is hidden, whatever it holds: a password may contain `/`, `?`
/// or `#`, which would otherwise end the authority early and leave it in plain sight. (An `@`
/// in a path hides the path too; such a URL is refused anyway.)
pub fn redact_userinfo(value: &str) -> String {
    let (scheme, rest) = match value.find("://") {
        Some(at) => value.split_at(at + 3),
        None => ("", value),
    };
    let shown = match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => value.to_owned(),
    };
    shown.escape_debug().to_string()
}

/// `text` (a message that may quote URLs, e.g. the argument parser's) with the user information
/// of every URL in it hidden: from each `://` to the last `@` before the next blank or quote.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, from) = rest.split_at(at + 3);
        out.push_str(before);
        let end = from
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`'))
            .unwrap_or(from.len());
        let (token, after) = from.split_at(end);
        match token.rfind('@') {
            Some(last) => {
                out.push_str("***");
                out.push_str(&token[last..]);
            }
            None => out.push_str(token),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Debug for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_dynamodb_rules() {
        assert!(TableName::try_from("Persons").is_ok());
        assert!(TableName::try_from("my.table-2_x").is_ok());
        let err = TableName::try_from("ab").expect_err("too short");
        assert!(err.0.contains("3 to 255"), "{err}");
        let err = TableName::try_from("Per sons").expect_err("space");
        assert!(
            err.0.contains("' '") && err.0.contains("\"Per sons\""),
            "{err}"
        );
    }

    #[test]
    fn index_names_follow_opensearch_rules() {
        assert!(IndexName::try_from("persons").is_ok());
        assert!(IndexName::try_from("housing-search.persons_v2").is_ok());
        for (bad, rule) in [
            ("Persons", "lowercase"),
            ("_persons", "must not start"),
            ("-persons", "must not start"),
            (".kibana", "hidden"),
            ("..", "reserved"),
            ("per sons", "not allowed"),
            ("per*", "not allowed"),
            ("a:b", "not allowed"),
            ("", "empty"),
        ] {
            let err = IndexName::try_from(bad).expect_err(bad);
            assert!(err.0.contains(rule), "{bad:?}: {err}");
        }
        let long = "a".repeat(236);
        assert!(IndexName::try_from(long.as_str()).is_err());
        assert!(IndexName::try_from(&long[..235]).is_ok());
    }

    #[test]
    fn host_urls_must_be_plain_http_or_https_origins() {
        let url = NodeUrl::try_from("http://127.0.0.1:9200").expect("valid");
        assert_eq!(url.join("/_bulk"), "http://127.0.0.1:9200/_bulk");
        assert_eq!(url.to_string(), "http://127.0.0.1:9200");
        assert!(NodeUrl::try_from("https://search-x.eu-west-2.es.amazonaws.com/").is_ok());
        for (bad, rule) in [
            ("search-x.es.amazonaws.com", "relative URL"),
            ("ftp://host", "scheme"),
            ("https://user:pw@host", "credentials"),
            ("https://host/prefix", "path"),
            ("https://host/?a=1", "query"),
            ("http://", "host"),
        ] {
            let err = NodeUrl::try_from(bad).expect_err(bad);
            assert!(err.0.contains(rule), "{bad:?}: {err}");
        }
    }

    #[test]
    fn no_host_url_error_repeats_its_credentials() {
        for bad in [
            "https://user:secret@search.example.com",
            "http://user:secret@127.0.0.1:9200/path",
            "http://secret@host",
            "http://user:secret@",
            "http://us er:secret@host",
            "user:secret@host:9200",
            "ftp://user:secret@host",
            "http://user:secret@host?x=1",
            "http://a@b:secret@host",
        ] {
            let err = NodeUrl::try_from(bad).expect_err(bad);
            assert!(!err.0.contains("secret"), "{bad:?}: {err}");
            assert!(err.0.contains("***"), "{bad:?}: {err}");
        }
        assert_eq!(
            redact_userinfo("https://u:p@host:443/x?y"),
            "https://***@host:443/x?y"
        );
        assert_eq!(redact_userinfo("https://host/a@b"), "https://***@b");
        // A password holding `/`, `?` or `#` is hidden whole, malformed URL or not.
        for url in [
            "https://admin:Zm9v/YmFy@search.example.com",
            "https://admin:1234/x@host",
            "https://u:p?q#r@host:9200",
            "http://u:p/w@h",
        ] {
            let shown = redact_userinfo(url);
            assert!(
                !shown.contains("Zm9v") && !shown.contains("1234") && !shown.contains(":p"),
                "{shown}"
            );
        }
        let message = "invalid value 'https://admin:s3/cr#t@host' for '--host <URL>': oops";
        let shown = redact_urls_in(message);
        assert_eq!(
            shown,
            "invalid value 'https://***@host' for '--host <URL>': oops"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
    }
}
