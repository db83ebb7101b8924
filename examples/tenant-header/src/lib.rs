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
        Ok(Decision::allow()
            .header(&self.config.upstream_header, tenant)
            .into())
    }
}

fn deny(status: u16, reason: &str) -> Decision {
    Decision::deny(status)
        .header("content-type", "application/json")
        .header("x-palisade-policy", TenantHeader::NAME)
        .body(serde_json::json!({ "error": reason }).to_string())
        .into()
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

palisade::export_policy!(TenantHeader);

// Native unit tests of the policy, with the SDK's `testing` feature (a dev-dependency): the
// request goes through the same path as in Envoy.
#[cfg(test)]
mod tests {
    use palisade::testing::{self, Outcome, TestRequest};

    use super::TenantHeader;

    fn policy(config: &str) -> TenantHeader {
        testing::configure(config).unwrap()
    }

    #[test]
    fn a_known_tenant_goes_upstream_named_by_a_header_the_client_cannot_forge() {
        let policy = policy(r#"{"allowed_tenants": ["acme"]}"#);
        let request = TestRequest::get("/orders")
            .header("x-tenant-id", "acme")
            .header("x-palisade-tenant", "forged");
        let outcome = testing::run(&policy, &request);
        assert!(outcome.is_allowed(), "{outcome:?}");
        assert_eq!(outcome.upstream_header("x-palisade-tenant"), Some("acme"));
    }

    #[test]
    fn no_tenant_is_401_and_an_unknown_one_403_with_the_reason() {
        let policy = policy(r#"{"allowed_tenants": ["acme"]}"#);
        let Outcome::Denied { status, body, .. } =
            testing::run(&policy, &TestRequest::get("/orders"))
        else {
            panic!("allowed without a tenant");
        };
        assert_eq!(status, 401);
        assert_eq!(body, br#"{"error":"missing tenant header x-tenant-id"}"#);
        let outcome = testing::run(
            &policy,
            &TestRequest::get("/orders").header("x-tenant-id", "globex"),
        );
        assert!(
            matches!(outcome, Outcome::Denied { status: 403, .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_header_value_that_would_inject_a_header_upstream_is_refused() {
        let policy = policy("{}");
        let outcome = testing::run(
            &policy,
            &TestRequest::get("/").header("x-tenant-id", "acme\r\nx-admin: true"),
        );
        assert!(!outcome.is_allowed(), "{outcome:?}");
    }

    #[test]
    fn a_configuration_error_names_the_field() {
        let err =
            testing::configure::<TenantHeader>(r#"{"tenant_header": "X Tenant"}"#).unwrap_err();
        assert!(err.to_string().contains("tenant_header"), "{err}");
    }
}
