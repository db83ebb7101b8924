//! What a policy decided, and the one place a decision becomes proxy actions.

use crate::host::{Host, HostError};

/// A policy's answer for one request, shaped like OPA-Envoy's decision object.
///
/// `headers` follow OPA-Envoy's rule: on an allowed request they are set on the request sent
/// upstream; on a denied one they are added to the local reply. Query and header removals and
/// response headers apply to allowed requests only (a denied request is not forwarded).
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Decision {
    /// Whether the request goes upstream.
    pub allowed: bool,
    /// Status of the local reply when denied.
    pub status: u16,
    /// Body of the local reply when denied.
    pub body: String,
    /// Allowed: request headers to set (replacing). Denied: local-reply headers.
    pub headers: Vec<(String, String)>,
    /// Allowed: request headers to remove.
    pub remove_headers: Vec<String>,
    /// Allowed: headers added to the response on its way back to the client.
    pub response_headers: Vec<(String, String)>,
    /// Allowed: query parameters to set (replacing every value of that name).
    pub set_query: Vec<(String, String)>,
    /// Allowed: query parameters to remove.
    pub remove_query: Vec<String>,
    /// Written as filter state (`wasm.palisade.dynamic_metadata`, JSON) for later filters and
    /// access logs.
    pub dynamic_metadata: Option<serde_json::Value>,
    /// The decision's id in its event (and, if the policy writes it there, its metadata); a
    /// fresh UUID when `None`.
    pub decision_id: Option<String>,
    /// Policy-specific members of the decision event's data (see [`Decision::event_field`]).
    pub event_fields: Vec<(String, serde_json::Value)>,
}

/// The status used when a policy denies without choosing one (as OPA-Envoy does).
pub const DEFAULT_DENY_STATUS: u16 = 403;

impl Decision {
    /// Forward the request unchanged.
    pub fn allow() -> Self {
        Self::new(true, DEFAULT_DENY_STATUS)
    }

    /// Deny with a local reply of this status and an empty body.
    pub fn deny(status: u16) -> Self {
        Self::new(false, status)
    }

    fn new(allowed: bool, status: u16) -> Self {
        Self {
            allowed,
            status,
            body: String::new(),
            headers: Vec::new(),
            remove_headers: Vec::new(),
            response_headers: Vec::new(),
            set_query: Vec::new(),
            remove_query: Vec::new(),
            dynamic_metadata: None,
            decision_id: None,
            event_fields: Vec::new(),
        }
    }

    /// Allowed: set this request header upstream. Denied: add it to the local reply.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Allowed: remove this request header before forwarding.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.remove_headers.push(name.into());
        self
    }

    /// Allowed: add this header to the response the client gets.
    pub fn response_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }

    /// Allowed: set a query parameter on the request sent upstream.
    pub fn set_query_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_query.push((name.into(), value.into()));
        self
    }

    /// Allowed: remove a query parameter from the request sent upstream.
    pub fn remove_query_param(mut self, name: impl Into<String>) -> Self {
        self.remove_query.push(name.into());
        self
    }

    /// Denied: the local reply's body. (An allowed request keeps its own body.)
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Metadata written as filter state for other filters and access logs.
    pub fn dynamic_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.dynamic_metadata = Some(metadata);
        self
    }

    /// The id this decision's event carries (use the id the policy also logs or writes in
    /// metadata, so they agree). Without one the SDK draws a UUID.
    pub fn decision_id(mut self, id: impl Into<String>) -> Self {
        self.decision_id = Some(id.into());
        self
    }

    /// Adds a member to the decision event's data, e.g. `.event_field("rule", json!("r7"))`.
    /// The SDK's own members (`decision_id`, `allowed`, `status`, `request`, `headers`,
    /// `eval_time_us`, `error`) cannot be replaced; a name set twice keeps the last value.
    pub fn event_field(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.event_fields.push((name.into(), value));
        self
    }

    /// Whether carrying the decision out changes the request headers (`:path` included, for
    /// query changes).
    pub fn changes_request_headers(&self) -> bool {
        self.allowed
            && !(self.headers.is_empty()
                && self.remove_headers.is_empty()
                && self.set_query.is_empty()
                && self.remove_query.is_empty())
    }

    /// Whether the request goes upstream.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// The status of the local reply a denial sends: the decision's, or 403 when that is not
    /// an HTTP status.
    pub fn reply_status(&self) -> u16 {
        if (200..=599).contains(&self.status) {
            self.status
        } else {
            DEFAULT_DENY_STATUS
        }
    }

    /// Checks every header name and value the decision would send, before anything is applied:
    /// names must be HTTP tokens (a request header may be a pseudo-header such as `:path`), and
    /// values RFC 9110 field values (no CR, LF, NUL or other control character but tab). A
    /// policy that builds a header from request data must not inject headers or split the
    /// response. Query parameters need no check: they are percent-encoded.
    pub fn validate(&self) -> Result<(), InvalidHeader> {
        let (request, reply) = match self.allowed {
            true => (self.headers.as_slice(), self.response_headers.as_slice()),
            false => (&[][..], self.headers.as_slice()),
        };
        for (name, value) in request {
            check_header(name, value, Where::Request)?;
        }
        for name in self.remove_headers.iter().filter(|_| self.allowed) {
            check_header(name, "", Where::Request)?;
        }
        let place = match self.allowed {
            true => Where::Response,
            false => Where::LocalReply,
        };
        for (name, value) in reply {
            check_header(name, value, place)?;
        }
        Ok(())
    }

    /// Carries the decision out on the host: metadata, then header and query mutations or a
    /// local reply. `path` is the request's current `:path`. Query changes apply to the path
    /// after the header changes, as in Envoy's ext_authz: when the decision sets `:path`
    /// itself, its query is the one rewritten. Response headers are left for the caller to
    /// add when the response arrives.
    pub fn apply(&self, host: &mut dyn Host, path: &str) -> Result<(), HostError> {
        if let Some(metadata) = &self.dynamic_metadata {
            // Serialising a `Value` cannot fail (its keys are strings).
            let json = serde_json::to_vec(metadata).unwrap_or_default();
            host.set_property(&["palisade", "dynamic_metadata"], &json)?;
        }
        if !self.allowed {
            let status = self.reply_status();
            if status != self.status {
                log::warn!(
                    "deny status {} is not an HTTP status; replying {status}",
                    self.status
                );
            }
            return host.send_local_reply(status, &self.headers, self.body.as_bytes());
        }
        for name in &self.remove_headers {
            host.remove_request_header(name)?;
        }
        for (name, value) in &self.headers {
            host.set_request_header(name, value)?;
        }
        if !self.set_query.is_empty() || !self.remove_query.is_empty() {
            let path = self
                .headers
                .iter()
                .rev()
                .find(|(name, _)| name.eq_ignore_ascii_case(":path"))
                .map_or(path, |(_, value)| value.as_str());
            let rewritten = rewrite_query(path, &self.set_query, &self.remove_query);
            if rewritten != path {
                host.set_request_header(":path", &rewritten)?;
            }
        }
        Ok(())
    }
}

/// Where a header the decision names would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
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
pub struct InvalidHeader {
    /// The header's name, as the policy gave it.
    pub name: String,
    /// Where it would have gone.
    pub place: Where,
    /// What is wrong with it.
    pub problem: &'static str,
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
        Decision::allow()
            .header("x-user", "alice")
            .remove_header("x-debug")
            .body("ignored on allow")
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
        let decision = Decision::deny(401)
            .header("www-authenticate", "Bearer")
            .remove_header("x-user")
            .body("no");
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
        let bad = [
            Decision::allow().header("x-user", "alice\r\nx-admin: true"),
            Decision::allow().header("x-user", "a\nb"),
            Decision::allow().header("x-user", "a\0b"),
            Decision::allow().header("x user", "a"),
            Decision::allow().header("", "a"),
            Decision::allow().header(":path", "/a\r\n"),
            Decision::allow().remove_header("x\r\ny"),
            Decision::allow().response_header("set-cookie", "a=1\r\n\r\n<html>"),
            Decision::allow().response_header(":status", "200"),
            Decision::deny(403).header("x-reason", "no\r\nlocation: /evil"),
            Decision::deny(403).header("x\u{e9}", "a"),
        ];
        for decision in bad {
            assert!(decision.validate().is_err(), "{decision:?}");
        }
        let good = [
            Decision::allow()
                .header("x-user", "alice\tand \u{e9}t\u{e9}")
                .header(":path", "/a?b=c")
                .response_header("x-Trace", "1")
                .set_query_param("q", "a\r\nb"),
            Decision::deny(401).header("www-authenticate", "Bearer realm=\"x\""),
            // A denial's request headers are not sent: only the reply's are checked.
            Decision::deny(403).remove_header("bad name"),
        ];
        for decision in good {
            assert_eq!(decision.validate(), Ok(()), "{decision:?}");
        }
        let err = Decision::allow()
            .response_header("x-a", "1\r\n")
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
        Decision::deny(42).apply(&mut host, "/").unwrap();
        assert_eq!(host.local_reply.unwrap().status, 403);
    }

    #[test]
    fn query_changes_rewrite_the_path() {
        let mut host = FakeHost::with_headers(&[(":path", "/a?keep=1&drop=x&tok%65n=s&set=old")]);
        Decision::allow()
            .set_query_param("set", "new value/ü")
            .remove_query_param("drop")
            .remove_query_param("token")
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
        Decision::allow()
            .header(":path", "/b?debug=2&keep=1")
            .remove_query_param("debug")
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
        Decision::deny(403)
            .dynamic_metadata(serde_json::json!({"rule": "r1"}))
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
