//! AWS credentials, fetched once and kept until they near their expiry.
//!
//! The standard chain (environment, profile, web identity, the ECS container endpoint on
//! Fargate, instance metadata) is slow to ask and, behind ECS or IMDS, rate-limited; a client
//! that asks it per request (as the `opensearch` crate does when it signs) turns a rebuild's
//! thousands of bulk requests into as many credential fetches. [`CredentialCache`] asks once,
//! hands out the cached credentials, and refreshes them only when they are within
//! [`REFRESH_MARGIN`] of their expiry. The refresh is single-flight: the cache is behind an async
//! mutex held across the fetch, so concurrent requests that find the credentials stale wait for
//! one fetch instead of each starting their own.
//!
//! One cache serves the whole process: the request signer and the DynamoDB clients share it (see
//! [`shared`]), so a rebuild fetches credentials once. A refresh that fails while the cached
//! credentials are still valid keeps them and warns; a fetch that fails with nothing usable is an
//! error for the caller, which does not retry it.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};

/// Credentials this close to their expiry are refreshed before use.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The least time between two fetches: credentials that arrive already inside the margin are
/// used until this has passed (or they expire) rather than re-fetched for every request.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("cannot obtain AWS credentials: {reason}")]
pub struct CredentialError {
    /// The provider chain's explanation, cause chain included. Never holds a secret.
    pub reason: String,
}

/// Where fresh credentials come from.
enum Source {
    /// The standard chain, loaded on first use (loading it reads files and the environment).
    DefaultChain,
    Provider(SharedCredentialsProvider),
}

struct State {
    source: Source,
    current: Option<Credentials>,
    fetched_at: Option<SystemTime>,
    fetches: u64,
}

/// A single-flight cache in front of a credentials provider. `Debug` shows no secret.
pub struct CredentialCache {
    state: tokio::sync::Mutex<State>,
    margin: Duration,
    clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

/// The process's cache over the standard chain, shared by the signer and the DynamoDB clients.
pub fn shared() -> Arc<CredentialCache> {
    static SHARED: OnceLock<Arc<CredentialCache>> = OnceLock::new();
    Arc::clone(SHARED.get_or_init(|| Arc::new(CredentialCache::default_chain())))
}

impl CredentialCache {
    /// A cache over the standard AWS credentials chain, loaded lazily.
    pub fn default_chain() -> CredentialCache {
        CredentialCache::new(Source::DefaultChain, Box::new(SystemTime::now))
    }

    /// A cache over `provider`, reading the time from `clock` (tests move it).
    pub fn with_provider(
        provider: SharedCredentialsProvider,
        clock: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> CredentialCache {
        CredentialCache::new(Source::Provider(provider), Box::new(clock))
    }

    fn new(source: Source, clock: Box<dyn Fn() -> SystemTime + Send + Sync>) -> CredentialCache {
        CredentialCache {
            state: tokio::sync::Mutex::new(State {
                source,
                current: None,
                fetched_at: None,
                fetches: 0,
            }),
            margin: REFRESH_MARGIN,
            clock,
        }
    }

    /// How many times the provider has been asked.
    pub async fn fetches(&self) -> u64 {
        self.state.lock().await.fetches
    }

    /// Usable credentials: the cached ones, or freshly fetched when they near their expiry.
    pub async fn get(&self) -> Result<Credentials, CredentialError> {
        let mut state = self.state.lock().await;
        let now = (self.clock)();
        if let Some(current) = &state.current
            && !self.needs_refresh(current, state.fetched_at, now)
        {
            return Ok(current.clone());
        }
        let fetched = fetch(&mut state).await;
        state.fetches += 1;
        match fetched {
            Ok(fresh) => {
                if let Some(expiry) = fresh.expiry() {
                    let left = expiry.duration_since(now).unwrap_or_default();
                    tracing::debug!(expires_in_secs = left.as_secs(), "fetched AWS credentials");
                }
                state.current = Some(fresh.clone());
                state.fetched_at = Some(now);
                Ok(fresh)
            }
            Err(error) => match state.current.clone() {
                Some(current) if !is_expired(&current, now) => {
                    tracing::warn!(error = %error, "refreshing AWS credentials failed; using the current ones until they expire");
                    state.fetched_at = Some(now);
                    Ok(current)
                }
                _ => Err(error),
            },
        }
    }

    fn needs_refresh(
        &self,
        current: &Credentials,
        fetched_at: Option<SystemTime>,
        now: SystemTime,
    ) -> bool {
        let Some(expiry) = current.expiry() else {
            return false;
        };
        if is_expired(current, now) {
            return true;
        }
        let near_expiry = now + self.margin >= expiry;
        let fetched_recently = fetched_at
            .and_then(|at| now.duration_since(at).ok())
            .is_some_and(|since| since < MIN_REFETCH_INTERVAL);
        near_expiry && !fetched_recently
    }
}

fn is_expired(credentials: &Credentials, now: SystemTime) -> bool {
    credentials.expiry().is_some_and(|expiry| now >= expiry)
}

async fn fetch(state: &mut State) -> Result<Credentials, CredentialError> {
    if matches!(state.source, Source::DefaultChain) {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| CredentialError {
                reason: "no credentials provider is configured".into(),
            })?;
        state.source = Source::Provider(provider);
    }
    let Source::Provider(provider) = &state.source else {
        return Err(CredentialError {
            reason: "no credentials provider is configured".into(),
        });
    };
    provider.provide_credentials().await.map_err(|error| {
        let reason = crate::logging::cause_chain(&error);
        let generic = "an error occurred while loading credentials: ";
        CredentialError {
            reason: plain_status(reason.strip_prefix(generic).unwrap_or(&reason)),
        }
    })
}

/// The SDK's debug spelling of an HTTP status (`StatusCode(500)`) as a person reads it.
fn plain_status(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("StatusCode(") {
        let after = &rest[at + "StatusCode(".len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        out.push_str(&rest[..at]);
        if !digits.is_empty() && after[digits.len()..].starts_with(')') {
            out.push_str(&format!("HTTP {digits}"));
            rest = &after[digits.len() + 1..];
        } else {
            out.push_str("StatusCode(");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The cache is itself a provider, so the AWS SDK clients can draw from it.
impl ProvideCredentials for CredentialCache {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.get().await.map_err(CredentialsError::provider_error)
        })
    }
}

/// Lets the shared cache be handed to the AWS SDK's configuration.
pub fn as_provider(cache: Arc<CredentialCache>) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(ArcProvider(cache))
}

#[derive(Debug)]
struct ArcProvider(Arc<CredentialCache>);

impl ProvideCredentials for ArcProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

#[cfg(test)]
mod plain_status_tests {
    #[test]
    fn an_http_status_reads_as_one() {
        assert_eq!(
            super::plain_status("the endpoint answered StatusCode(500): no"),
            "the endpoint answered HTTP 500: no"
        );
        assert_eq!(super::plain_status("StatusCode(x)"), "StatusCode(x)");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A provider that counts its calls and hands out credentials valid for an hour from the
    /// test clock's time.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU64>,
        now: Arc<Mutex<SystemTime>>,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let now = *self.now.lock().expect("clock");
            let fail = self.fail;
            future::ProvideCredentials::new(async move {
                tokio::task::yield_now().await;
                if fail {
                    return Err(CredentialsError::provider_error("endpoint said no"));
                }
                Ok(Credentials::new(
                    format!("AKIDTEST{n}"),
                    "secret",
                    Some("token".into()),
                    Some(now + Duration::from_secs(3600)),
                    "test",
                ))
            })
        }
    }

    struct Fixture {
        cache: Arc<CredentialCache>,
        calls: Arc<AtomicU64>,
        now: Arc<Mutex<SystemTime>>,
    }

    fn fixture(fail: bool) -> Fixture {
        let calls = Arc::new(AtomicU64::new(0));
        let now = Arc::new(Mutex::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let provider = Counting {
            calls: Arc::clone(&calls),
            now: Arc::clone(&now),
            fail,
        };
        let clock = Arc::clone(&now);
        let cache =
            CredentialCache::with_provider(SharedCredentialsProvider::new(provider), move || {
                *clock.lock().expect("clock")
            });
        Fixture {
            cache: Arc::new(cache),
            calls,
            now,
        }
    }

    impl Fixture {
        fn advance(&self, by: Duration) {
            *self.now.lock().expect("clock") += by;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_requests_fetch_credentials_once() {
        let f = fixture(false);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let cache = Arc::clone(&f.cache);
            tasks.spawn(async move { cache.get().await.map(|c| c.access_key_id().to_owned()) });
        }
        let keys: Vec<String> = tasks
            .join_all()
            .await
            .into_iter()
            .map(|r| r.expect("credentials"))
            .collect();
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        assert!(keys.iter().all(|k| k == "AKIDTEST1"), "{keys:?}");
    }

    #[tokio::test]
    async fn credentials_are_refreshed_only_within_the_margin_of_their_expiry() {
        let f = fixture(false);
        assert_eq!(
            f.cache.get().await.expect("first").access_key_id(),
            "AKIDTEST1"
        );
        // 54 minutes in: 6 minutes left, outside the 5-minute margin.
        f.advance(Duration::from_secs(54 * 60));
        assert_eq!(
            f.cache.get().await.expect("cached").access_key_id(),
            "AKIDTEST1"
        );
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
        // 56 minutes in: 4 minutes left, inside the margin.
        f.advance(Duration::from_secs(2 * 60));
        assert_eq!(
            f.cache.get().await.expect("refreshed").access_key_id(),
            "AKIDTEST2"
        );
        assert_eq!(
            f.cache.get().await.expect("cached again").access_key_id(),
            "AKIDTEST2"
        );
        assert_eq!(f.calls.load(Ordering::SeqCst), 2);
        assert_eq!(f.cache.fetches().await, 2);
    }

    #[tokio::test]
    async fn credentials_that_arrive_inside_the_margin_are_not_fetched_per_request() {
        let calls = Arc::new(AtomicU64::new(0));
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = Arc::new(Mutex::new(start));
        #[derive(Debug)]
        struct ShortLived(Arc<AtomicU64>, Arc<Mutex<SystemTime>>);
        impl ProvideCredentials for ShortLived {
            fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                self.0.fetch_add(1, Ordering::SeqCst);
                let now = *self.1.lock().expect("clock");
                future::ProvideCredentials::ready(Ok(Credentials::new(
                    "AKID",
                    "secret",
                    None,
                    Some(now + Duration::from_secs(120)),
                    "test",
                )))
            }
        }
        let clock = Arc::clone(&now);
        let cache = CredentialCache::with_provider(
            SharedCredentialsProvider::new(ShortLived(Arc::clone(&calls), Arc::clone(&now))),
            move || *clock.lock().expect("clock"),
        );
        for _ in 0..10 {
            cache.get().await.expect("credentials");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        *now.lock().expect("clock") += MIN_REFETCH_INTERVAL;
        cache.get().await.expect("credentials");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_first_fetch_is_an_error_that_names_the_cause() {
        let f = fixture(true);
        let error = f.cache.get().await.expect_err("no credentials");
        assert!(error.to_string().contains("endpoint said no"), "{error}");
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_cache_debug_output_holds_no_secret() {
        let f = fixture(false);
        let text = format!("{:?}", f.cache);
        assert!(text.starts_with("CredentialCache"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
