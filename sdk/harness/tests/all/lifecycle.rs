//! Loading modules, VM start and configuration, several plugins in one VM, the module cache.

use palisade_harness::{AbiVersion, HarnessError, HostBuilder, PluginConfig};

use crate::support::{probe, raw};

#[test]
fn starts_and_configures() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .vm_configuration("vm-config")
        .plugin(PluginConfig::new("http").configuration("tick=0"))
        .build()?;
    assert_eq!(host.abi_version(), AbiVersion::V0_2_1);
    let outcome = host.start()?;
    assert!(outcome.vm_started && outcome.configured);
    assert!(host.plugin_running("http"));
    let logs = host.log_messages(palisade_harness::LogLevel::Info);
    assert!(logs.contains(&"vm_start: vm-config"));
    assert!(logs.contains(&"configure: tick=0"));
    Ok(())
}

#[test]
fn on_vm_start_false_is_reported() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .vm_configuration("fail")
        .build()?;
    let outcome = host.start()?;
    assert!(!outcome.vm_started);
    assert!(!outcome.ok());
    assert!(matches!(
        host.new_http_stream(),
        Err(HarnessError::PluginNotRunning(_))
    ));
    Ok(())
}

#[test]
fn on_configure_false_is_reported() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("a").configuration("fail=1"))
        .plugin(PluginConfig::new("b"))
        .build()?;
    let outcome = host.start()?;
    assert!(outcome.vm_started);
    assert!(!outcome.configured);
    assert!(!host.plugin_running("a"));
    assert!(host.plugin_running("b"));
    assert!(host.new_http_stream_for("b").is_ok());
    Ok(())
}

#[test]
fn several_plugins_share_one_vm() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("first"))
        .plugin(PluginConfig::new("second"))
        .build()?;
    assert!(host.start()?.ok());
    let a = host.new_http_stream_for("first")?;
    let b = host.new_http_stream_for("second")?;
    host.request_headers(a, &[(":path", "/a")], true)?;
    host.request_headers(b, &[(":path", "/b")], true)?;
    // Both plugins count into the same metric of the one VM.
    assert_eq!(
        host.metric("probe_requests"),
        Some(palisade_harness::MetricValue::Counter(2))
    );
    assert!(matches!(
        host.new_http_stream_for("third"),
        Err(HarnessError::UnknownPlugin(_))
    ));
    Ok(())
}

#[test]
fn abi_0_2_0_with_malloc_loads() -> anyhow::Result<()> {
    let mut host = HostBuilder::from_file(raw())
        .plugin(PluginConfig::new("raw").configuration("nothing"))
        .build()?;
    assert_eq!(host.abi_version(), AbiVersion::V0_2_0);
    assert!(host.start()?.ok());
    // The configuration came back through proxy_get_buffer_bytes, allocated with `malloc`.
    assert!(host
        .log_messages(palisade_harness::LogLevel::Info)
        .contains(&"configure=0:nothing"));
    Ok(())
}

#[test]
fn bad_modules_are_typed_errors() {
    assert!(matches!(
        HostBuilder::from_bytes(b"not wasm".to_vec()).build(),
        Err(HarnessError::Compile(_))
    ));
    // A valid module without an ABI marker: (module)
    let empty = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    assert!(matches!(
        HostBuilder::from_bytes(empty).build(),
        Err(HarnessError::NoAbiVersion)
    ));
    // A module importing a function the host does not have: (import "env" "nope" (func)) + marker export.
    let missing_import = vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
        0x02, 0x0c, 0x01, 0x03, b'e', b'n', b'v', 0x04, b'n', b'o', b'p', b'e', 0x00,
        0x00, // import
        0x03, 0x02, 0x01, 0x00, // function section: one func of type 0
        0x07, 0x1b, 0x01, 0x17, // export section, one export, name length 23
        b'p', b'r', b'o', b'x', b'y', b'_', b'a', b'b', b'i', b'_', b'v', b'e', b'r', b's', b'i',
        b'o', b'n', b'_', b'0', b'_', b'2', b'_', b'1', 0x00, 0x01, // func index 1
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
    ];
    assert!(matches!(
        HostBuilder::from_bytes(missing_import).build(),
        Err(HarnessError::Link(_))
    ));
    assert!(matches!(
        HostBuilder::from_file("/nonexistent.wasm").build(),
        Err(HarnessError::Read { .. })
    ));
}

#[test]
fn hosts_are_independent_and_run_in_parallel() -> anyhow::Result<()> {
    let path = probe();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut host = HostBuilder::from_file(path).build()?;
                assert!(host.start()?.ok());
                for _ in 0..=i {
                    let s = host.new_http_stream()?;
                    host.request_headers(s, &[(":path", "/")], true)?;
                }
                match host.metric("probe_requests") {
                    Some(palisade_harness::MetricValue::Counter(n)) => Ok(n),
                    other => anyhow::bail!("unexpected {other:?}"),
                }
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().expect("thread")?, i as u64 + 1);
    }
    Ok(())
}
