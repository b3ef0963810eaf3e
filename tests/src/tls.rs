//! A TLS front for tests: a locally generated CA signs a certificate for `localhost`, and a
//! listener terminates TLS and relays the bytes to a plain upstream (osmem or the fault proxy).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority and a server certificate it signed.
pub struct TestPki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl TestPki {
    /// A fresh CA and a server certificate for `localhost` and 127.0.0.1.
    pub fn generate() -> anyhow::Result<TestPki> {
        TestPki::generate_for(&["localhost", "127.0.0.1"])
    }

    /// A fresh CA and a server certificate for these names (DNS names or IP addresses).
    pub fn generate_for(names: &[&str]) -> anyhow::Result<TestPki> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate()?;
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let server_params = CertificateParams::new(names)?;
        let server_cert = server_params.signed_by(&server_key, &issuer)?;
        Ok(TestPki {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().clone(),
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        })
    }

    /// An acceptor serving the server certificate.
    pub fn acceptor(&self) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_cert.clone()],
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// A running TLS front; stops when dropped.
pub struct TlsFront {
    /// `https://localhost:<port>`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Serves TLS with `pki`'s server certificate and relays to `upstream` (`host:port`).
    pub async fn start(pki: &TestPki, upstream: &str) -> anyhow::Result<TlsFront> {
        let acceptor = pki.acceptor()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://localhost:{}", listener.local_addr()?.port());
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                relays.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
                while relays.try_join_next().is_some() {}
            }
        });
        Ok(TlsFront { url, task })
    }
}
