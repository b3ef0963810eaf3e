//! How the tool reaches the search cluster: transport rules, TLS, fixed addresses and the way
//! requests authenticate. Every flag here reads an environment variable too.
//!
//! Authentication is chosen once per run. By default it follows the host: an Amazon OpenSearch
//! Service (`*.es.amazonaws.com`) or Serverless (`*.aoss.amazonaws.com`) endpoint gets AWS SigV4
//! signing, with the service and region read from its name; any other host gets HTTP basic auth
//! when credentials are given, and nothing otherwise. Basic credentials together with signing is
//! refused as ambiguous rather than guessed.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::error::Error;
use crate::sink::client::{Auth, BasicAuth, SearchClient, TlsOptions};
use crate::sink::retry::RetryPolicy;
use crate::sink::sigv4::{AwsHost, Service, SigV4};
use crate::validate::NodeUrl;

/// How to reach the search cluster: transport rules and credentials.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    /// Allow plain `http://` to a host that is not loopback: requests, documents and
    /// credentials then travel unencrypted.
    #[arg(long, env = "ALLOW_HTTP", help_heading = "Connection and auth")]
    pub allow_http: bool,

    /// How requests authenticate; by default `sigv4` for an `*.es.amazonaws.com` or
    /// `*.aoss.amazonaws.com` host, `basic` when basic credentials are given, else `none`.
    #[arg(
        long,
        env = "INDEX_AUTH",
        value_enum,
        help_heading = "Connection and auth"
    )]
    pub auth: Option<AuthMode>,

    /// The AWS service to sign for (`es` for a managed domain, `aoss` for Serverless); by default
    /// read from the host name, else `es`.
    #[arg(
        long,
        env = "SIGV4_SERVICE",
        value_enum,
        help_heading = "Connection and auth"
    )]
    pub sigv4_service: Option<SigningService>,

    /// The AWS region to sign for; by default read from the host name, else AWS_REGION.
    #[arg(long, env = "INDEX_REGION", help_heading = "Connection and auth")]
    pub region: Option<String>,

    /// A file holding `user:password` for HTTP basic auth. Alternatively set INDEX_USERNAME and
    /// INDEX_PASSWORD; credentials are never accepted as flag values, which show in process lists.
    #[arg(long, env = "BASIC_AUTH_FILE", help_heading = "Connection and auth")]
    pub basic_auth_file: Option<PathBuf>,

    /// A PEM file of extra CA certificates to trust (a private CA), on top of the system's.
    #[arg(long, env = "CA_BUNDLE", help_heading = "Connection and auth")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify the cluster's TLS certificate. Dangerous; logged loudly on every run.
    #[arg(
        long,
        env = "INSECURE_SKIP_TLS_VERIFY",
        help_heading = "Connection and auth"
    )]
    pub insecure: bool,

    /// `HOST:PORT:ADDR`: reach the cluster's HOST:PORT at address ADDR, keeping the name for TLS
    /// and signing (like curl's `--resolve`), e.g. a VPC endpoint through a tunnel on 127.0.0.1.
    #[arg(long, env = "INDEX_RESOLVE", value_delimiter = ',', value_parser = parse_resolve, help_heading = "Connection and auth")]
    pub resolve: Vec<Resolve>,
}

/// `--auth` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// AWS Signature Version 4 with credentials from the standard AWS chain.
    Sigv4,
    /// HTTP basic auth from INDEX_USERNAME/INDEX_PASSWORD or --basic-auth-file.
    Basic,
    /// No credentials.
    None,
}

/// `--sigv4-service` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigningService {
    Es,
    Aoss,
}

impl From<SigningService> for Service {
    fn from(service: SigningService) -> Service {
        match service {
            SigningService::Es => Service::Es,
            SigningService::Aoss => Service::Aoss,
        }
    }
}

/// One `--resolve HOST:PORT:ADDR` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub addr: IpAddr,
}

fn parse_resolve(text: &str) -> Result<Resolve, String> {
    let usage = || {
        format!(
            "{text:?} is not HOST:PORT:ADDR (e.g. search-x.eu-west-2.es.amazonaws.com:443:127.0.0.1)"
        )
    };
    let mut parts = text.trim().splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(usage());
    };
    let port = port.parse().map_err(|_| usage())?;
    let addr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| usage())?;
    if host.is_empty() {
        return Err(usage());
    }
    Ok(Resolve {
        host: host.to_ascii_lowercase(),
        port,
        addr,
    })
}

/// The authentication a run settled on, before credentials are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPlan {
    None,
    Basic,
    SigV4 { service: Service, region: String },
}

/// Chooses the authentication for `host`. `has_basic` says whether basic credentials were
/// given; `env_region` is AWS_REGION (or AWS_DEFAULT_REGION), the last resort for the region.
pub fn plan_auth(
    args: &ConnectArgs,
    host: &str,
    has_basic: bool,
    env_region: Option<String>,
) -> Result<AuthPlan, Error> {
    let aws = AwsHost::parse(host);
    let mode = match args.auth {
        Some(mode) => mode,
        None if aws.is_some() || args.sigv4_service.is_some() => AuthMode::Sigv4,
        None if has_basic => AuthMode::Basic,
        None => AuthMode::None,
    };
    if mode != AuthMode::Sigv4 && args.sigv4_service.is_some() {
        return Err(Error::Input(format!(
            "--sigv4-service applies to SigV4 signing, but --auth is {}",
            mode_name(mode)
        )));
    }
    match mode {
        AuthMode::None if has_basic => Err(Error::Input(
            "basic credentials are given but --auth is none: remove them or pass --auth basic".into(),
        )),
        AuthMode::None => Ok(AuthPlan::None),
        AuthMode::Basic if has_basic => Ok(AuthPlan::Basic),
        AuthMode::Basic => Err(Error::Input(
            "--auth basic needs credentials: set INDEX_USERNAME and INDEX_PASSWORD, or pass --basic-auth-file".into(),
        )),
        AuthMode::Sigv4 if has_basic => Err(Error::Input(format!(
            "both basic credentials and SigV4 signing apply to {host}: pass --auth basic to use the basic credentials (e.g. fine-grained access control's internal users), or remove them (INDEX_USERNAME/INDEX_PASSWORD, --basic-auth-file) to sign with AWS credentials"
        ))),
        AuthMode::Sigv4 => {
            let service = args
                .sigv4_service
                .map(Service::from)
                .or(aws.as_ref().map(|aws| aws.service))
                .unwrap_or(Service::Es);
            let region = args
                .region
                .clone()
                .filter(|r| !r.trim().is_empty())
                .or(aws.and_then(|aws| aws.region))
                .or(env_region)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "no AWS region to sign requests to {host} with: pass --region (INDEX_REGION) or set AWS_REGION"
                    ))
                })?;
            Ok(AuthPlan::SigV4 { service, region })
        }
    }
}

fn mode_name(mode: AuthMode) -> &'static str {
    match mode {
        AuthMode::Sigv4 => "sigv4",
        AuthMode::Basic => "basic",
        AuthMode::None => "none",
    }
}

impl ConnectArgs {
    /// The client for `host`, after checking the transport rule and choosing how to authenticate.
    /// AWS credentials are not fetched here but on the first signed request, through the
    /// process's shared cache.
    pub fn connect(
        &self,
        host: NodeUrl,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<SearchClient, Error> {
        if host.url().scheme() == "http" && !self.allow_http && !is_loopback(host.url()) {
            return Err(Error::Input(format!(
                "refusing plain http to {host}: use https, or pass --allow-http (ALLOW_HTTP=true) to send data unencrypted"
            )));
        }
        let host_name = host.url().host_str().unwrap_or_default().to_owned();
        let basic = self.basic_auth()?;
        let env_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        let plan = plan_auth(self, &host_name, basic.is_some(), env_region)?;
        let tls = self.tls_options(&host)?;
        if self.insecure {
            tracing::warn!(host = %host, "TLS certificate verification is OFF (--insecure): the cluster's identity is not checked");
        }
        let auth = match (plan, basic) {
            (AuthPlan::SigV4 { service, region }, _) => {
                tracing::info!(
                    service = service.name(),
                    region = %region,
                    "signing requests with AWS SigV4"
                );
                Auth::SigV4(SigV4::new(region, service, crate::credentials::shared()))
            }
            (AuthPlan::Basic, Some(basic)) => Auth::Basic(basic),
            _ => Auth::None,
        };
        Ok(SearchClient::new(host, timeout, retry, &tls)?.with_auth(auth))
    }

    fn tls_options(&self, host: &NodeUrl) -> Result<TlsOptions, Error> {
        let mut tls = TlsOptions {
            insecure: self.insecure,
            ..TlsOptions::default()
        };
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Input(format!("cannot read --ca-bundle {}: {e}", path.display()))
            })?;
            tls.extra_roots = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| {
                    Error::Input(format!(
                        "--ca-bundle {} holds no PEM certificate",
                        path.display()
                    ))
                })?;
        }
        let url = host.url();
        let name = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or_default();
        for entry in &self.resolve {
            if entry.host != name || entry.port != port {
                return Err(Error::Input(format!(
                    "--resolve {}:{}:{} does not match the host {name}:{port}",
                    entry.host, entry.port, entry.addr
                )));
            }
            tracing::info!(host = %name, port, addr = %entry.addr, "reaching the cluster at a fixed address (--resolve)");
            tls.resolve
                .push((entry.host.clone(), SocketAddr::new(entry.addr, entry.port)));
        }
        Ok(tls)
    }

    fn basic_auth(&self) -> Result<Option<BasicAuth>, Error> {
        if let Some(path) = &self.basic_auth_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Input(format!(
                    "cannot read --basic-auth-file {}: {e}",
                    path.display()
                ))
            })?;
            let line = text.lines().next().unwrap_or_default().trim();
            let Some((user, password)) = line
                .split_once(':')
                .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            else {
                return Err(Error::Input(format!(
                    "--basic-auth-file {} must hold one line `user:password`",
                    path.display()
                )));
            };
            return Ok(Some(BasicAuth {
                user: user.to_owned(),
                password: password.to_owned(),
            }));
        }
        let user = std::env::var("INDEX_USERNAME")
            .ok()
            .filter(|v| !v.is_empty());
        let password = std::env::var("INDEX_PASSWORD")
            .ok()
            .filter(|v| !v.is_empty());
        match (user, password) {
            (Some(user), Some(password)) => Ok(Some(BasicAuth { user, password })),
            (None, None) => Ok(None),
            _ => Err(Error::Input(
                "set both INDEX_USERNAME and INDEX_PASSWORD, or neither".into(),
            )),
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
