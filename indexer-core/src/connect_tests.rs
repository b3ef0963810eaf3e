//! The transport rule, the choice of authentication, basic credentials kept out of logs, and
//! `--resolve` entries.

use super::*;

#[test]
fn only_loopback_hosts_may_use_plain_http_unless_allowed() {
    let url = |s: &str| reqwest::Url::parse(s).expect("url");
    assert!(is_loopback(&url("http://127.0.0.1:9200")));
    assert!(is_loopback(&url("http://localhost:9200")));
    assert!(is_loopback(&url("http://[::1]:9200")));
    assert!(!is_loopback(&url("http://search.example.com:9200")));
    assert!(!is_loopback(&url("http://10.0.0.5:9200")));
    let refuse = ConnectArgs::default()
        .connect(
            NodeUrl::try_from("http://search.example.com").expect("url"),
            Duration::from_secs(1),
            RetryPolicy::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refuse.contains("--allow-http"), "{refuse}");
    let allowed = ConnectArgs {
        allow_http: true,
        ..ConnectArgs::default()
    };
    assert!(
        allowed
            .connect(
                NodeUrl::try_from("http://search.example.com").expect("url"),
                Duration::from_secs(1),
                RetryPolicy::default()
            )
            .is_ok()
    );
}

#[test]
fn basic_auth_is_redacted_in_debug_output() {
    let auth = BasicAuth {
        user: "indexer".into(),
        password: "s3cr3t".into(),
    };
    assert_eq!(format!("{auth:?}"), "BasicAuth(indexer, <redacted>)");
}

const ES: &str = "search-x-abc.eu-west-2.es.amazonaws.com";
const AOSS: &str = "abc123.us-east-1.aoss.amazonaws.com";

fn plan(args: &ConnectArgs, host: &str, basic: bool) -> Result<AuthPlan, String> {
    plan_auth(args, host, basic, None).map_err(|e| e.to_string())
}

#[test]
fn aws_hosts_are_signed_for_the_service_and_region_in_their_name() {
    let none = ConnectArgs::default();
    assert_eq!(
        plan(&none, ES, false),
        Ok(AuthPlan::SigV4 {
            service: Service::Es,
            region: "eu-west-2".into()
        })
    );
    assert_eq!(
        plan(&none, AOSS, false),
        Ok(AuthPlan::SigV4 {
            service: Service::Aoss,
            region: "us-east-1".into()
        })
    );
    assert_eq!(plan(&none, "localhost", false), Ok(AuthPlan::None));
    assert_eq!(plan(&none, "localhost", true), Ok(AuthPlan::Basic));
}

#[test]
fn flags_override_the_service_and_region_and_aws_region_is_the_last_resort() {
    let args = ConnectArgs {
        sigv4_service: Some(SigningService::Aoss),
        region: Some("ap-south-1".into()),
        ..ConnectArgs::default()
    };
    assert_eq!(
        plan(&args, ES, false),
        Ok(AuthPlan::SigV4 {
            service: Service::Aoss,
            region: "ap-south-1".into()
        })
    );
    let custom = ConnectArgs {
        auth: Some(AuthMode::Sigv4),
        ..ConnectArgs::default()
    };
    assert_eq!(
        plan_auth(
            &custom,
            "search.example.com",
            false,
            Some("eu-west-1".into())
        )
        .ok(),
        Some(AuthPlan::SigV4 {
            service: Service::Es,
            region: "eu-west-1".into()
        })
    );
    // The host's region wins over the worker's own AWS_REGION.
    assert_eq!(
        plan_auth(&ConnectArgs::default(), ES, false, Some("us-east-1".into())).ok(),
        Some(AuthPlan::SigV4 {
            service: Service::Es,
            region: "eu-west-2".into()
        })
    );
}

#[test]
fn signing_without_a_region_is_bad_input() {
    let args = ConnectArgs {
        auth: Some(AuthMode::Sigv4),
        ..ConnectArgs::default()
    };
    let error = plan_auth(&args, "search.example.com", false, None).expect_err("no region");
    assert_eq!(error.exit_code(), 2);
    assert!(error.to_string().contains("--region"), "{error}");
}

#[test]
fn basic_credentials_and_signing_together_are_refused() {
    let error = plan(&ConnectArgs::default(), ES, true).expect_err("ambiguous");
    assert!(
        error.contains("both basic credentials and SigV4"),
        "{error}"
    );
    let explicit = ConnectArgs {
        auth: Some(AuthMode::Sigv4),
        ..ConnectArgs::default()
    };
    assert!(plan(&explicit, "localhost", true).is_err());
    let basic = ConnectArgs {
        auth: Some(AuthMode::Basic),
        ..ConnectArgs::default()
    };
    assert_eq!(plan(&basic, ES, true), Ok(AuthPlan::Basic));
    assert!(
        plan(&basic, ES, false)
            .expect_err("no creds")
            .contains("INDEX_USERNAME")
    );
    let none = ConnectArgs {
        auth: Some(AuthMode::None),
        ..ConnectArgs::default()
    };
    assert_eq!(plan(&none, ES, false), Ok(AuthPlan::None));
    assert!(plan(&none, ES, true).is_err());
    let service_without_signing = ConnectArgs {
        auth: Some(AuthMode::Basic),
        sigv4_service: Some(SigningService::Es),
        ..ConnectArgs::default()
    };
    assert!(plan(&service_without_signing, "localhost", true).is_err());
}

#[test]
fn resolve_entries_parse_like_curl() {
    assert_eq!(
        parse_resolve("Search-X.eu-west-2.es.amazonaws.com:443:127.0.0.1"),
        Ok(Resolve {
            host: "search-x.eu-west-2.es.amazonaws.com".into(),
            port: 443,
            addr: "127.0.0.1".parse().expect("ip"),
        })
    );
    assert_eq!(
        parse_resolve("h:9200:[::1]").map(|r| r.addr),
        Ok("::1".parse().expect("ip"))
    );
    for bad in [
        "h:443",
        "h:x:127.0.0.1",
        ":443:127.0.0.1",
        "h:443:not-an-ip",
    ] {
        assert!(parse_resolve(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_resolve_entry_for_another_host_is_refused() {
    let args = ConnectArgs {
        resolve: vec![parse_resolve("other.example.com:443:127.0.0.1").expect("entry")],
        ..ConnectArgs::default()
    };
    let error = args
        .connect(
            NodeUrl::try_from("https://search.example.com").expect("url"),
            Duration::from_secs(1),
            RetryPolicy::default(),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("does not match the host search.example.com:443"),
        "{error}"
    );
}
