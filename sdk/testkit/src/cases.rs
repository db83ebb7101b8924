//! Decision cases as data: a YAML file of requests and the decision OPA-Envoy would give for
//! each, the comparison of what a world (the harness, real Envoy) observed with that
//! expectation, and the one loop that runs a file's cases through a world.
//!
//! ```yaml
//! note: path and method RBAC
//! # policies: {rbac.rego: "package envoy.authz ..."}   # omitted: the .rego files next to this file
//! # data: {...}                                         # omitted: data.json / data.yaml next to it
//! config: {with_body: true}                             # further rego-authz settings
//! cases:
//!   - note: GET under /public is allowed
//!     request: {method: GET, path: /public/page, headers: {x-role: admin}, body: "..."}
//!     expect: {allowed: true, headers: {x-user: alice}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::policy_files::{PolicyFilesError, PolicySet};

/// One file: policies, data, plugin settings, tokens, and the cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the file is about (for people reading it).
    #[serde(default)]
    pub note: String,
    /// Rego modules by file name; when omitted, the `.rego` files in the case file's directory.
    #[serde(default)]
    pub policies: Option<BTreeMap<String, String>>,
    /// The base document; when omitted (and `policies` too), the directory's
    /// `data.json`/`data.yaml`.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// Further plugin configuration fields (`dry_run`, `with_body`, `failure_mode`, ...).
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// JWTs to mint, referenced in header values as `{{name}}`. Only the workspace's tests mint
    /// them (test-only signing keys); elsewhere cases that use one are skipped.
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenSpec>,
    /// The requests and their expected decisions.
    pub cases: Vec<Case>,
}

/// How to make one JWT (minted by the workspace's tests).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// `HS256` or `HS384` (with `secret`), or `RS256` (signed with the tests' key).
    pub alg: String,
    /// The HMAC secret for `HS256`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Claims besides `exp` and `nbf`.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `exp` this many seconds from now (negative: already expired); `nbf` is a minute ago.
    #[serde(default = "hour")]
    pub expires_in: i64,
}

fn hour() -> i64 {
    3600
}

/// One request and the decision expected for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, printed with its result.
    pub note: String,
    /// The request.
    pub request: CaseRequest,
    /// The decision.
    pub expect: Expect,
}

/// A request as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// The method (default `GET`).
    #[serde(default = "get")]
    pub method: String,
    /// The path, query included.
    pub path: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, if any.
    #[serde(default)]
    pub body: Option<String>,
}

fn get() -> String {
    "GET".into()
}

impl CaseRequest {
    /// The request with each `{{name}}` of a declared token replaced by the minted token; the
    /// name of a declared token that was used but not minted is the error.
    pub fn with_tokens(
        &self,
        declared: &BTreeMap<String, TokenSpec>,
        minted: &BTreeMap<String, String>,
    ) -> Result<CaseRequest, String> {
        let mut filled = self.clone();
        for value in filled.headers.values_mut() {
            for name in declared.keys() {
                let placeholder = format!("{{{{{name}}}}}");
                if value.contains(&placeholder) {
                    let token = minted.get(name).ok_or_else(|| name.clone())?;
                    *value = value.replace(&placeholder, token);
                }
            }
        }
        Ok(filled)
    }
}

/// The decision a case expects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Whether the request reaches the upstream.
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
    /// Headers that must be nowhere: not upstream, not on the response (allowed), not on the
    /// local reply (denied).
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
    /// Whether the request reached the upstream.
    pub allowed: bool,
    /// Denied: the local reply's status (200 when allowed).
    pub status: u16,
    /// Denied: the local reply's headers.
    pub reply_headers: Vec<(String, String)>,
    /// Denied: the local reply's body.
    pub body: String,
    /// Allowed: the path (with query) that reached the upstream.
    pub upstream_path: String,
    /// Allowed: the headers that reached the upstream.
    pub upstream_headers: Vec<(String, String)>,
    /// Allowed: the response headers the client got.
    pub response_headers: Vec<(String, String)>,
    /// The decision's dynamic metadata (with its `decision_id`), where the world can see it.
    pub dynamic_metadata: Option<serde_json::Value>,
    /// Warnings and errors the filter logged while deciding, where the world can see them.
    pub log: Vec<String>,
}

/// The first value of a header, by case-insensitive name.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One difference between the expected and the observed decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What differs: `allowed`, `status`, `body`, `header x-user`, ...
    pub field: String,
    /// What the case expects; `None` for a detail of the observed decision the case does not
    /// state (the status of an unexpected denial).
    pub expected: Option<String>,
    /// What was observed (`(absent)` for a missing header).
    pub actual: String,
}

impl Mismatch {
    fn new(
        field: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            expected: Some(expected.into()),
            actual: actual.into(),
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.expected {
            Some(expected) => write!(
                f,
                "{}: expected {expected}, got {}",
                self.field, self.actual
            ),
            None => write!(f, "{}: {}", self.field, self.actual),
        }
    }
}

fn quoted(text: &str) -> String {
    format!("{text:?}")
}

fn seen(value: Option<&str>) -> String {
    value.map_or_else(|| "(absent)".to_string(), quoted)
}

/// The differences between an outcome and the expectation.
pub fn compare(expect: &Expect, got: &Outcome) -> Vec<Mismatch> {
    let mut diffs = Vec::new();
    if got.allowed != expect.allowed {
        diffs.push(Mismatch::new(
            "allowed",
            expect.allowed.to_string(),
            got.allowed.to_string(),
        ));
        if !got.allowed {
            // What the unexpected denial looked like.
            diffs.push(Mismatch {
                field: "status".into(),
                expected: None,
                actual: got.status.to_string(),
            });
            diffs.push(Mismatch {
                field: "body".into(),
                expected: None,
                actual: quoted(&got.body),
            });
        }
        return diffs;
    }
    if !got.allowed {
        let status = expect.status.unwrap_or(403);
        if got.status != status {
            diffs.push(Mismatch::new(
                "status",
                status.to_string(),
                got.status.to_string(),
            ));
        }
    }
    let header_checks: &[(String, String)] = if got.allowed {
        &got.upstream_headers
    } else {
        &got.reply_headers
    };
    for (name, want) in &expect.headers {
        let value = find_header(header_checks, name);
        if value != Some(want.as_str()) {
            diffs.push(Mismatch::new(
                format!("header {name}"),
                quoted(want),
                seen(value),
            ));
        }
    }
    let seen_by = [
        ("upstream", &got.upstream_headers),
        ("response", &got.response_headers),
        ("local reply", &got.reply_headers),
    ];
    for name in &expect.absent_headers {
        for (place, headers) in seen_by {
            if let Some(value) = find_header(headers, name) {
                diffs.push(Mismatch::new(
                    format!("header {name} {place}"),
                    "(absent)",
                    quoted(value),
                ));
            }
        }
    }
    if got.allowed {
        if let Some(path) = &expect.upstream_path {
            if &got.upstream_path != path {
                diffs.push(Mismatch::new(
                    "upstream path",
                    quoted(path),
                    quoted(&got.upstream_path),
                ));
            }
        }
        for (name, want) in &expect.response_headers {
            let value = find_header(&got.response_headers, name);
            if value != Some(want.as_str()) {
                diffs.push(Mismatch::new(
                    format!("response header {name}"),
                    quoted(want),
                    seen(value),
                ));
            }
        }
    } else if let Some(body) = &expect.body {
        if &got.body != body {
            diffs.push(Mismatch::new("body", quoted(body), quoted(&got.body)));
        }
    }
    diffs
}

/// How one case went.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The observed decision is the expected one.
    Passed,
    /// It is not.
    Failed {
        /// What differs.
        mismatches: Vec<Mismatch>,
        /// What the filter logged (warnings, errors) while deciding.
        log: Vec<String>,
    },
    /// The request could not be made or observed.
    Error(String),
    /// Not run, and why.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult<'a> {
    /// The case.
    pub case: &'a Case,
    /// How it went.
    pub verdict: Verdict,
    /// Wall time to send the request and observe the decision.
    pub elapsed: Duration,
}

impl CaseFile {
    /// Parses a case file.
    pub fn parse(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Runs every case through `observe`, with the `minted` tokens filled in. This is the one
    /// case loop: `palisade test` and the workspace's tests (harness and real Envoy) use it.
    pub fn run<'a>(
        &'a self,
        minted: &BTreeMap<String, String>,
        mut observe: impl FnMut(&CaseRequest) -> Result<Outcome, String>,
    ) -> Vec<CaseResult<'a>> {
        self.cases
            .iter()
            .map(|case| {
                let start = Instant::now();
                let verdict = match case.request.with_tokens(&self.tokens, minted) {
                    Err(token) => Verdict::Skipped(format!(
                        "needs the JWT `{token}` from `tokens:`, which only the workspace's \
                         tests mint"
                    )),
                    Ok(request) => match observe(&request) {
                        Ok(outcome) => {
                            let mismatches = compare(&case.expect, &outcome);
                            if mismatches.is_empty() {
                                Verdict::Passed
                            } else {
                                Verdict::Failed {
                                    mismatches,
                                    log: outcome.log,
                                }
                            }
                        }
                        Err(err) => Verdict::Error(err),
                    },
                };
                CaseResult {
                    case,
                    verdict,
                    elapsed: start.elapsed(),
                }
            })
            .collect()
    }

    /// The policies the cases run against: the embedded ones, or else those in `dir`.
    pub fn policy_set(&self, dir: &Path) -> Result<PolicySet, PolicyFilesError> {
        let mut set = match &self.policies {
            Some(modules) => PolicySet {
                modules: modules.clone(),
                data: None,
            },
            None => PolicySet::from_dir(dir)?,
        };
        if let Some(data) = &self.data {
            set.data = Some(data.clone());
        }
        Ok(set)
    }
}

impl CaseResult<'_> {
    /// One line per problem, `file: note: problem`; none when the case passed.
    pub fn problems(&self, file: &str) -> Vec<String> {
        let note = &self.case.note;
        match &self.verdict {
            Verdict::Passed => Vec::new(),
            Verdict::Failed { mismatches, .. } => mismatches
                .iter()
                .map(|m| format!("{file}: {note}: {m}"))
                .collect(),
            Verdict::Error(err) => vec![format!("{file}: {note}: {err}")],
            Verdict::Skipped(why) => vec![format!("{file}: {note}: skipped: {why}")],
        }
    }
}

/// Why a case file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The case file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid case file.
    #[error("{}: {message}", .path.display())]
    Parse {
        /// The case file.
        path: PathBuf,
        /// What is wrong, with its line and column.
        message: String,
    },
    /// Its policies could not be read.
    #[error(transparent)]
    Policies(#[from] PolicyFilesError),
}

/// A case file with the policies it runs against.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Where the file is.
    pub path: PathBuf,
    /// Its content.
    pub file: CaseFile,
    /// Its policies and data, resolved.
    pub policies: PolicySet,
}

/// Whether YAML text is meant as a case file (it has a top-level `cases` key), as opposed to
/// a base document or some other YAML that lives next to policies.
pub fn is_case_file(text: &str) -> bool {
    serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|v| v.as_mapping().map(|m| m.contains_key("cases")))
        .unwrap_or(false)
}

impl Suite {
    /// Reads a case file and the policies it runs against.
    pub fn load(path: &Path) -> Result<Self, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = CaseFile::parse(&text).map_err(|e| CaseError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let policies = file.policy_set(dir)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            policies,
        })
    }

    /// The file's path as people write it.
    pub fn name(&self) -> String {
        crate::policy_files::display_path(&self.path)
    }

    /// rego-authz's plugin configuration for this file.
    pub fn plugin_configuration(&self) -> serde_json::Value {
        self.policies.plugin_configuration(&self.file.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(yaml: &str) -> Expect {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn an_unexpected_denial_shows_its_status_and_body() {
        let got = Outcome {
            status: 401,
            body: "no".into(),
            ..Outcome::default()
        };
        let diffs = compare(&expect("{allowed: true}"), &got);
        let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "allowed: expected true, got false",
                "status: 401",
                "body: \"no\""
            ]
        );
    }

    #[test]
    fn denials_compare_status_headers_and_body() {
        let got = Outcome {
            status: 403,
            reply_headers: vec![("X-Why".into(), "role".into())],
            body: "forbidden".into(),
            ..Outcome::default()
        };
        let ok = expect("{allowed: false, status: 403, body: forbidden, headers: {x-why: role}}");
        assert!(compare(&ok, &got).is_empty());
        let bad = expect("{allowed: false, status: 401, headers: {x-other: a}}");
        let lines: Vec<String> = compare(&bad, &got)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "status: expected 401, got 403",
                "header x-other: expected \"a\", got (absent)"
            ]
        );
    }

    #[test]
    fn tokens_fill_declared_placeholders_or_name_the_missing_one() {
        let file = CaseFile::parse(
            "tokens: {t: {alg: HS256, secret: s}}\ncases:\n  - note: n\n    request: {path: /, headers: {authorization: 'Bearer {{t}}'}}\n    expect: {allowed: true}\n",
        )
        .unwrap();
        let request = &file.cases[0].request;
        assert_eq!(
            request.with_tokens(&file.tokens, &BTreeMap::new()),
            Err("t".into())
        );
        let minted = BTreeMap::from([("t".to_string(), "abc".to_string())]);
        let filled = request.with_tokens(&file.tokens, &minted).unwrap();
        assert_eq!(filled.headers["authorization"], "Bearer abc");
        let results = file.run(&BTreeMap::new(), |_| unreachable!());
        assert!(matches!(results[0].verdict, Verdict::Skipped(_)));
    }

    #[test]
    fn case_files_are_told_from_other_yaml() {
        assert!(is_case_file("cases: []"));
        assert!(!is_case_file("roles: {admin: [GET]}"));
        assert!(!is_case_file("- a\n- b"));
    }
}
