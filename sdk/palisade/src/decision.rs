//! What a policy decided, and the one place a decision becomes proxy actions.

use crate::host::{Host, HostError};

/// A policy's answer for one request.
///
/// Headers follow OPA-Envoy's rule: on an allowed request they are set on the request sent
/// upstream; on a denied one they are added to the local reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Forward the request upstream, after the header changes.
    Allow(Allow),
    /// Answer the request from the proxy with a local reply.
    Deny(Deny),
}

/// Changes made to an allowed request before it goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow {
    /// Request headers to set, replacing values the client sent.
    pub headers: Vec<(String, String)>,
    /// Request headers to remove.
    pub remove_headers: Vec<String>,
}

/// The local reply for a denied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    /// HTTP status of the reply.
    pub status: u16,
    /// Headers of the reply.
    pub headers: Vec<(String, String)>,
    /// Body of the reply.
    pub body: String,
}

/// The status used when a policy denies without choosing one (as OPA-Envoy does).
pub const DEFAULT_DENY_STATUS: u16 = 403;

impl Decision {
    /// Forward the request unchanged.
    pub fn allow() -> Self {
        Self::Allow(Allow::default())
    }

    /// Deny with a local reply of this status and an empty body.
    pub fn deny(status: u16) -> Self {
        Self::Deny(Deny {
            status,
            headers: Vec::new(),
            body: String::new(),
        })
    }

    /// Allowed: set this request header upstream. Denied: add it to the local reply.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let header = (name.into(), value.into());
        match &mut self {
            Self::Allow(allow) => allow.headers.push(header),
            Self::Deny(deny) => deny.headers.push(header),
        }
        self
    }

    /// Allowed: remove this request header before forwarding. (A denied request is not
    /// forwarded, so there is nothing to remove.)
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        if let Self::Allow(allow) = &mut self {
            allow.remove_headers.push(name.into());
        }
        self
    }

    /// Denied: the local reply's body. (An allowed request keeps its own body.)
    pub fn body(mut self, body: impl Into<String>) -> Self {
        if let Self::Deny(deny) = &mut self {
            deny.body = body.into();
        }
        self
    }

    /// Whether the request goes upstream.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// Carries the decision out on the host: header mutations, or a local reply.
    pub fn apply(&self, host: &mut dyn Host) -> Result<(), HostError> {
        match self {
            Self::Allow(allow) => {
                for name in &allow.remove_headers {
                    host.remove_request_header(name)?;
                }
                for (name, value) in &allow.headers {
                    host.set_request_header(name, value)?;
                }
                Ok(())
            }
            Self::Deny(deny) => {
                let status = if (200..=599).contains(&deny.status) {
                    deny.status
                } else {
                    log::warn!(
                        "deny status {} is not an HTTP status; replying {DEFAULT_DENY_STATUS}",
                        deny.status
                    );
                    DEFAULT_DENY_STATUS
                };
                host.send_local_reply(status, &deny.headers, deny.body.as_bytes())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn allow_sets_and_removes_request_headers() {
        let mut host = FakeHost::with_headers(&[("x-user", "bob"), ("x-debug", "1")]);
        Decision::allow()
            .header("x-user", "alice")
            .remove_header("x-debug")
            .body("ignored on allow")
            .apply(&mut host)
            .unwrap();
        assert_eq!(
            host.headers,
            vec![("x-user".to_string(), "alice".to_string())]
        );
        assert_eq!(host.local_reply, None);
    }

    #[test]
    fn deny_sends_a_local_reply() {
        let mut host = FakeHost::with_headers(&[("x-user", "bob")]);
        let decision = Decision::deny(401)
            .header("www-authenticate", "Bearer")
            .remove_header("x-user")
            .body("no");
        assert!(!decision.is_allowed());
        decision.apply(&mut host).unwrap();
        let reply = host.local_reply.unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body, b"no");
        assert_eq!(
            reply.headers,
            vec![("www-authenticate".into(), "Bearer".into())]
        );
        assert_eq!(
            host.headers.len(),
            1,
            "denied request headers are left alone"
        );
    }

    #[test]
    fn out_of_range_status_becomes_403() {
        let mut host = FakeHost::default();
        Decision::deny(42).apply(&mut host).unwrap();
        assert_eq!(host.local_reply.unwrap().status, 403);
    }
}
