//! Checking outcomes: each world against the scenario's expectation (plus that world's `*_only`
//! part), and the two worlds against each other.
//!
//! The cross-world comparison covers the status, every `x-` response header, the local-reply body,
//! whether the upstream was reached and with which method, path, body and `x-` headers, the callouts
//! that reached `auth_cluster`, and the metrics the scenario names. Left out: headers that only the
//! proxy adds (`x-envoy-*`, `x-forwarded-*`, `x-request-id`), values the scenario gives as a pattern
//! (a pattern says the value depends on the world), and every field a `envoy_only` / `harness_only`
//! section names (a recorded difference).

use std::collections::BTreeSet;

use palisade_testkit::echo::EchoedRequest;

use crate::format::{CalloutExpect, Expect, Request, UpstreamExpect, ValueMatch, WaitFor};
use crate::outcome::{first, values, Observed, Waited};

/// Collects mismatches, each prefixed with where it happened.
pub struct Mismatches<'a> {
    pub context: String,
    pub list: &'a mut Vec<String>,
}

impl Mismatches<'_> {
    fn push(&mut self, field: &str, message: String) {
        self.list
            .push(format!("{} › {field}: {message}", self.context));
    }
}

/// Checks one world's outcome against an expectation.
pub fn check(world: &str, expect: &Expect, got: &Observed, out: &mut Mismatches<'_>) {
    if let Some(status) = expect.status {
        if got.status != status {
            out.push(
                "status",
                format!("{world} got {}, expected {status}", got.status),
            );
        }
    }
    for (name, want) in &expect.headers {
        check_value(
            world,
            &format!("headers.{name}"),
            want,
            first(&got.headers, name),
            out,
        );
    }
    if let Some(want) = &expect.body {
        check_value(world, "body", want, Some(&got.body), out);
    }
    if let Some(want) = &expect.upstream {
        check_upstream(world, "upstream", want, got.upstream.as_ref(), out);
    }
    if let Some(want) = &expect.callouts {
        check_callouts(world, want, got, out);
    }
    for (name, want) in &expect.metrics {
        let value = got.metrics.get(name).copied();
        if !want.matches(value) {
            out.push(
                &format!("metrics.{name}"),
                format!("{world} got {value:?}, expected {want}"),
            );
        }
    }
    check_logs(world, &expect.logs, &got.logs, out);
    for unwanted in &expect.not_logged {
        if let Some(line) = got.logs.iter().find(|l| l.contains(unwanted.as_str())) {
            out.push(
                "not_logged",
                format!("{world} logged {line:?}, which contains {unwanted:?}"),
            );
        }
    }
}

pub fn check_wait(world: &str, wait: &WaitFor, got: &Waited, out: &mut Mismatches<'_>) {
    if got.value.is_none_or(|v| v < wait.at_least) {
        out.push(
            &format!("metrics.{}", wait.metric),
            format!(
                "{world} got {:?} within {} ms, expected >= {}",
                got.value, wait.timeout_ms, wait.at_least
            ),
        );
    }
    check_logs(world, &wait.logs, &got.logs, out);
}

/// Each wanted line must appear after the one before it (other lines may come between).
fn check_logs(world: &str, wants: &[String], logs: &[String], out: &mut Mismatches<'_>) {
    let mut rest = logs;
    for want in wants {
        match rest.iter().position(|l| l.contains(want.as_str())) {
            Some(i) => rest = rest.get(i + 1..).unwrap_or_default(),
            None => {
                out.push(
                    "logs",
                    format!("{world} logged no line containing {want:?} (in this order); it logged {logs:#?}"),
                );
                return;
            }
        }
    }
}

fn check_value(
    world: &str,
    field: &str,
    want: &ValueMatch,
    got: Option<&str>,
    out: &mut Mismatches<'_>,
) {
    if !want.matches(got) {
        out.push(field, format!("{world} got {got:?}, expected {want}"));
    }
}

fn check_upstream(
    world: &str,
    field: &str,
    want: &UpstreamExpect,
    got: Option<&EchoedRequest>,
    out: &mut Mismatches<'_>,
) {
    let Some(got) = got else {
        if want.received {
            out.push(field, format!("{world}: the upstream received nothing"));
        }
        return;
    };
    if !want.received {
        out.push(
            field,
            format!("{world}: the upstream received {got:?}, expected nothing"),
        );
        return;
    }
    if let Some(method) = &want.method {
        if &got.method != method {
            out.push(
                &format!("{field}.method"),
                format!("{world} got {:?}, expected {method:?}", got.method),
            );
        }
    }
    if let Some(path) = &want.path {
        if &got.path != path {
            out.push(
                &format!("{field}.path"),
                format!("{world} got {:?}, expected {path:?}", got.path),
            );
        }
    }
    for (name, value) in &want.headers {
        check_value(
            world,
            &format!("{field}.headers.{name}"),
            value,
            got.header(name),
            out,
        );
    }
    if let Some(body) = &want.body {
        check_value(world, &format!("{field}.body"), body, Some(&got.body), out);
    }
}

fn check_callouts(world: &str, want: &[CalloutExpect], got: &Observed, out: &mut Mismatches<'_>) {
    if want.len() != got.callouts.len() {
        out.push(
            "callouts",
            format!(
                "{world} saw {} callouts, expected {}: {:#?}",
                got.callouts.len(),
                want.len(),
                got.callouts
            ),
        );
        return;
    }
    for (i, (want, got)) in want.iter().zip(&got.callouts).enumerate() {
        if want.cluster != got.cluster {
            out.push(
                &format!("callouts[{i}].cluster"),
                format!("{world} got {:?}, expected {:?}", got.cluster, want.cluster),
            );
        }
        let as_upstream = UpstreamExpect {
            received: true,
            method: want.method.clone(),
            path: want.path.clone(),
            headers: want.headers.clone(),
            body: want.body.clone(),
        };
        check_upstream(
            world,
            &format!("callouts[{i}]"),
            &as_upstream,
            Some(&got.request),
            out,
        );
    }
}

/// What the cross-world comparison leaves out for one request.
#[derive(Default)]
struct Skip {
    status: bool,
    headers: BTreeSet<String>,
    body: bool,
    upstream: bool,
    upstream_fields: BTreeSet<String>,
    callouts: bool,
    metrics: BTreeSet<String>,
}

impl Skip {
    fn of(request: &Request) -> Self {
        let mut skip = Skip::default();
        // Patterns: the value is world-dependent.
        let e = &request.expect;
        skip.headers.extend(patterns(e.headers.iter()));
        skip.body = e.body.as_ref().is_some_and(ValueMatch::is_pattern);
        if let Some(u) = &e.upstream {
            skip.upstream_fields.extend(
                patterns(u.headers.iter())
                    .into_iter()
                    .map(|h| format!("headers.{h}")),
            );
            if u.body.as_ref().is_some_and(ValueMatch::is_pattern) {
                skip.upstream_fields.insert("body".into());
            }
        }
        for c in e.callouts.iter().flatten() {
            skip.upstream_fields.extend(
                patterns(c.headers.iter())
                    .into_iter()
                    .map(|h| format!("callout.headers.{h}")),
            );
            if c.body.as_ref().is_some_and(ValueMatch::is_pattern) {
                skip.upstream_fields.insert("callout.body".into());
            }
        }
        skip.metrics.extend(
            e.metrics
                .iter()
                .filter(|(_, m)| m.is_pattern())
                .map(|(k, _)| k.clone()),
        );
        // Recorded differences: everything the section names.
        for only in [&request.envoy_only, &request.harness_only]
            .into_iter()
            .flatten()
        {
            let e = &only.expect;
            skip.status |= e.status.is_some();
            skip.headers.extend(e.headers.keys().cloned());
            skip.body |= e.body.is_some();
            if let Some(u) = &e.upstream {
                skip.upstream |= !u.received
                    || (u.method.is_none()
                        && u.path.is_none()
                        && u.headers.is_empty()
                        && u.body.is_none());
                if u.method.is_some() {
                    skip.upstream_fields.insert("method".into());
                }
                if u.path.is_some() {
                    skip.upstream_fields.insert("path".into());
                }
                if u.body.is_some() {
                    skip.upstream_fields.insert("body".into());
                }
                skip.upstream_fields
                    .extend(u.headers.keys().map(|h| format!("headers.{h}")));
            }
            skip.callouts |= e.callouts.is_some();
            skip.metrics.extend(e.metrics.keys().cloned());
        }
        skip
    }
}

fn patterns<'a>(map: impl Iterator<Item = (&'a String, &'a ValueMatch)>) -> Vec<String> {
    map.filter(|(_, v)| v.is_pattern())
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect()
}

/// Headers only a proxy adds, so only one world has them.
fn proxy_header(name: &str) -> bool {
    name.starts_with("x-envoy-") || name.starts_with("x-forwarded-") || name == "x-request-id"
}

/// The `x-` headers worth comparing between worlds, by name.
fn x_headers<'a>(
    headers: &'a [(String, String)],
    skip: &BTreeSet<String>,
    prefix: &str,
) -> BTreeSet<&'a str> {
    headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            k.starts_with("x-") && !proxy_header(k) && !skip.contains(&format!("{prefix}{k}"))
        })
        .collect()
}

fn cross_headers(
    field: &str,
    harness: &[(String, String)],
    envoy: &[(String, String)],
    skip: &BTreeSet<String>,
    prefix: &str,
    out: &mut Mismatches<'_>,
) {
    let names: BTreeSet<&str> = x_headers(harness, skip, prefix)
        .union(&x_headers(envoy, skip, prefix))
        .copied()
        .collect();
    for name in names {
        let (h, e) = (values(harness, name), values(envoy, name));
        if h != e {
            out.push(
                &format!("{field}.{name}"),
                format!("harness {h:?} ≠ envoy {e:?}"),
            );
        }
    }
}

fn cross_request(
    field: &str,
    harness: &EchoedRequest,
    envoy: &EchoedRequest,
    skip: &BTreeSet<String>,
    prefix: &str,
    out: &mut Mismatches<'_>,
) {
    let fields = [
        ("method", &harness.method, &envoy.method),
        ("path", &harness.path, &envoy.path),
        ("body", &harness.body, &envoy.body),
    ];
    for (name, h, e) in fields {
        if h != e && !skip.contains(&format!("{prefix}{name}")) {
            out.push(
                &format!("{field}.{name}"),
                format!("harness {h:?} ≠ envoy {e:?}"),
            );
        }
    }
    let headers_prefix = format!("{prefix}headers.");
    cross_headers(
        &format!("{field}.headers"),
        &harness.headers,
        &envoy.headers,
        skip,
        &headers_prefix,
        out,
    );
}

/// Compares the harness's outcome with Envoy's.
pub fn cross(request: &Request, harness: &Observed, envoy: &Observed, out: &mut Mismatches<'_>) {
    let skip = Skip::of(request);
    if !skip.status && harness.status != envoy.status {
        out.push(
            "status",
            format!("harness {} ≠ envoy {}", harness.status, envoy.status),
        );
    }
    cross_headers(
        "headers",
        &harness.headers,
        &envoy.headers,
        &skip.headers,
        "",
        out,
    );
    let local = harness.upstream.is_none() && envoy.upstream.is_none();
    if local && !skip.body && harness.body != envoy.body {
        out.push(
            "body",
            format!("harness {:?} ≠ envoy {:?}", harness.body, envoy.body),
        );
    }
    if !skip.upstream {
        match (&harness.upstream, &envoy.upstream) {
            (Some(h), Some(e)) => cross_request("upstream", h, e, &skip.upstream_fields, "", out),
            (None, None) => {}
            (h, e) => out.push(
                "upstream",
                format!(
                    "harness {} ≠ envoy {}",
                    reached(h.as_ref()),
                    reached(e.as_ref())
                ),
            ),
        }
    }
    if !skip.callouts {
        if harness.callouts.len() != envoy.callouts.len() {
            out.push(
                "callouts",
                format!(
                    "harness {:#?} ≠ envoy {:#?}",
                    harness.callouts, envoy.callouts
                ),
            );
        } else {
            for (i, (h, e)) in harness.callouts.iter().zip(&envoy.callouts).enumerate() {
                if h.cluster != e.cluster {
                    out.push(
                        &format!("callouts[{i}].cluster"),
                        format!("harness {:?} ≠ envoy {:?}", h.cluster, e.cluster),
                    );
                }
                cross_request(
                    &format!("callouts[{i}]"),
                    &h.request,
                    &e.request,
                    &skip.upstream_fields,
                    "callout.",
                    out,
                );
            }
        }
    }
    for name in request.expect.metrics.keys() {
        if skip.metrics.contains(name) {
            continue;
        }
        let (h, e) = (harness.metrics.get(name), envoy.metrics.get(name));
        if h != e {
            out.push(
                &format!("metrics.{name}"),
                format!("harness {h:?} ≠ envoy {e:?}"),
            );
        }
    }
}

fn reached(request: Option<&EchoedRequest>) -> String {
    match request {
        Some(r) => format!("reached the upstream ({} {})", r.method, r.path),
        None => "did not reach the upstream".into(),
    }
}
