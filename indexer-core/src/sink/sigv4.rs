//! AWS Signature Version 4 for Amazon OpenSearch Service (`es`) and OpenSearch Serverless
//! (`aoss`).
//!
//! Each request is signed just before it is sent, over its final body, with a fresh date: a
//! retried request is signed again. The payload hash goes in `x-amz-content-sha256` (Serverless
//! requires it) and the session token of temporary credentials in `x-amz-security-token`.
//! Credentials come from the [`CredentialCache`], never from the chain per request. Nothing here
//! logs a header; `Debug` shows the region and service only.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

use crate::credentials::{CredentialCache, CredentialError};

/// The AWS service name a cluster signs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon OpenSearch Service (managed domains).
    Es,
    /// Amazon OpenSearch Serverless (collections).
    Aoss,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Es => "es",
            Service::Aoss => "aoss",
        }
    }
}

/// What an AWS endpoint's host name says: `search-x-abc.eu-west-2.es.amazonaws.com` is an `es`
/// domain in `eu-west-2`, `abc123.eu-west-2.aoss.amazonaws.com` an `aoss` collection there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsHost {
    pub service: Service,
    pub region: Option<String>,
}

impl AwsHost {
    /// `None` for a host that is not an AWS OpenSearch endpoint.
    pub fn parse(host: &str) -> Option<AwsHost> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let (rest, service) = [
            (".es.amazonaws.com", Service::Es),
            (".aoss.amazonaws.com", Service::Aoss),
        ]
        .into_iter()
        .find_map(|(suffix, service)| {
            host.strip_suffix(suffix)
                .map(|rest| (rest.to_owned(), service))
        })?;
        let region = rest
            .rsplit('.')
            .next()
            .filter(|label| looks_like_region(label))
            .map(str::to_owned);
        Some(AwsHost { service, region })
    }
}

/// `eu-west-2`, `us-gov-west-1`, `ap-southeast-3`: letters, dash-separated, ending in a number.
fn looks_like_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// A request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// Signs requests for one region and service.
#[derive(Clone)]
pub struct SigV4 {
    region: String,
    service: Service,
    credentials: Arc<CredentialCache>,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .field("service", &self.service.name())
            .finish_non_exhaustive()
    }
}

impl SigV4 {
    pub fn new(region: String, service: Service, credentials: Arc<CredentialCache>) -> SigV4 {
        SigV4 {
            region,
            service,
            credentials,
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// The headers to add to a request so that it is signed: `authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, with temporary credentials, `x-amz-security-token`.
    /// `headers` are the request's own headers to cover (`host`, `content-type`).
    pub async fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SigningError> {
        let credentials = self.credentials.get().await?;
        self.sign_with(credentials, SystemTime::now(), method, url, headers, body)
    }

    fn sign_with(
        &self,
        credentials: aws_credential_types::Credentials,
        time: SystemTime,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, SigningError> {
        let failed = |e: &dyn std::error::Error| SigningError::Sign(crate::logging::cause_chain(e));
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service.name())
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) =
            sign(request, &params).map_err(|e| failed(&e))?.into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    use super::*;

    #[test]
    fn aws_host_names_give_the_service_and_region() {
        let es = AwsHost::parse("search-x-abc123.eu-west-2.es.amazonaws.com").expect("es");
        assert_eq!(es.service, Service::Es);
        assert_eq!(es.region.as_deref(), Some("eu-west-2"));
        let vpc = AwsHost::parse("vpc-persons-q7x.us-gov-west-1.es.amazonaws.com").expect("vpc");
        assert_eq!(vpc.region.as_deref(), Some("us-gov-west-1"));
        let aoss = AwsHost::parse("abc123.eu-west-2.aoss.amazonaws.com").expect("aoss");
        assert_eq!(aoss.service, Service::Aoss);
        assert_eq!(aoss.region.as_deref(), Some("eu-west-2"));
        let no_region = AwsHost::parse("custom.es.amazonaws.com").expect("aws");
        assert_eq!(no_region.region, None);
        assert_eq!(AwsHost::parse("search.example.com"), None);
        assert_eq!(AwsHost::parse("es.amazonaws.com.evil.example"), None);
        assert_eq!(AwsHost::parse("localhost"), None);
    }

    fn signer(token: Option<&str>) -> SigV4 {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI",
            token.map(str::to_owned),
            None,
            "test",
        );
        let cache = CredentialCache::with_provider(
            SharedCredentialsProvider::new(credentials),
            SystemTime::now,
        );
        SigV4::new("eu-west-2".into(), Service::Es, Arc::new(cache))
    }

    #[tokio::test]
    async fn a_signed_request_carries_the_payload_hash_date_token_and_authorization() {
        let headers = signer(Some("SESSIONTOKEN"))
            .sign(
                "POST",
                "https://search-x.eu-west-2.es.amazonaws.com/_bulk",
                &[
                    ("host", "search-x.eu-west-2.es.amazonaws.com"),
                    ("content-type", "application/x-ndjson"),
                ],
                b"{}\n",
            )
            .await
            .expect("signed");
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let authorization = get("authorization");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/eu-west-2/es/aws4_request"),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
            "{authorization}"
        );
        // sha256("{}\n")
        assert_eq!(
            get("x-amz-content-sha256"),
            "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"
        );
        assert_eq!(get("x-amz-security-token"), "SESSIONTOKEN");
        assert_eq!(get("x-amz-date").len(), "20261122T080000Z".len());
    }

    #[test]
    fn signing_again_later_gives_a_new_date_and_signature() {
        let signer = signer(None);
        let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI", None, None, "test");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let sign = |time| {
            signer
                .sign_with(
                    credentials.clone(),
                    time,
                    "GET",
                    "https://h.eu-west-2.es.amazonaws.com/_count",
                    &[("host", "h.eu-west-2.es.amazonaws.com")],
                    b"",
                )
                .expect("signed")
        };
        let first = sign(at);
        let again = sign(at);
        let later = sign(at + Duration::from_secs(1));
        assert_eq!(first, again, "signing is deterministic for one instant");
        assert_ne!(first, later);
        assert!(!first.iter().any(|(n, _)| n == "x-amz-security-token"));
    }

    #[test]
    fn the_signer_debug_output_holds_no_secret() {
        let text = format!("{:?}", signer(Some("SESSIONTOKEN")));
        assert!(text.contains("eu-west-2") && text.contains("es"), "{text}");
        assert!(
            !text.contains("wJalrXUtnFEMI") && !text.contains("SESSIONTOKEN"),
            "{text}"
        );
    }
}
