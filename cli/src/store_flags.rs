//! The store flags every command that reads or writes S3 takes, defined once here and flattened
//! into each command's arguments, so that they are spelled and behave the same everywhere:
//!
//! ```text
//! --endpoint-url URL   (alias --endpoint; env CUSTODY_S3_ENDPOINT)  an S3-compatible server
//! --path-style         (env CUSTODY_S3_PATH_STYLE)                  address buckets as URL/bucket
//! --region REGION      (default: AWS_REGION, the profile, IMDS)     the buckets' region
//! ```
//!
//! An endpoint whose host is an IP address or `localhost` is always addressed path-style: a
//! bucket cannot be a sub-domain of an IP address, so virtual-hosted addressing could only fail.
//! A malformed value is refused by clap before anything runs, with the flag named.

use clap::Args;
use custody_aws::s3::S3Options;
use custody_aws::services::{self, Settings};

/// Where the S3 API is and how to address it.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreFlags {
    /// S3 endpoint URL of an S3-compatible server, e.g. http://127.0.0.1:8333 (default: AWS's).
    #[arg(
        long = "endpoint-url",
        visible_alias = "endpoint",
        value_name = "URL",
        env = services::ENV_S3_ENDPOINT,
        value_parser = parse_endpoint
    )]
    pub endpoint_url: Option<String>,
    /// Address buckets by path (endpoint/bucket) rather than by host name (implied for an
    /// endpoint on an IP address or localhost).
    #[arg(long, env = services::ENV_S3_PATH_STYLE)]
    pub path_style: bool,
    /// The buckets' AWS region, e.g. eu-west-1 (default: AWS_REGION, the profile, IMDS).
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
}

impl StoreFlags {
    /// Path-style addressing: asked for, or implied by an endpoint on an IP address or localhost.
    pub fn path_style(&self) -> bool {
        self.path_style
            || self
                .endpoint_url
                .as_deref()
                .is_some_and(host_needs_path_style)
    }

    /// `settings` with these flags' S3 connection settings.
    pub fn apply(&self, settings: Settings) -> Settings {
        Settings {
            s3_endpoint: self.endpoint_url.clone(),
            s3_path_style: self.path_style(),
            s3_region: self.region.clone(),
            ..settings
        }
    }

    /// The S3 client options these flags describe (no bucket: each store names its own).
    pub fn s3_options(&self) -> S3Options {
        self.apply(Settings::default()).s3_options()
    }
}

/// The host of an `http(s)://host[:port][/…]` URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then_some(host)
}

fn host_needs_path_style(url: &str) -> bool {
    host_of(url).is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
    })
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    match host_of(text) {
        Some(_) => Ok(text.trim_end_matches('/').to_string()),
        None => Err(format!(
            "{text:?} is not an endpoint URL: expected http://HOST[:PORT] or https://HOST[:PORT], \
             e.g. http://127.0.0.1:8333 (--endpoint-url, also spelled --endpoint)"
        )),
    }
}

fn parse_region(text: &str) -> Result<String, String> {
    let plausible = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if plausible {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an AWS region name: expected lower-case letters, digits and \
             hyphens, e.g. eu-west-1 (--region)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(endpoint: Option<&str>, path_style: bool) -> StoreFlags {
        StoreFlags {
            endpoint_url: endpoint.map(str::to_string),
            path_style,
            region: None,
        }
    }

    #[test]
    fn an_endpoint_on_an_ip_address_or_localhost_is_addressed_by_path() {
        for url in [
            "http://127.0.0.1:8333",
            "http://localhost:9000/",
            "http://[::1]:8333",
            "https://10.0.0.5",
        ] {
            assert!(flags(Some(url), false).path_style(), "{url}");
        }
        assert!(!flags(Some("https://s3.eu-west-1.amazonaws.com"), false).path_style());
        assert!(flags(Some("https://minio.example.com"), true).path_style());
        assert!(!flags(None, false).path_style());
    }

    #[test]
    fn malformed_values_are_refused_with_the_flag_named() {
        let error = parse_endpoint("127.0.0.1:8333").unwrap_err();
        assert!(error.contains("--endpoint-url"), "{error}");
        assert!(error.contains("--endpoint"), "{error}");
        assert!(parse_endpoint("http://").is_err());
        assert_eq!(
            parse_endpoint("http://127.0.0.1:8333/").unwrap(),
            "http://127.0.0.1:8333"
        );
        let error = parse_region("EU West").unwrap_err();
        assert!(error.contains("--region"), "{error}");
        assert_eq!(parse_region("eu-west-1").unwrap(), "eu-west-1");
    }

    #[test]
    fn the_flags_reach_the_s3_options() {
        let options = StoreFlags {
            endpoint_url: Some("http://127.0.0.1:8333".into()),
            path_style: false,
            region: Some("eu-west-1".into()),
        }
        .s3_options();
        assert_eq!(options.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert!(options.force_path_style);
        assert_eq!(options.region.as_deref(), Some("eu-west-1"));
    }
}
