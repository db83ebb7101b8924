//! Example policy: every request must name a known tenant in a header; allowed requests reach
//! the upstream with a header naming the tenant, which the client cannot forge.
//!
//! Build: `cargo build --release --target wasm32-wasip1 -p tenant-header`
//! (see this crate's README for running it in Envoy).

use palisade::{ConfigError, Decision, Policy, PolicyError, Request};
use serde::Deserialize;

/// Plugin configuration (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The request header naming the tenant.
    #[serde(default = "default_tenant_header")]
    pub tenant_header: String,
    /// Tenants that may pass; empty means any tenant that names itself.
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
    /// The header that carries the checked tenant upstream.
    #[serde(default = "default_upstream_header")]
    pub upstream_header: String,
}

fn default_tenant_header() -> String {
    "x-tenant-id".into()
}

fn default_upstream_header() -> String {
    "x-palisade-tenant".into()
}

/// The policy, built once per VM from [`Config`].
#[derive(Debug)]
pub struct TenantHeader {
    config: Config,
}

impl Policy for TenantHeader {
    type Config = Config;
    const NAME: &'static str = "tenant_header";

    fn from_config(config: Config) -> Result<Self, ConfigError> {
        for (field, name) in [
            ("tenant_header", &config.tenant_header),
            ("upstream_header", &config.upstream_header),
        ] {
            if !is_header_name(name) {
                return Err(ConfigError::field(
                    field,
                    format!("expected a lower-case HTTP header name, got {name:?}"),
                ));
            }
        }
        Ok(Self { config })
    }

    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
        let header = &self.config.tenant_header;
        let Some(tenant) = request.header(header).filter(|t| !t.is_empty()) else {
            return Ok(deny(401, &format!("missing tenant header {header}")));
        };
        let allowed = &self.config.allowed_tenants;
        if !allowed.is_empty() && !allowed.iter().any(|t| t == tenant) {
            return Ok(deny(403, &format!("unknown tenant {tenant}")));
        }
        Ok(Decision::allow().header(&self.config.upstream_header, tenant))
    }
}

fn deny(status: u16, reason: &str) -> Decision {
    Decision::deny(status)
        .header("content-type", "application/json")
        .header("x-palisade-policy", TenantHeader::NAME)
        .body(serde_json::json!({ "error": reason }).to_string())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

palisade::export_policy!(TenantHeader);
