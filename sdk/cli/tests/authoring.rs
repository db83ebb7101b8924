//! The policy author's commands as a user runs them: `palisade test`, `palisade eval`,
//! `palisade build` and their help; output and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

mod support;

use support::{palisade, palisade_in, text};

fn workspace() -> PathBuf {
    palisade_testkit::workspace::root()
}

/// rego-authz, built once per test process: the module the command carries is this one
/// (`version_names_the_module_the_command_carries_and_module_writes_it`); some commands get it
/// with `--wasm`, to test that option.
fn wasm() -> String {
    palisade_build::build_once("rego-authz")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A policy directory with one passing and two failing cases, and one whose policy does not
/// parse.
fn policies_with_failures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        good.join("policy.rego"),
        "package envoy.authz\n\nimport rego.v1\n\ndefault allow := false\n\n\
         allow if input.attributes.request.http.method == \"GET\"\n",
    )
    .unwrap();
    std::fs::write(
        good.join("cases.yaml"),
        "cases:\n\
         \x20 - note: GET is allowed\n\
         \x20   request: {path: /x}\n\
         \x20   expect: {allowed: true}\n\
         \x20 - note: POST is allowed\n\
         \x20   request: {method: POST, path: /x}\n\
         \x20   expect: {allowed: true}\n\
         \x20 - note: DELETE gets a challenge\n\
         \x20   request: {method: DELETE, path: /x}\n\
         \x20   expect: {allowed: false, status: 401, body: login first, headers: {www-authenticate: Bearer}}\n",
    )
    .unwrap();
    std::fs::write(
        bad.join("policy.rego"),
        "package envoy.authz\n\nimport rego.v1\n\nallow if {\n  input.attributes.request.http.method ==\n}\n",
    )
    .unwrap();
    std::fs::write(
        bad.join("cases.yaml"),
        "cases:\n  - note: anything\n    request: {path: /}\n    expect: {allowed: true}\n",
    )
    .unwrap();
    dir
}

#[test]
fn test_reports_each_case_a_diff_on_failure_and_where_a_syntax_error_is() {
    let dir = policies_with_failures();
    let out = palisade_in(dir.path(), &["test", "--wasm", &wasm()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("\nPASS good/cases.yaml: GET is allowed ("),
        "{stdout}"
    );
    // An unexpected denial: the diff shows what the denial looked like.
    assert!(
        stdout.contains("FAIL good/cases.yaml: POST is allowed (",),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    expected (-) vs actual (+) decision:\n    - allowed: true\n    + allowed: false\n    + status: 403\n"
        ),
        "{stdout}"
    );
    // A denial that differs in status, headers and body.
    assert!(
        stdout.contains(
            "    - status: 401\n    + status: 403\n    - header www-authenticate: \"Bearer\"\n    + header www-authenticate: (absent)\n    - body: \"login first\"\n    + body: \"\"\n"
        ),
        "{stdout}"
    );
    // The syntax error is reported at its file, line and column.
    assert!(
        stdout.starts_with(
            "FAIL bad/cases.yaml: the policies did not load\n      bad/policy.rego:7:1: "
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n1 passed, 3 failed\n"), "{stdout}");
    assert!(
        text(&out.stderr).contains("==> compiling"),
        "progress goes to stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn test_writes_json_for_ci() {
    let dir = policies_with_failures();
    let out = palisade_in(
        dir.path(),
        &["test", "good", "--format", "json", "--wasm", &wasm()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], 1);
    assert_eq!(report["failed"], 2);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["result"], "pass");
    assert_eq!(results[0]["file"], "good/cases.yaml");
    assert!(results[0]["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(results[2]["note"], "DELETE gets a challenge");
    assert_eq!(
        results[2]["mismatches"][0],
        serde_json::json!({"field": "status", "expected": "401", "actual": "403"})
    );
}

#[test]
fn test_passes_on_the_examples() {
    let out = palisade_in(&workspace(), &["test", "examples/rego"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("PASS examples/rego/rbac/cases.yaml: an admin may delete an order ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS examples/rego/opa-envoy-primer/cases.yaml: an expired token ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS examples/rego/rbac/policy_test.rego: data.envoy.authz_test.test_grants_come_from_the_data\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n18 passed, 0 failed\n"), "{stdout}");
    // The module the command carries: nothing is built.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("==> compiling rego_authz.wasm (embedded)") && !stderr.contains("building"),
        "{stderr}"
    );
}

/// A policy and OPA unit tests that pass, fail (undefined, false), are skipped (`todo_`), and
/// fail on a runtime error.
fn opa_tests() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.rego"),
        "package authz\n\nimport rego.v1\n\nallow if input.user in data.admins\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("data.json"), r#"{"admins": ["ann"]}"#).unwrap();
    std::fs::write(
        dir.path().join("policy_test.rego"),
        "package authz_test\n\nimport rego.v1\n\nimport data.authz\n\n\
         test_ann_is_admin if authz.allow with input as {\"user\": \"ann\"}\n\n\
         test_bob_is_admin if {\n\tauthz.allow with input as {\"user\": \"bob\"}\n}\n\n\
         test_bob_with_other_data if authz.allow with input as {\"user\": \"bob\"} with data.admins as [\"bob\"]\n\n\
         test_false := false\n\n\
         test_builtin_error if to_number(\"abc\") == 1\n\n\
         test_too_big if count(numbers.range(1, 1000000000)) > 0\n\n\
         todo_test_later if false\n",
    )
    .unwrap();
    dir
}

#[test]
fn test_runs_opa_unit_tests_as_opa_test_does() {
    let dir = opa_tests();
    let out = palisade_in(dir.path(), &["test", "-v"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for line in [
        "PASS policy_test.rego: data.authz_test.test_ann_is_admin\n",
        "FAIL policy_test.rego: data.authz_test.test_bob_is_admin\n      the test is undefined\n      | test_bob_is_admin if {\n      | \tauthz.allow with input as {\"user\": \"bob\"}\n      | }\n",
        "PASS policy_test.rego: data.authz_test.test_bob_with_other_data\n",
        "FAIL policy_test.rego: data.authz_test.test_false\n      the test is false\n",
        "SKIP policy_test.rego: data.authz_test.todo_test_later (todo_ test)\n",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    // A builtin's error leaves the test undefined, as in OPA (non-strict builtin errors).
    assert!(
        stdout.contains(
            "FAIL policy_test.rego: data.authz_test.test_builtin_error\n      the test is undefined\n"
        ),
        "{stdout}"
    );
    // What the filter cannot do fails the test that asked, with the reason; the others still
    // run.
    assert!(
        stdout.contains("FAIL policy_test.rego: data.authz_test.test_too_big\n      policy rego_authz failed: evaluation budget exceeded"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\n2 passed, 4 failed, 1 skipped\n"),
        "{stdout}"
    );

    let out = palisade_in(dir.path(), &["test", "--run", "ann|other_data$"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.ends_with("\n2 passed, 0 failed\n"), "{stdout}");
    assert!(!stdout.contains("| "), "rule text without -v: {stdout}");

    let out = palisade_in(dir.path(), &["test", "--run", "("]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--run is not a regular expression"));
}

#[test]
fn version_names_the_module_the_command_carries_and_module_writes_it() {
    let out = palisade(&["version"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let built = std::fs::read(wasm()).unwrap();
    let sha = palisade_build::sha256_hex(&built);
    assert!(
        stdout.contains(&format!("rego_authz.wasm sha256: {sha}\n")),
        "the embedded module is not this build's rego-authz ({sha}):\n{stdout}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = palisade_in(dir.path(), &["module", "m.wasm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("sha256: {sha}")));
    assert_eq!(std::fs::read(dir.path().join("m.wasm")).unwrap(), built);
}

#[test]
fn eval_prints_the_input_the_decision_the_time_and_the_true_rules() {
    let out = palisade_in(
        &workspace(),
        &[
            "eval",
            "examples/rego/rbac",
            "/orders?id=7",
            "-X",
            "POST",
            "-H",
            "X-Role: clerk",
            "-d",
            "{}",
            "--explain",
            "--wasm",
            &wasm(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with(
            "policy: examples/rego/rbac/policy.rego (rule data.envoy.authz.allow)\n\
             request: POST /orders?id=7\n  x-role: clerk\n  body: \"{}\"\n"
        ),
        "{stdout}"
    );
    // The input document, as the filter built it.
    let input_start = stdout.find("\ninput (").unwrap();
    let input_text = &stdout[stdout[input_start..].find("{").unwrap() + input_start..];
    let input_end = input_text.find("\n}\n").unwrap() + 2;
    let input: serde_json::Value = serde_json::from_str(&input_text[..input_end]).unwrap();
    assert_eq!(input["attributes"]["request"]["http"]["method"], "POST");
    assert_eq!(
        input["attributes"]["request"]["http"]["headers"]["x-role"],
        "clerk"
    );
    assert_eq!(input["parsed_query"]["id"], serde_json::json!(["7"]));
    // The decision and what it changed upstream.
    assert!(
        stdout.contains(
            "decision: allowed\n  upstream request: POST /orders?id=7\n  header set upstream: x-user-role: clerk\n"
        ),
        "{stdout}"
    );
    // The decision event the filter sent, with the decision id of its dynamic metadata.
    let event_start = stdout
        .find("\ndecision event (the CloudEvent the filter sent to its sink):\n")
        .unwrap();
    let event_text = &stdout[stdout[event_start..].find("\n{").unwrap() + event_start + 1..];
    let event_end = event_text.find("\n}\n").unwrap() + 2;
    let event: serde_json::Value = serde_json::from_str(&event_text[..event_end]).unwrap();
    assert_eq!(event["type"], "io.palisade.authz.decision", "{stdout}");
    assert_eq!(event["subject"], "/orders");
    assert_eq!(event["data"]["allowed"], true);
    assert_eq!(event["data"]["rule"], "data.envoy.authz.allow");
    let decision_id = event["data"]["decision_id"].as_str().unwrap();
    assert!(
        stdout.contains(&format!("\"decision_id\":\"{decision_id}\"")),
        "the event's decision id is the metadata's:\n{stdout}"
    );
    assert!(stdout.contains("\ntime: decided in "), "{stdout}");
    // --explain: which rules were true, which had values, which were undefined.
    assert!(stdout.contains("\n  true       granted\n"), "{stdout}");
    assert!(
        stdout.contains("\n  value      role = \"clerk\"\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  undefined  public_read\n"), "{stdout}");
    // A body without with_body is pointed out.
    assert!(
        text(&out.stderr).contains("with_body"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn eval_takes_a_request_from_a_case_file_and_writes_json() {
    let out = palisade_in(
        &workspace(),
        &[
            "eval",
            "--case",
            "examples/rego/rbac/cases.yaml",
            "--pick",
            "clerk may not delete",
            "--format",
            "json",
            "--wasm",
            &wasm(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["rule"], "data.envoy.authz.allow");
    assert_eq!(result["request"]["method"], "DELETE");
    assert_eq!(
        result["input"]["attributes"]["request"]["http"]["path"],
        "/orders/7"
    );
    assert_eq!(result["decision"]["allowed"], false);
    assert_eq!(result["decision"]["status"], 403);
    assert_eq!(
        result["decision"]["body"],
        "forbidden: no role grants this request\n"
    );
    assert!(result["time_ms"]["decide"].as_f64().unwrap() > 0.0);
}

#[test]
fn usage_errors_exit_with_2_and_say_what_to_do() {
    let root = workspace();
    let cases = [
        (
            vec!["eval", "examples/rego/rbac", "/x", "-H", "no-colon"],
            "write a header as 'name: value'",
        ),
        (
            vec!["eval", "examples/rego/rbac", "orders"],
            "must start with /",
        ),
        (
            vec!["eval", "--case", "examples/rego/rbac/cases.yaml"],
            "pick one case with --pick N or --pick TEXT:\n   1  anyone may read a public page",
        ),
        (vec!["eval"], "<POLICY>"),
        (
            vec!["test", "no/such/dir"],
            "no/such/dir: no such file or directory",
        ),
        (vec!["test", "--format", "xml"], "invalid value 'xml'"),
    ];
    for (args, message) in cases {
        let out = palisade_in(&root, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let root = workspace();
    for command in [
        "test", "eval", "build", "up", "bench", "package", "new", "module", "version",
    ] {
        for flag in ["-h", "--help"] {
            let out = palisade_in(&root, &[command, flag]);
            let stdout = text(&out.stdout);
            assert!(out.status.success(), "{command} {flag}");
            assert!(
                stdout.contains("Example") && stdout.contains(&format!("palisade {command}")),
                "{command} {flag}:\n{stdout}"
            );
        }
    }
    let out = palisade_in(&root, &["--help"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Examples:\n  palisade up --send-demo-traffic\n  palisade test"),
        "{stdout}"
    );
}

#[test]
fn build_without_a_crate_builds_the_one_in_the_current_directory() {
    let out = palisade_in(&workspace().join("examples/tenant-header"), &["build"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("tenant_header.wasm"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("==> building tenant-header for wasm32-wasip1"),
        "{stderr}"
    );

    let empty = tempfile::tempdir().unwrap();
    let out = palisade_in(empty.path(), &["build"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Cargo.toml here: name the crate"),
        "{}",
        text(&out.stderr)
    );
}
