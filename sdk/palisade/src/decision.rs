//! What a policy decided, and the one place a decision becomes proxy actions.

use crate::host::{Host, HostError};

/// A policy's answer for one request: forward it upstream ([`Allow`]) or answer it in the
/// proxy with a local reply ([`Deny`]). Build one with [`Decision::allow`] or
/// [`Decision::deny`]; each builder has only the changes that apply to its outcome.
///
/// ```
/// use palisade::Decision;
///
/// let allowed: Decision = Decision::allow()
///     .header("x-user", "alice") // set on the request sent upstream
///     .response_header("x-checked", "1") // added to the response the client gets
///     .into();
/// let denied: Decision = Decision::deny(401)
///     .header("www-authenticate", "Bearer") // added to the local reply
///     .body("sign in first")
///     .into();
/// assert!(allowed.is_allowed() && !denied.is_allowed());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Decision {
    /// The request goes upstream, with these changes.
    Allow(Allow),
    /// The request is answered in the proxy and never reaches the upstream.
    Deny(Deny),
}

/// An allowed request: what changes on its way upstream and on its response's way back.
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Allow {
    /// Request headers to set (replacing), as OPA-Envoy's `headers` on an allowed request.
    pub headers: Vec<(String, String)>,
    /// Request headers to remove before forwarding.
    pub remove_headers: Vec<String>,
    /// Headers added to the response on its way back to the client.
    pub response_headers: Vec<(String, String)>,
    /// Query parameters to set (replacing every value of that name).
    pub set_query: Vec<(String, String)>,
    /// Query parameters to remove.
    pub remove_query: Vec<String>,
    /// What the decision reports, whatever its outcome.
    pub report: Report,
}

/// A denied request: the local reply the client gets instead of the upstream's answer.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Deny {
    /// The reply's status (403 is sent instead when it is not an HTTP status, 200-599).
    pub status: u16,
    /// The reply's body.
    pub body: String,
    /// The reply's headers, as OPA-Envoy's `headers` on a denied request.
    pub headers: Vec<(String, String)>,
    /// What the decision reports, whatever its outcome.
    pub report: Report,
}

/// What a decision reports beside its outcome: metadata for later filters and access logs,
/// and what its decision event says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Written as filter state (`wasm.palisade.dynamic_metadata`, JSON) for later filters and
    /// access logs.
    pub dynamic_metadata: Option<serde_json::Value>,
    /// The decision's id in its event (and, if the policy writes it there, its metadata); a
    /// fresh UUID when `None`.
    pub decision_id: Option<String>,
    /// Policy-specific members of the decision event's data (see [`Allow::event_field`]).
    pub event_fields: Vec<(String, serde_json::Value)>,
}

/// The status used when a policy denies without choosing one (as OPA-Envoy does).
pub const DEFAULT_DENY_STATUS: u16 = 403;

impl Decision {
    /// Forward the request; add changes with the [`Allow`] builder's methods.
    pub fn allow() -> Allow {
        Allow::default()
    }

    /// Deny with a local reply of this status and an empty body; add headers and a body with
    /// the [`Deny`] builder's methods.
    pub fn deny(status: u16) -> Deny {
        Deny {
            status,
            body: String::new(),
            headers: Vec::new(),
            report: Report::default(),
        }
    }

    /// Whether the request goes upstream.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// What the decision reports beside its outcome.
    pub fn report(&self) -> &Report {
        match self {
            Decision::Allow(allow) => &allow.report,
            Decision::Deny(deny) => &deny.report,
        }
    }

    /// What the decision reports, to change it (e.g. a policy that wraps another's decision).
    pub fn report_mut(&mut self) -> &mut Report {
        match self {
            Decision::Allow(allow) => &mut allow.report,
            Decision::Deny(deny) => &mut deny.report,
        }
    }

    /// Whether carrying the decision out changes the request headers (`:path` included, for
    /// query changes).
    pub(crate) fn changes_request_headers(&self) -> bool {
        match self {
            Decision::Allow(allow) => {
                !(allow.headers.is_empty()
                    && allow.remove_headers.is_empty()
                    && allow.set_query.is_empty()
                    && allow.remove_query.is_empty())
            }
            Decision::Deny(_) => false,
        }
    }

    /// Checks every header name and value the decision would send, before anything is applied:
    /// names must be HTTP tokens (a request header may be a pseudo-header such as `:path`), and
    /// values RFC 9110 field values (no CR, LF, NUL or other control character but tab). A
    /// policy that builds a header from request data must not inject headers or split the
    /// response. Query parameters need no check: they are percent-encoded.
    pub(crate) fn validate(&self) -> Result<(), InvalidHeader> {
        match self {
            Decision::Allow(allow) => {
                for (name, value) in &allow.headers {
                    check_header(name, value, Where::Request)?;
                }
                for name in &allow.remove_headers {
                    check_header(name, "", Where::Request)?;
                }
                for (name, value) in &allow.response_headers {
                    check_header(name, value, Where::Response)?;
                }
            }
            Decision::Deny(deny) => {
                for (name, value) in &deny.headers {
                    check_header(name, value, Where::LocalReply)?;
                }
            }
        }
        Ok(())
    }

    /// Carries the decision out on the host: metadata, then header and query mutations or a
    /// local reply. `path` is the request's current `:path`. Query changes apply to the path
    /// after the header changes, as in Envoy's ext_authz: when the decision sets `:path`
    /// itself, its query is the one rewritten. Response headers are left for the caller to
    /// add when the response arrives.
    pub(crate) fn apply(&self, host: &mut dyn Host, path: &str) -> Result<(), HostError> {
        if let Some(metadata) = &self.report().dynamic_metadata {
            // Serialising a `Value` cannot fail (its keys are strings).
            let json = serde_json::to_vec(metadata).unwrap_or_default();
            host.set_property(&["palisade", "dynamic_metadata"], &json)?;
        }
        let allow = match self {
            Decision::Deny(deny) => {
                let status = deny.reply_status();
                if status != deny.status {
                    log::warn!(
                        "deny status {} is not an HTTP status; replying {status}",
                        deny.status
                    );
                }
                return host.send_local_reply(status, &deny.headers, deny.body.as_bytes());
            }
            Decision::Allow(allow) => allow,
        };
        for name in &allow.remove_headers {
            host.remove_request_header(name)?;
        }
        for (name, value) in &allow.headers {
            host.set_request_header(name, value)?;
        }
        if !allow.set_query.is_empty() || !allow.remove_query.is_empty() {
            let path = allow
                .headers
                .iter()
                .rev()
                .find(|(name, _)| name.eq_ignore_ascii_case(":path"))
                .map_or(path, |(_, value)| value.as_str());
            let rewritten = rewrite_query(path, &allow.set_query, &allow.remove_query);
            if rewritten != path {
                host.set_request_header(":path", &rewritten)?;
            }
        }
        Ok(())
    }
}

impl Allow {
    /// Set this request header on the request sent upstream (replacing its values).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Remove this request header before forwarding.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.remove_headers.push(name.into());
        self
    }

    /// Add this header to the response the client gets.
    pub fn response_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }

    /// Set a query parameter on the request sent upstream.
    pub fn set_query_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_query.push((name.into(), value.into()));
        self
    }

    /// Remove a query parameter from the request sent upstream.
    pub fn remove_query_param(mut self, name: impl Into<String>) -> Self {
        self.remove_query.push(name.into());
        self
    }
}

impl Deny {
    /// Add this header to the local reply.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The local reply's body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// The status the local reply is sent with: the decision's, or 403 when that is not an
    /// HTTP status.
    pub fn reply_status(&self) -> u16 {
        if (200..=599).contains(&self.status) {
            self.status
        } else {
            DEFAULT_DENY_STATUS
        }
    }
}

/// The [`Report`] setters, the same on both outcomes, and the outcome into a [`Decision`].
macro_rules! report_setters {
    ($outcome:ident) => {
        impl $outcome {
            /// Metadata written as filter state for other filters and access logs.
            pub fn dynamic_metadata(mut self, metadata: serde_json::Value) -> Self {
                self.report.dynamic_metadata = Some(metadata);
                self
            }

            /// The id this decision's event carries (use the id the policy also logs or writes
            /// in metadata, so they agree). Without one the SDK draws a UUID.
            pub fn decision_id(mut self, id: impl Into<String>) -> Self {
                self.report.decision_id = Some(id.into());
                self
            }

            /// Adds a member to the decision event's data, e.g.
            /// `.event_field("rule", json!("r7"))`. The SDK's own members (`decision_id`,
            /// `allowed`, `status`, `request`, `headers`, `eval_time_us`, `error`) cannot be
            /// replaced; a name set twice keeps the last value.
            pub fn event_field(
                mut self,
                name: impl Into<String>,
                value: serde_json::Value,
            ) -> Self {
                self.report.event_fields.push((name.into(), value));
                self
            }
        }

        impl From<$outcome> for Decision {
            fn from(outcome: $outcome) -> Self {
                Decision::$outcome(outcome)
            }
        }
    };
}

report_setters!(Allow);
report_setters!(Deny);

/// Where a header the decision names would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// The request sent upstream.
    Request,
    /// The response sent back to the client.
    Response,
    /// A denial's local reply.
    LocalReply,
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Where::Request => "request",
            Where::Response => "response",
            Where::LocalReply => "local reply",
        })
    }
}

/// A header name or value that is not valid HTTP, found by [`Decision::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place} header {name:?}: {problem}")]
pub(crate) struct InvalidHeader {
    /// The header's name, as the policy gave it.
    pub(crate) name: String,
    /// Where it would have gone.
    pub(crate) place: Where,
    /// What is wrong with it.
    pub(crate) problem: &'static str,
}

fn check_header(name: &str, value: &str, place: Where) -> Result<(), InvalidHeader> {
    let invalid = |problem| InvalidHeader {
        name: name.to_string(),
        place,
        problem,
    };
    let token = match (place, name.strip_prefix(':')) {
        (Where::Request, Some(pseudo)) => pseudo,
        _ => name,
    };
    if token.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if !token.bytes().all(is_tchar) {
        return Err(invalid("the name is not an HTTP token"));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(invalid(
            "the value holds a control character (CR, LF, NUL, ...)",
        ));
    }
    Ok(())
}

/// RFC 9110 `tchar`: what a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Applies query changes to a path: parameters named in `set` or `remove` are dropped (compared
/// after decoding), the others kept exactly as written, then `set` is appended, encoded.
fn rewrite_query(path: &str, set: &[(String, String)], remove: &[String]) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let touched = |raw: &str| {
        let name = crate::request::parse_query(raw)
            .into_iter()
            .next()
            .map(|(k, _)| k)
            .unwrap_or_default();
        remove.contains(&name) || set.iter().any(|(k, _)| *k == name)
    };
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|raw| !raw.is_empty() && !touched(raw))
        .map(str::to_string)
        .collect();
    pairs.extend(set.iter().map(|(k, v)| {
        format!(
            "{}={}",
            crate::request::percent_encode(k),
            crate::request::percent_encode(v)
        )
    }));
    if pairs.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    #[test]
    fn allow_sets_and_removes_request_headers() {
        let mut host = FakeHost::with_headers(&[("x-user", "bob"), ("x-debug", "1")]);
        Decision::from(
            Decision::allow()
                .header("x-user", "alice")
                .remove_header("x-debug"),
        )
        .apply(&mut host, "/")
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
        let decision: Decision = Decision::deny(401)
            .header("www-authenticate", "Bearer")
            .body("no")
            .into();
        assert!(!decision.is_allowed());
        decision.apply(&mut host, "/").unwrap();
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
    fn header_names_and_values_must_be_valid_http() {
        let bad: [Decision; 11] = [
            Decision::allow()
                .header("x-user", "alice\r\nx-admin: true")
                .into(),
            Decision::allow().header("x-user", "a\nb").into(),
            Decision::allow().header("x-user", "a\0b").into(),
            Decision::allow().header("x user", "a").into(),
            Decision::allow().header("", "a").into(),
            Decision::allow().header(":path", "/a\r\n").into(),
            Decision::allow().remove_header("x\r\ny").into(),
            Decision::allow()
                .response_header("set-cookie", "a=1\r\n\r\n<html>")
                .into(),
            Decision::allow().response_header(":status", "200").into(),
            Decision::deny(403)
                .header("x-reason", "no\r\nlocation: /evil")
                .into(),
            Decision::deny(403).header("x\u{e9}", "a").into(),
        ];
        for decision in bad {
            assert!(decision.validate().is_err(), "{decision:?}");
        }
        let good: [Decision; 2] = [
            Decision::allow()
                .header("x-user", "alice\tand \u{e9}t\u{e9}")
                .header(":path", "/a?b=c")
                .response_header("x-Trace", "1")
                .set_query_param("q", "a\r\nb")
                .into(),
            Decision::deny(401)
                .header("www-authenticate", "Bearer realm=\"x\"")
                .into(),
        ];
        for decision in good {
            assert_eq!(decision.validate(), Ok(()), "{decision:?}");
        }
        let err = Decision::from(Decision::allow().response_header("x-a", "1\r\n"))
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "response header \"x-a\": the value holds a control character (CR, LF, NUL, ...)"
        );
    }

    #[test]
    fn out_of_range_status_becomes_403() {
        let mut host = FakeHost::default();
        Decision::from(Decision::deny(42))
            .apply(&mut host, "/")
            .unwrap();
        assert_eq!(host.local_reply.unwrap().status, 403);
    }

    #[test]
    fn query_changes_rewrite_the_path() {
        let mut host = FakeHost::with_headers(&[(":path", "/a?keep=1&drop=x&tok%65n=s&set=old")]);
        Decision::from(
            Decision::allow()
                .set_query_param("set", "new value/ü")
                .remove_query_param("drop")
                .remove_query_param("token"),
        )
        .apply(&mut host, "/a?keep=1&drop=x&tok%65n=s&set=old")
        .unwrap();
        assert_eq!(
            host.headers,
            vec![(":path".into(), "/a?keep=1&set=new%20value%2F%C3%BC".into())]
        );
    }

    #[test]
    fn query_changes_apply_to_a_path_the_decision_sets() {
        let mut host = FakeHost::with_headers(&[(":path", "/a?debug=1")]);
        Decision::from(
            Decision::allow()
                .header(":path", "/b?debug=2&keep=1")
                .remove_query_param("debug"),
        )
        .apply(&mut host, "/a?debug=1")
        .unwrap();
        assert_eq!(host.headers, vec![(":path".into(), "/b?keep=1".into())]);
    }

    #[test]
    fn removing_every_parameter_drops_the_question_mark() {
        assert_eq!(rewrite_query("/a?x=1", &[], &["x".into()]), "/a");
        assert_eq!(
            rewrite_query("/a", &[("y".into(), "2".into())], &[]),
            "/a?y=2"
        );
    }

    #[test]
    fn dynamic_metadata_is_written_as_a_property() {
        let mut host = FakeHost::default();
        Decision::from(Decision::deny(403).dynamic_metadata(serde_json::json!({"rule": "r1"})))
            .apply(&mut host, "/")
            .unwrap();
        assert_eq!(
            host.set_properties,
            vec![(
                "palisade.dynamic_metadata".into(),
                br#"{"rule":"r1"}"#.to_vec()
            )]
        );
    }
}
