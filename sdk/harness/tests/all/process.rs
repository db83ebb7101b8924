//! An Envoy process's instances of a module (`HostBuilder::build_process`): N + 2 at concurrency
//! N, each with its own memory, sharing shared data, queues and metrics (what `tests/envoy/sdk.rs`
//! and the `abi_callbacks` scenario pin in Envoy 1.40).

use palisade_harness::{
    ClientRequest, HarnessError, HostBuilder, LogLevel, MetricValue, PluginConfig, Process, Thread,
};

use crate::support::{get, probe, wasm};

fn recorder_process(concurrency: u32) -> anyhow::Result<Process> {
    let mut process = HostBuilder::from_file(wasm("palisade-harness-recorder"))
        .plugin(PluginConfig::new("recorder"))
        .upstream(|_| palisade_harness::UpstreamResponse::new(200))
        .log_level(LogLevel::Info)
        .build_process(concurrency)?;
    assert!(process.start()?.ok());
    Ok(process)
}

#[test]
fn every_instance_starts_and_the_process_shares_data_and_metrics() -> anyhow::Result<()> {
    let mut process = recorder_process(2)?;
    assert_eq!(process.concurrency(), 2);
    let threads: Vec<Thread> = process.instances().map(|(thread, _)| thread).collect();
    assert_eq!(
        threads,
        [
            Thread::Base,
            Thread::Main,
            Thread::Worker(0),
            Thread::Worker(1)
        ]
    );
    for (thread, host) in process.instances() {
        let starts = host
            .logs()
            .iter()
            .filter(|l| l.message.starts_with("cb vm_start ctx=root"))
            .count();
        assert_eq!(starts, 1, "{thread:?}");
    }
    assert_eq!(
        process.metric("recorder_vm_starts"),
        Some(MetricValue::Counter(4))
    );
    assert_eq!(
        process.shared_data("recorder.vm_starts").map(|(v, _)| v),
        Some(b"4".to_vec())
    );
    let exchange = process.client_request(
        1,
        &ClientRequest::get("/").header("x-recorder", "instances"),
    )?;
    assert_eq!(exchange.response.status, 200);
    let worker = process.worker(1)?;
    assert!(worker
        .logs()
        .iter()
        .any(|l| l.message == "instances: 4 started in the process, 1 in this one"));
    // The request ran on worker 1 alone.
    let streams = |thread: Thread| {
        process
            .logs()
            .iter()
            .filter(|(t, l)| *t == thread && l.message.starts_with("cb request_headers"))
            .count()
    };
    assert_eq!(
        (streams(Thread::Worker(0)), streams(Thread::Worker(1))),
        (0, 1)
    );
    assert!(matches!(
        process.worker(2),
        Err(HarnessError::NoSuchWorker(2))
    ));
    Ok(())
}

#[test]
fn a_queue_belongs_to_the_instance_that_registered_it_last() -> anyhow::Result<()> {
    // The probe registers `probe_queue` in on_configure; the last instance to start (worker 1)
    // registers it last and owns it, as in Envoy's shared queue.
    let mut process = HostBuilder::from_file(probe())
        .plugin(PluginConfig::new("http"))
        .build_process(2)?;
    assert!(process.start()?.ok());
    let worker = process.worker(0)?;
    let s = worker.new_http_stream()?;
    worker.request_headers(s, &get("enqueue"), true)?;
    assert_eq!(
        worker.stream(s)?.request_headers.get("x-enqueue"),
        Some("Ok(())")
    );
    // Worker 0 enqueued; worker 1's root context is told once the event is over.
    process.advance_time(std::time::Duration::ZERO)?;
    let drained_by = |process: &Process| -> Vec<Thread> {
        process
            .logs()
            .iter()
            .filter(|(_, l)| l.message.ends_with("item: from-stream"))
            .map(|(thread, _)| *thread)
            .collect()
    };
    assert_eq!(drained_by(&process), [Thread::Worker(1)]);
    Ok(())
}

#[test]
fn the_base_instance_is_never_ticked() -> anyhow::Result<()> {
    let mut process = HostBuilder::from_file(wasm("palisade-harness-recorder"))
        .plugin(PluginConfig::new("recorder").configuration("tick=20"))
        .build_process(1)?;
    assert!(process.start()?.ok());
    process.advance_time(std::time::Duration::from_millis(100))?;
    let ticks = |n: u32| match process.metric(&format!("recorder_ticks_start{n}")) {
        Some(MetricValue::Counter(c)) => c,
        other => panic!("recorder_ticks_start{n}: {other:?}"),
    };
    assert_eq!((ticks(1), ticks(2), ticks(3)), (0, 5, 5));
    Ok(())
}
