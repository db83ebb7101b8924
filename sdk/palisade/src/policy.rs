//! The trait a policy author implements.

use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::decision::Decision;
use crate::request::Request;

/// A request policy: configured once per VM, then asked about every request.
///
/// ```
/// use palisade::{Decision, Policy, PolicyError, Request};
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config { header: String }
///
/// struct RequireHeader(Config);
///
/// impl Policy for RequireHeader {
///     type Config = Config;
///     const NAME: &'static str = "require_header";
///
///     fn from_config(config: Config) -> Result<Self, palisade::ConfigError> {
///         Ok(Self(config))
///     }
///
///     fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
///         Ok(match request.header(&self.0.header) {
///             Some(_) => Decision::allow().into(),
///             None => Decision::deny(400).body("missing header").into(),
///         })
///     }
/// }
///
/// // In the policy's cdylib crate: export it as the module's root and HTTP contexts.
/// palisade::export_policy!(RequireHeader);
/// ```
pub trait Policy: Sized + 'static {
    /// The plugin configuration, parsed from JSON (use `#[serde(deny_unknown_fields)]`). The
    /// top-level `events` member belongs to the SDK ([`crate::events::EventsConfig`]) and is
    /// taken out before this type is parsed.
    type Config: DeserializeOwned;

    /// A short name for metrics and logs, e.g. `tenant_header`.
    const NAME: &'static str;

    /// The kind of decision in event types: decision events are
    /// `<type_prefix>.<EVENT_KIND>.decision` (e.g. `io.palisade.authz.decision`). Defaults to
    /// [`Policy::NAME`].
    const EVENT_KIND: &'static str = Self::NAME;

    /// Reasons [`PolicyError`]s may carry; each gets its own counter,
    /// `palisade.<NAME>.errors.<reason>`, beside the total `palisade.<NAME>.errors`.
    const ERROR_REASONS: &'static [&'static str] = &[];

    /// Builds the policy from its parsed configuration; checks serde cannot express go here.
    fn from_config(config: Self::Config) -> Result<Self, ConfigError>;

    /// Fields every decision event of this policy carries, beside the SDK's own (e.g.
    /// rego-authz's rule and policy revision); they are there even when the policy failed.
    /// Per-decision fields go on the [`Decision`] ([`crate::Allow::event_field`],
    /// [`crate::Deny::event_field`]).
    fn event_fields(&self) -> &[(String, serde_json::Value)] {
        &[]
    }

    /// Decides one request. An error is logged, counted, and handled by [`Policy::failure_mode`].
    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError>;

    /// Buffer up to this many bytes of the request body before deciding, and hand them to the
    /// policy through [`Request::body`]. `None` (the default) decides on the headers alone.
    fn body_limit(&self) -> Option<usize> {
        None
    }

    /// What happens to a request when deciding it fails. Fail closed unless told otherwise.
    fn failure_mode(&self) -> FailureMode {
        FailureMode::Deny
    }
}

/// What to do with a request whose policy could not decide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Reply 403 from the proxy (fail closed).
    #[default]
    Deny,
    /// Forward the request as if allowed (fail open).
    Allow,
}

/// Why a policy could not decide a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    /// One of the policy's [`Policy::ERROR_REASONS`], counted separately; `None` otherwise.
    pub reason: Option<&'static str>,
    /// What went wrong.
    pub message: String,
}

impl PolicyError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            reason: None,
            message: message.into(),
        }
    }

    /// An error counted under one of the policy's [`Policy::ERROR_REASONS`].
    pub fn because(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason: Some(reason),
            message: message.into(),
        }
    }
}
