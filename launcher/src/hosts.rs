//! The search hosts an event may name: anyone who may invoke the launcher could otherwise point
//! a worker — and the whole table, personal data included — at any host. Terraform sets
//! `ALLOWED_HOSTS` to the environment's domain; an event's `indexNodeHost` must name one of
//! those hosts exactly (case-insensitive), over https unless the host is loopback. With exactly
//! one allowed host an event may leave `indexNodeHost` out and gets that host.

use std::fmt;
use std::net::IpAddr;

use indexer_core::validate::NodeUrl;

use crate::invalid::{InvalidEvent, field};

/// The allowed host names, lowercase, in the order configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// Reads `ALLOWED_HOSTS`: comma-separated host names (or IP addresses), no scheme, port or
    /// path. Blanks are dropped; an empty list is refused, since it would refuse every event.
    pub fn parse(text: &str) -> Result<AllowedHosts, String> {
        let mut hosts = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = entry.to_ascii_lowercase();
            let plain = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !plain || host.starts_with(['.', '-']) {
                return Err(format!(
                    "ALLOWED_HOSTS entry {entry:?} is not a host name (give names such as search-x.eu-west-2.es.amazonaws.com, without scheme, port or path)"
                ));
            }
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        if hosts.is_empty() {
            return Err("ALLOWED_HOSTS names no host; it lists the search hosts events may name (terraform sets the environment's domain)".into());
        }
        Ok(AllowedHosts(hosts))
    }

    pub fn hosts(&self) -> &[String] {
        &self.0
    }

    /// The cluster URL for an event's `indexNodeHost` (`None` when the event has none), or why
    /// it is refused.
    pub fn check(&self, given: Option<&str>) -> Result<NodeUrl, InvalidEvent> {
        let Some(text) = given else {
            return match self.0.as_slice() {
                [only] => NodeUrl::try_from(format!("https://{only}").as_str())
                    .map_err(|e| field("indexNodeHost", e)),
                _ => Err(field(
                    "indexNodeHost",
                    format!("missing; this launcher allows several hosts ({self}), so name one"),
                )),
            };
        };
        let url = NodeUrl::try_from(text).map_err(|e| field("indexNodeHost", e))?;
        let host = url
            .url()
            .host_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.0.contains(&host) {
            return Err(field(
                "indexNodeHost",
                format!("host {host:?} is not allowed; this launcher may send data only to {self}"),
            ));
        }
        if url.url().scheme() != "https" && !is_loopback(&host) {
            return Err(field(
                "indexNodeHost",
                format!(
                    "{text:?} must use https: only a loopback host may be reached over plain http"
                ),
            ));
        }
        Ok(url)
    }
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = "search-x.eu-west-2.es.amazonaws.com";

    fn one() -> AllowedHosts {
        AllowedHosts::parse(DOMAIN).expect("valid")
    }

    #[test]
    fn an_allowed_host_passes_whatever_its_case() {
        let url = one()
            .check(Some("https://Search-X.EU-West-2.es.amazonaws.com"))
            .expect("allowed");
        assert_eq!(url.url().host_str(), Some(DOMAIN));
        let hosts = AllowedHosts::parse(&DOMAIN.to_uppercase()).expect("valid");
        hosts
            .check(Some(&format!("https://{DOMAIN}")))
            .expect("allowed");
    }

    #[test]
    fn another_host_is_refused_naming_it_and_the_allowed_ones() {
        let message = one()
            .check(Some("https://collector.example.com"))
            .expect_err("refused")
            .0;
        assert!(
            message.contains("field `indexNodeHost`")
                && message.contains("\"collector.example.com\" is not allowed")
                && message.contains(DOMAIN),
            "{message}"
        );
        let message = one()
            .check(Some(&format!("https://{DOMAIN}.example.com")))
            .expect_err("a suffix is another host")
            .0;
        assert!(message.contains("is not allowed"), "{message}");
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        let message = one()
            .check(Some(&format!("http://{DOMAIN}")))
            .expect_err("http")
            .0;
        assert!(message.contains("must use https"), "{message}");
        let local = AllowedHosts::parse("127.0.0.1, localhost").expect("valid");
        local
            .check(Some("http://127.0.0.1:9200"))
            .expect("loopback");
        local
            .check(Some("http://localhost:9200"))
            .expect("loopback");
    }

    #[test]
    fn the_only_allowed_host_is_the_default() {
        let url = one().check(None).expect("default");
        assert_eq!(url.to_string(), format!("https://{DOMAIN}"));
        let two = AllowedHosts::parse(&format!("{DOMAIN},other.example.com")).expect("valid");
        let message = two.check(None).expect_err("ambiguous").0;
        assert!(
            message.contains("field `indexNodeHost`")
                && message.contains("missing")
                && message.contains("other.example.com"),
            "{message}"
        );
    }

    #[test]
    fn the_configured_list_must_hold_plain_host_names() {
        for bad in [
            "",
            " , ",
            "https://x.example.com",
            "x.example.com:443",
            "x/y",
        ] {
            assert!(AllowedHosts::parse(bad).is_err(), "{bad:?}");
        }
        let hosts =
            AllowedHosts::parse(" A.example.com,a.example.com , b.example.com").expect("ok");
        assert_eq!(hosts.hosts(), ["a.example.com", "b.example.com"]);
    }
}
