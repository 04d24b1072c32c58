//! The store flags every command shares: where the S3 API is when it is not AWS's.

use clap::Args;
use custody_aws::services;

/// Where the S3 API is, when it is not AWS's (a local server, for instance).
#[derive(Args, Debug, Clone, Default)]
pub struct Endpoint {
    /// S3 endpoint URL, e.g. http://127.0.0.1:8333.
    #[arg(long, env = services::ENV_S3_ENDPOINT, global = true)]
    pub endpoint_url: Option<String>,
    /// Address buckets by path (endpoint/bucket) rather than by host name.
    #[arg(long, env = services::ENV_S3_PATH_STYLE, global = true)]
    pub path_style: bool,
}
