//! The case format and the comparison of an observed outcome with the expectation.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One file: policies, data, plugin settings, tokens, and the cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the file is about (for people reading it).
    #[allow(dead_code)]
    pub note: String,
    /// Rego modules by file name.
    pub policies: BTreeMap<String, String>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// Further plugin configuration fields (`dry_run`, `with_body`, `failure_mode`, ...).
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// JWTs made by the test, referenced in headers as `{{name}}`.
    #[serde(default)]
    pub tokens: BTreeMap<String, crate::tokens::TokenSpec>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub note: String,
    pub request: CaseRequest,
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub allowed: bool,
    /// The denial's status (default 403).
    #[serde(default)]
    pub status: Option<u16>,
    /// The denial's body, exactly.
    #[serde(default)]
    pub body: Option<String>,
    /// Allowed: headers the upstream saw. Denied: headers of the local reply.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Allowed: headers the upstream must not see.
    #[serde(default)]
    pub absent_headers: Vec<String>,
    /// Allowed: the path (with query) the upstream saw.
    #[serde(default)]
    pub upstream_path: Option<String>,
    /// Allowed: headers the client saw on the response.
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
}

/// What a world observed for one request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub allowed: bool,
    /// Denied: the local reply.
    pub status: u16,
    pub reply_headers: Vec<(String, String)>,
    pub body: String,
    /// Allowed: what reached the upstream, and the response headers the client got.
    pub upstream_path: String,
    pub upstream_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The differences between an outcome and the expectation, one line each.
pub fn compare(expect: &Expect, got: &Outcome) -> Vec<String> {
    let mut diffs = Vec::new();
    if got.allowed != expect.allowed {
        diffs.push(format!(
            "allowed: expected {}, got {} (status {}, body {:?})",
            expect.allowed, got.allowed, got.status, got.body
        ));
        return diffs;
    }
    let header_checks: &[(String, String)] = if got.allowed {
        &got.upstream_headers
    } else {
        &got.reply_headers
    };
    for (name, want) in &expect.headers {
        let seen = find(header_checks, name);
        if seen != Some(want.as_str()) {
            diffs.push(format!("header {name}: expected {want:?}, got {seen:?}"));
        }
    }
    if got.allowed {
        for name in &expect.absent_headers {
            if let Some(value) = find(&got.upstream_headers, name) {
                diffs.push(format!(
                    "header {name} should be absent upstream, got {value:?}"
                ));
            }
        }
        if let Some(path) = &expect.upstream_path {
            if &got.upstream_path != path {
                diffs.push(format!(
                    "upstream path: expected {path:?}, got {:?}",
                    got.upstream_path
                ));
            }
        }
        for (name, want) in &expect.response_headers {
            let seen = find(&got.response_headers, name);
            if seen != Some(want.as_str()) {
                diffs.push(format!(
                    "response header {name}: expected {want:?}, got {seen:?}"
                ));
            }
        }
    } else {
        let status = expect.status.unwrap_or(403);
        if got.status != status {
            diffs.push(format!("status: expected {status}, got {}", got.status));
        }
        if let Some(body) = &expect.body {
            if &got.body != body {
                diffs.push(format!("body: expected {body:?}, got {:?}", got.body));
            }
        }
    }
    diffs
}

impl CaseFile {
    /// The rego-authz plugin configuration for this file.
    pub fn plugin_configuration(&self) -> serde_json::Value {
        let mut config = self.config.clone();
        config.insert("policies".into(), serde_json::json!(self.policies));
        if let Some(data) = &self.data {
            config.insert("data".into(), data.clone());
        }
        serde_json::Value::Object(config)
    }

    /// Runs every case through `observe`, returning one line per mismatch.
    pub fn check(
        &self,
        file: &str,
        mut observe: impl FnMut(&CaseRequest) -> Result<Outcome, String>,
    ) -> Vec<String> {
        let tokens = crate::tokens::make_all(&self.tokens);
        let mut failures = Vec::new();
        for case in &self.cases {
            let request = crate::tokens::fill(&case.request, &tokens);
            match observe(&request) {
                Ok(outcome) => failures.extend(
                    compare(&case.expect, &outcome)
                        .into_iter()
                        .map(|d| format!("{file}: {}: {d}", case.note)),
                ),
                Err(e) => failures.push(format!("{file}: {}: {e}", case.note)),
            }
        }
        failures
    }
}
