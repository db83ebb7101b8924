//! The `palisade` binary as a user runs it: output and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{palisade, text};

#[test]
fn up_sends_demo_traffic_through_real_envoy_and_prints_the_decision_events() {
    let out = palisade(&["up", "--send-demo-traffic"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "up failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    // The example's seven cases: each answer as its case expects...
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" ok ")).count(),
        7,
        "{stdout}"
    );
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    // ...and one decision event each, read back from the real sink.
    let decisions: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("rule data.envoy.authz.allow in "))
        .collect();
    assert_eq!(decisions.len(), 7, "{stdout}");
    assert_eq!(
        decisions.iter().filter(|l| l.contains("ALLOW 200")).count(),
        4,
        "{stdout}"
    );
    assert_eq!(
        decisions.iter().filter(|l| l.contains("DENY  403")).count(),
        3,
        "{stdout}"
    );
    assert!(
        decisions.iter().any(|l| l.contains("DELETE /orders/7")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"type\": \"io.palisade.authz.decision\""),
        "the first event is printed in full:\n{stdout}"
    );
    assert!(
        stdout.contains("7 requests answered as their cases expect; 7 decision events delivered"),
        "{stdout}"
    );
}

#[test]
fn up_fails_when_an_answer_is_not_what_the_case_expects() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.rego"),
        "package envoy.authz\nimport rego.v1\ndefault allow := false\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cases.yaml"),
        "cases:\n  - note: wrongly expected to pass\n    request: {path: /x}\n    expect: {allowed: true}\n",
    )
    .unwrap();
    let out = palisade(&["up", dir.path().to_str().unwrap(), "--send-demo-traffic"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("UNEXPECTED"), "{stdout}");
    assert!(
        stdout.contains("DENY  403 GET"),
        "the denial's event still arrives:\n{stdout}"
    );
    assert!(
        text(&out.stderr).contains("1 of 1 requests were not answered as their case expects"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn build_prints_path_size_and_sha256() {
    let out = palisade(&["build", "tenant-header"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let mut lines = stdout.lines();
    let path = lines.next().unwrap();
    assert!(path.ends_with("tenant_header.wasm"), "{stdout}");
    let size: u64 = lines
        .next()
        .unwrap()
        .strip_prefix("size: ")
        .unwrap()
        .strip_suffix(" bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(size, std::fs::metadata(path).unwrap().len());
    let sha = lines.next().unwrap().strip_prefix("sha256: ").unwrap();
    assert_eq!(sha.len(), 64);
    assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn build_of_an_unknown_package_fails_with_a_message() {
    let out = palisade(&["build", "no-such-filter"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: cargo build of no-such-filter"),
        "{}",
        text(&out.stderr)
    );
}

/// The ids of the live processes whose parent is `parent` and whose command name is `name`.
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split at its closing parenthesis.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if comm == name && fields.get(1) == Some(&parent.to_string().as_str()) {
            found.push(pid);
        }
    }
    found
}

/// Whether a process is alive (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, t)| !t.trim_start().starts_with('Z'))
    })
}

#[test]
fn envoy_dies_with_palisade_up_when_it_is_killed() {
    let mut up = support::command()
        .args(["up", "--port", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let envoy = loop {
        if let Some(pid) = children_named(up.id(), "envoy").first() {
            break *pid;
        }
        if let Some(status) = up.try_wait().unwrap() {
            panic!("palisade up exited before starting Envoy: {status}");
        }
        assert!(std::time::Instant::now() < deadline, "no Envoy after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // SIGKILL: no destructor, no signal handler of palisade's runs.
    up.kill().unwrap();
    up.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(envoy) {
        assert!(
            std::time::Instant::now() < deadline,
            "Envoy (pid {envoy}) outlived the killed palisade up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn new_rego_makes_a_project_that_passes_its_tests_and_whose_envoy_bootstrap_enforces_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::palisade_in(dir.path(), &["new", "rego", "orders-policy"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let project = dir.path().join("orders-policy");
    for file in [
        "policy.rego",
        "data.json",
        "policy_test.rego",
        "cases.yaml",
        "envoy.yaml",
        "wasmplugin.yaml",
        "README.md",
    ] {
        assert!(project.join(file).is_file(), "no {file}");
    }
    let again = support::palisade_in(dir.path(), &["new", "rego", "orders-policy"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing directory is kept"
    );

    let out = support::palisade_in(&project, &["test"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.ends_with("\n7 passed, 0 failed\n"), "{stdout}");

    // The bootstrap as written, on free ports, with the module `palisade module` writes and an
    // echo server as the service.
    let out = support::palisade_in(&project, &["module"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let upstream = palisade_testkit::echo::EchoServer::start().unwrap();
    let bootstrap = std::fs::read_to_string(project.join("envoy.yaml"))
        .unwrap()
        .replace("port_value: 9901", "port_value: 0")
        .replace(
            "address: 0.0.0.0, port_value: 10000",
            "address: 127.0.0.1, port_value: 0",
        )
        .replace(
            "port_value: 8080",
            &format!("port_value: {}", upstream.port()),
        )
        .replace(
            "filename: rego_authz.wasm",
            &format!("filename: {}", project.join("rego_authz.wasm").display()),
        );
    let envoy = palisade_testkit::envoy::Envoy::start(&bootstrap).unwrap();
    let listener = envoy.listener("ingress").unwrap();
    let client = palisade_testkit::envoy::http_client();
    let send = |method: &str, user: &str| {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{listener}/items/1"))
            .header("x-user", user)
            .body(String::new())
            .unwrap();
        let mut response = client.run(request).unwrap();
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), body)
    };
    assert_eq!(send("GET", "anyone").0, 200);
    assert_eq!(send("DELETE", "mallory"), (403, "forbidden\n".to_string()));
    assert_eq!(send("DELETE", "alice").0, 200);
    let last = upstream.received().pop().unwrap();
    assert_eq!(last.header("x-writer"), Some("alice"), "{last:?}");
}

#[test]
fn the_wasm_plugins_palisade_new_writes_match_the_crd_schema_and_the_filter_accepts_rego_s() {
    use palisade_harness::{HostBuilder, LogLevel, PluginConfig};
    use palisade_testkit::istio;

    let wasm_plugin = |project: &std::path::Path| -> serde_json::Value {
        let file = project.join("wasmplugin.yaml");
        serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = support::palisade_in(dir.path(), &["new", "rego", "orders-policy"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = wasm_plugin(&dir.path().join("orders-policy"));
    assert_eq!(istio::check(&doc).unwrap(), Vec::<String>::new());
    let filter = istio::wasm_plugin(&doc).unwrap();
    assert_eq!(filter.package, "rego-authz");
    let wasm = palisade_build::build_once(&filter.package).unwrap();
    let mut host = HostBuilder::from_file(wasm)
        .plugin(
            PluginConfig::new(&filter.root_id)
                .configuration(serde_json::to_string(&filter.configuration).unwrap()),
        )
        .build()
        .unwrap();
    let outcome = host.start().unwrap();
    assert!(
        outcome.ok(),
        "{:?}",
        host.log_messages_from(LogLevel::Error)
    );

    // The Rust project's WasmPlugin names an image of its own filter: the schema check alone
    // (its filter is tested by the project's own tests: scripts/standalone).
    let root = palisade_testkit::workspace::root();
    let out = support::palisade_in(
        dir.path(),
        &[
            "new",
            "rust",
            "my-policy",
            "--sdk-path",
            root.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = wasm_plugin(&dir.path().join("my-policy"));
    assert_eq!(istio::check(&doc).unwrap(), Vec::<String>::new());
}
