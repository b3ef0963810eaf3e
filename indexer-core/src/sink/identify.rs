//! Asking a host what it is (`GET /`) once, and keeping the answer on the client and its clones.

use reqwest::Method;

use super::client::{Auth, SearchClient, SinkError};
use super::cluster::{ClusterInfo, Distribution, NotACluster, read_root};
use super::sigv4::Service;

impl SearchClient {
    /// Asks the host what it is (`GET /`), without retrying: a host that is not a search
    /// cluster is [`SinkError::NotACluster`]; one that cannot be reached is a transport error.
    /// The answer is kept: [`cluster`](Self::cluster) returns it, on this client and its clones.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, SinkError> {
        if let Some(info) = self.cluster() {
            return Ok(info);
        }
        let info = if let Auth::SigV4(signer) = self.auth()
            && signer.service() == Service::Aoss
        {
            ClusterInfo {
                distribution: Distribution::OpenSearchServerless,
                version: None,
            }
        } else {
            let (status, content_type, body) =
                self.raw_with_type("GET /", Method::GET, "/").await?;
            read_root(status.as_u16(), content_type.as_deref(), &body).map_err(
                |NotACluster(reason)| SinkError::NotACluster {
                    host: self.node().to_string(),
                    reason,
                },
            )?
        };
        Ok(*self.info.get_or_init(|| info))
    }

    /// What the cluster said it is, once [`cluster_info`](Self::cluster_info) has asked (every
    /// command asks at start, see [`crate::preflight`]): for features that differ between
    /// distributions and versions.
    pub fn cluster(&self) -> Option<ClusterInfo> {
        self.info.get().copied()
    }
}
