//! {{NAME}}: every request must carry a known API key; the upstream learns which client sent
//! it, never the key.

use std::collections::BTreeMap;

use palisade::{ConfigError, Decision, Policy, PolicyError, Request};
use serde::Deserialize;

/// The plugin configuration (JSON, from the Envoy bootstrap or the WasmPlugin's pluginConfig).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The request header that carries the key.
    #[serde(default = "default_header")]
    pub header: String,
    /// Each key and the client it belongs to.
    pub keys: BTreeMap<String, String>,
}

fn default_header() -> String {
    "x-api-key".into()
}

/// The policy, built once per VM from its [`Config`].
#[derive(Debug)]
pub struct ApiKey {
    config: Config,
}

impl Policy for ApiKey {
    type Config = Config;
    const NAME: &'static str = "{{CRATE}}";

    fn from_config(config: Config) -> Result<Self, ConfigError> {
        if config.keys.is_empty() {
            return Err(ConfigError::field("keys", "expected at least one key"));
        }
        Ok(Self { config })
    }

    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
        let key = request.header(&self.config.header).unwrap_or_default();
        Ok(match self.config.keys.get(key) {
            Some(client) => Decision::allow()
                .header("x-client", client.as_str())
                .remove_header(self.config.header.as_str())
                .into(),
            None => Decision::deny(401)
                .header("www-authenticate", "ApiKey")
                .body("a known API key is required\n")
                .into(),
        })
    }
}

palisade::export_policy!(ApiKey);

// The policy's unit tests, natively, through the same request path as in Envoy.
#[cfg(test)]
mod tests {
    use palisade::testing::{self, Outcome, TestRequest};

    use super::ApiKey;

    const CONFIG: &str = r#"{"keys": {"k-123": "alice"}}"#;

    #[test]
    fn a_known_key_goes_upstream_as_its_client_without_the_key() {
        let policy: ApiKey = testing::configure(CONFIG).unwrap();
        let outcome = testing::run(&policy, &TestRequest::get("/").header("x-api-key", "k-123"));
        assert_eq!(outcome.upstream_header("x-client"), Some("alice"));
        assert_eq!(outcome.upstream_header("x-api-key"), None);
    }

    #[test]
    fn anything_else_is_401() {
        let policy: ApiKey = testing::configure(CONFIG).unwrap();
        for request in [
            TestRequest::get("/"),
            TestRequest::get("/").header("x-api-key", "guess"),
        ] {
            let outcome = testing::run(&policy, &request);
            assert!(
                matches!(outcome, Outcome::Denied { status: 401, .. }),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn a_configuration_without_keys_is_refused_naming_the_field() {
        let err = testing::configure::<ApiKey>(r#"{"keys": {}}"#).unwrap_err();
        assert!(err.to_string().contains("keys"), "{err}");
    }
}
