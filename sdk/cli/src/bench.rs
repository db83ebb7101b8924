//! `palisade bench`: rego-authz against Envoy's native RBAC filter and no filter, side by side
//! in one run, in real Envoy with one worker, under the same load from `wrk`; the same filters
//! built natively (Envoy dynamic modules), beside the Rust example tenant-header; and
//! rego-authz, as Wasm and natively, with decision events to a real sink, for the cost of
//! emitting.
//!
//! Each round starts each bootstrap of `envoy-configs/bench/` in turn (so they all share the
//! machine's state of the moment), pins Envoy to CPU 0 and wrk to CPU 1, warms up, then
//! measures. The table gives medians over rounds, ratios to RBAC, and Envoy's CPU time per
//! request. A last run of the events variant with the sink stopped shows what the queue bound
//! holds Envoy's memory to.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use palisade_testkit::envoy::{self, Envoy};

/// One measured configuration.
struct Variant {
    name: &'static str,
    file: &'static str,
    /// The filter the file loads: the wasm module its `${WASM_PATH}` names, or for a `-native`
    /// file the dynamic module built from this package (`None` for a file without a filter).
    filter: Option<&'static str>,
    /// A Rego policy replacing the file's plugin configuration.
    policy: Option<&'static str>,
}

/// A policy that reads nothing and allows everything: what rego-authz costs before any
/// policy logic (the wasm VM's callbacks, reading the headers, the decision, its metadata, the
/// counters).
const ALLOW_ALL: &str = "package envoy.authz\n\nallow := true\n";

/// The bench's RBAC rules (the bootstrap's policy) with the role read into a local variable,
/// which takes them out of the request rules' shape: what the same decisions cost on regorus.
const RBAC_ON_REGORUS: &str = "package envoy.authz\n\nimport rego.v1\n\ndefault allow := false\n\n\
                               allow if {\n  input.attributes.request.http.method == \"GET\"\n  \
                               startswith(input.attributes.request.http.path, \"/public/\")\n}\n\n\
                               allow if {\n  role := input.attributes.request.http.headers[\"x-role\"]\n  \
                               role == \"admin\"\n}\n";

/// The SDK's test policy that reads the headers and allows (`tests/filters/request-probe`,
/// which accepts rego-authz's configuration): the floor of any policy written with the SDK.
const SDK_FLOOR: &str = "request-probe";

/// The example Rust policy (`examples/tenant-header`), measured natively.
const TENANT_HEADER: &str = "tenant-header";

const VARIANTS: &[Variant] = &[
    Variant {
        name: "no filter",
        file: "bench/no-filter.yaml",
        filter: None,
        policy: None,
    },
    Variant {
        name: "Envoy RBAC",
        file: "bench/rbac.yaml",
        filter: None,
        policy: None,
    },
    Variant {
        name: "SDK floor (allow)",
        file: "bench/rego-authz.yaml",
        filter: Some(SDK_FLOOR),
        policy: None,
    },
    Variant {
        name: "rego-authz allow-all",
        file: "bench/rego-authz.yaml",
        filter: Some("rego-authz"),
        policy: Some(ALLOW_ALL),
    },
    // The RBAC rules, which rego-authz answers as request rules, then on regorus.
    Variant {
        name: "rego-authz",
        file: "bench/rego-authz.yaml",
        filter: Some("rego-authz"),
        policy: None,
    },
    Variant {
        name: "rego-authz on regorus",
        file: "bench/rego-authz.yaml",
        filter: Some("rego-authz"),
        policy: Some(RBAC_ON_REGORUS),
    },
    // The same filters built natively, as Envoy dynamic modules.
    Variant {
        name: "native SDK floor",
        file: "bench/rego-authz-native.yaml",
        filter: Some(SDK_FLOOR),
        policy: None,
    },
    Variant {
        name: "native allow-all",
        file: "bench/rego-authz-native.yaml",
        filter: Some("rego-authz"),
        policy: Some(ALLOW_ALL),
    },
    Variant {
        name: "native rego-authz",
        file: "bench/rego-authz-native.yaml",
        filter: Some("rego-authz"),
        policy: None,
    },
    Variant {
        name: "native rego-authz on regorus",
        file: "bench/rego-authz-native.yaml",
        filter: Some("rego-authz"),
        policy: Some(RBAC_ON_REGORUS),
    },
    // A Rust policy natively: the example tenant-header. It decides the mix as the RBAC rules
    // do: it allows the two requests that name an allowed tenant (and sets a header upstream)
    // and denies the third, whose tenant is unknown.
    Variant {
        name: "native tenant-header",
        file: "bench/tenant-header-native.yaml",
        filter: Some(TENANT_HEADER),
        policy: None,
    },
    // Decision events to a real sink (started below): the cost of emitting, next to the
    // line above.
    Variant {
        name: "rego-authz + events",
        file: "bench/rego-authz-events.yaml",
        filter: Some("rego-authz"),
        policy: None,
    },
    Variant {
        name: "native rego-authz + events",
        file: "bench/rego-authz-native-events.yaml",
        filter: Some("rego-authz"),
        policy: None,
    },
];

/// The request mix: an allowed public GET, an allowed admin POST, a denied GET (for the RBAC
/// rules). Their tenants make tenant-header decide alike: two allowed tenants, then an unknown
/// one, so every policy row does the same work as RBAC's (two requests upstream, one local
/// denial).
const WRK_SCRIPT: &str = r#"
local requests = {}
local n = 0
init = function(args)
  requests[1] = wrk.format("GET", "/public/item?id=7", {["x-tenant-id"] = "acme"})
  requests[2] = wrk.format("POST", "/private/item", {["x-role"] = "admin", ["content-length"] = "0", ["x-tenant-id"] = "acme"})
  requests[3] = wrk.format("GET", "/private/item", {["x-tenant-id"] = "initech"})
end
request = function()
  n = n % 3 + 1
  return requests[n]
end
"#;

/// Settings for a run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Rounds over the variants.
    pub rounds: usize,
    /// Measured seconds per variant and round.
    pub seconds: u64,
    /// wrk connections.
    pub connections: u32,
    /// Run only the variants whose name contains one of these (the baselines, no filter and
    /// Envoy RBAC, always run); all when empty.
    pub only: Vec<String>,
}

impl BenchOptions {
    fn runs(&self, variant: &Variant) -> bool {
        let baseline = matches!(variant.name, "no filter" | "Envoy RBAC");
        baseline
            || self.only.is_empty()
            || self.only.iter().any(|o| variant.name.contains(o.as_str()))
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Envoy's CPU time (all threads, user and system) per request: the filter's cost on the
    /// request path even when the load generator, not Envoy, is what limits the rate.
    cpu_us: f64,
}

/// Runs the benchmark and prints the table.
pub fn run(options: &BenchOptions) -> anyhow::Result<()> {
    which("wrk").context("wrk not found: install it (apt-get install wrk) or run scripts/bench")?;
    println!("==> building rego-authz for wasm32-wasip1");
    let built = palisade_build::build("rego-authz")?;
    println!("    {} ({} bytes)", built.path.display(), built.size);
    println!("==> building {SDK_FLOOR} for wasm32-wasip1");
    let floor = palisade_build::build(SDK_FLOOR)?;
    let floor_wasm = floor.path.to_string_lossy().into_owned();
    println!("==> building rego-authz, {SDK_FLOOR} and {TENANT_HEADER} as Envoy dynamic modules");
    let native = palisade_build::build_native("rego-authz")?;
    palisade_build::build_native(SDK_FLOOR)?;
    palisade_build::build_native(TENANT_HEADER)?;
    let modules = native
        .path
        .parent()
        .context("a module has a directory")?
        .to_path_buf();
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("mix.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let wasm = built.path.to_string_lossy().into_owned();
    // The events variant's sink: it keeps no events, only counts them. It answers in this
    // process, which shares CPU 1 with wrk while Envoy is measured (and gets its CPUs back
    // before each Envoy starts, since Envoy inherits them).
    let mut sink = palisade_testkit::sink::Sink::start_with(palisade_testkit::sink::SinkOptions {
        keep_events: Some(0),
        ..Default::default()
    })?;
    let sink_port = sink.port().to_string();
    let own_cpus = own_cpus();

    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); VARIANTS.len()];
    let mut ready_times = Vec::new();
    let mut native_ready_times = Vec::new();
    for round in 1..=options.rounds {
        for (i, variant) in VARIANTS.iter().enumerate() {
            if !options.runs(variant) {
                continue;
            }
            let config = envoy::render_file(
                &palisade_testkit::workspace::envoy_config(variant.file),
                &[
                    (
                        "WASM_PATH",
                        if variant.filter == Some(SDK_FLOOR) {
                            &floor_wasm
                        } else {
                            &wasm
                        },
                    ),
                    ("SINK_PORT", &sink_port),
                ],
            )?;
            let is_native = variant.file.contains("native");
            let config = match variant.policy {
                Some(policy) if is_native => envoy::with_module_configuration(
                    &config,
                    "rego-authz",
                    &serde_json::json!({ "policy": policy }),
                )?,
                Some(policy) => envoy::with_plugin_configuration(
                    &config,
                    "rego-authz",
                    &serde_json::json!({ "policy": policy }),
                )?,
                None => config,
            };
            if let Some(cpus) = &own_cpus {
                pin(std::process::id(), cpus);
            }
            let started = Instant::now();
            let envoy = match is_native {
                // The SDK floor's module in rego-authz's place (it takes any configuration).
                true => Envoy::start_with_modules(
                    &config.replace(
                        "name: rego_authz,",
                        &format!("name: {},", variant.filter.unwrap_or("").replace('-', "_")),
                    ),
                    &modules,
                )?,
                false => Envoy::start(&config)?,
            };
            let ready = started.elapsed();
            match (variant.filter, is_native) {
                (Some("rego-authz"), false) => ready_times.push(ready),
                (Some("rego-authz"), true) => native_ready_times.push(ready),
                _ => {}
            }
            pin(envoy.pid(), "0");
            pin(std::process::id(), "1");
            let url = format!("http://{}/", envoy.listener("ingress")?);
            wrk(&script, &url, 2, options.connections)?; // warm-up
            let cpu_before = cpu_time(envoy.pid());
            let mut sample = wrk(&script, &url, options.seconds, options.connections)?;
            let cpu = cpu_time(envoy.pid()).zip(cpu_before).map(|(a, b)| a - b);
            let requests = sample.rps * options.seconds as f64;
            sample.cpu_us = cpu.map_or(f64::NAN, |cpu| cpu.as_secs_f64() * 1e6 / requests);
            println!(
                "    round {round}: {:<28} {:>9.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us  Envoy CPU {:>6.1} us/req",
                variant.name, sample.rps, sample.p50_us, sample.p99_us, sample.cpu_us
            );
            if variant.file.contains("events") {
                print_event_counts(&envoy, is_native, &sink);
            }
            if let Some(slot) = samples.get_mut(i) {
                slot.push(sample);
            }
        }
    }
    print_table(
        &samples,
        (&ready_times, &native_ready_times),
        (built.size, native.size),
        options,
    );
    sink.stop();
    if !options.only.is_empty() {
        return Ok(());
    }
    with_the_sink_down(&script, &wasm, &sink_port, options)
}

/// The events variant once more, with its sink stopped (connections refused): what the queue
/// bound holds Envoy's memory to while every flush fails, and what is dropped.
fn with_the_sink_down(
    script: &Path,
    wasm: &str,
    sink_port: &str,
    options: &BenchOptions,
) -> anyhow::Result<()> {
    let seconds = options.seconds * 4;
    let config = envoy::render_file(
        &palisade_testkit::workspace::envoy_config("bench/rego-authz-events.yaml"),
        &[("WASM_PATH", wasm), ("SINK_PORT", sink_port)],
    )?;
    let envoy = Envoy::start(&config)?;
    pin(envoy.pid(), "0");
    let url = format!("http://{}/", envoy.listener("ingress")?);
    let before = rss_kib(envoy.pid());
    wrk(script, &url, seconds, options.connections)?;
    let after = rss_kib(envoy.pid());
    let stat = event_stats(&envoy, false);
    let mib = |kib: Option<u64>| kib.map_or(f64::NAN, |kib| kib as f64 / 1024.0);
    println!(
        "\nrego-authz + events with the sink down, {seconds} s of load: Envoy RSS {:.1} MiB before, {:.1} MiB after;\n\
         {} events emitted, {} queued (the queue's bound), {} dropped oldest-first, {} retries",
        mib(before),
        mib(after),
        stat("emitted"),
        stat("queued"),
        stat("dropped.queue_full"),
        stat("retried"),
    );
    Ok(())
}

/// rego-authz's event counters, read once from Envoy's admin (0 for one it does not show), as
/// the Wasm filter's or the native module's.
fn event_stats(envoy: &Envoy, native: bool) -> impl Fn(&str) -> u64 {
    let stats = envoy.stats().unwrap_or_default();
    let prefix = if native {
        "dynamicmodulescustom"
    } else {
        "wasmcustom"
    };
    move |name| {
        let name = format!("{prefix}.palisade.rego_authz.events.{name}");
        stats.get(&name).copied().unwrap_or(0)
    }
}

/// A process's resident memory (`VmRSS` in `/proc/<pid>/status`), in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The table; `ready` and `sizes` are rego-authz's, as a Wasm module and as a native one.
fn print_table(
    samples: &[Vec<Sample>],
    ready: (&[Duration], &[Duration]),
    sizes: (u64, u64),
    options: &BenchOptions,
) {
    let medians: Vec<Sample> = samples
        .iter()
        .map(|s| Sample {
            rps: median(s.iter().map(|x| x.rps)),
            p50_us: median(s.iter().map(|x| x.p50_us)),
            p99_us: median(s.iter().map(|x| x.p99_us)),
            cpu_us: median(s.iter().map(|x| x.cpu_us)),
        })
        .collect();
    let rbac_rps = medians.get(1).map_or(f64::NAN, |m| m.rps);
    println!(
        "\nmedians of {} rounds, {} s each, {} connections, 1 Envoy worker (CPU 0), wrk on CPU 1:\n",
        options.rounds, options.seconds, options.connections
    );
    println!(
        "| variant                      |    req/s | vs RBAC | p50 (us) | p99 (us) | Envoy CPU (us/req) |"
    );
    println!(
        "|------------------------------|---------:|--------:|---------:|---------:|-------------------:|"
    );
    for (variant, m) in VARIANTS.iter().zip(&medians) {
        if !options.runs(variant) {
            continue;
        }
        println!(
            "| {:<28} | {:>8.0} | {:>7.2} | {:>8.1} | {:>8.1} | {:>18.1} |",
            variant.name,
            m.rps,
            m.rps / rbac_rps,
            m.p50_us,
            m.p99_us,
            m.cpu_us
        );
    }
    let cpu = |name: &str| {
        VARIANTS
            .iter()
            .zip(&medians)
            .find(|(v, _)| v.name == name)
            .map_or(f64::NAN, |(_, m)| m.cpu_us)
    };
    // A line whose figures come from rows that did not run (`--only`) is left out.
    let say = |figures: &[f64], line: String| {
        if figures.iter().all(|f| f.is_finite()) {
            println!("{line}");
        }
    };
    let (rbac, floor, rego) = (
        cpu("Envoy RBAC") - cpu("no filter"),
        cpu("SDK floor (allow)") - cpu("no filter"),
        cpu("rego-authz") - cpu("no filter"),
    );
    say(&[rbac, floor, rego], format!(
        "\nover no filter, Envoy CPU per request: RBAC {rbac:.1} us, the SDK floor {floor:.1} us (a wasm filter's calls in and out), rego-authz {rego:.1} us"
    ));
    let (floor, rego, ratio) = (
        cpu("native SDK floor") - cpu("no filter"),
        cpu("native rego-authz") - cpu("no filter"),
        cpu("native rego-authz") / cpu("Envoy RBAC"),
    );
    say(&[floor, rego, ratio], format!(
        "natively, over no filter: the SDK floor {floor:.1} us, rego-authz {rego:.1} us; native rego-authz's Envoy CPU per request is {ratio:.2}x RBAC's"
    ));
    let (wasm, native) = (
        cpu("rego-authz on regorus") / cpu("rego-authz"),
        cpu("native rego-authz on regorus") / cpu("native rego-authz"),
    );
    say(&[wasm, native], format!(
        "the RBAC rules on regorus (a local variable) against the request rules, Envoy CPU per request: {wasm:.2}x as Wasm, {native:.2}x natively"
    ));
    let ratio = cpu("native tenant-header") / cpu("Envoy RBAC");
    say(
        &[ratio],
        format!("a Rust policy natively (tenant-header): Envoy CPU per request {ratio:.2}x RBAC's"),
    );
    let (wasm, native) = (
        cpu("rego-authz + events") - cpu("rego-authz"),
        cpu("native rego-authz + events") - cpu("native rego-authz"),
    );
    say(&[wasm, native], format!(
        "emitting a decision event costs {wasm:.1} us of Envoy CPU per request (rego-authz + events minus rego-authz), {native:.1} us natively"
    ));
    let ready_ms = |times: &[Duration]| median(times.iter().map(|d| d.as_secs_f64() * 1000.0));
    let (wasm, native) = (ready_ms(ready.0), ready_ms(ready.1));
    say(
        &[wasm],
        format!(
            "\nrego-authz.wasm: {} bytes; Envoy start to ready with it: {wasm:.0} ms (median)",
            sizes.0
        ),
    );
    say(
        &[native],
        format!(
            "librego_authz.so: {} bytes; Envoy start to ready with it: {native:.0} ms (median)",
            sizes.1
        ),
    );
}

/// What happened to the events variant's events: a sink slower than the load shows up as
/// drops (the queue's bound), not as request latency.
fn print_event_counts(envoy: &Envoy, native: bool, sink: &palisade_testkit::sink::Sink) {
    let stat = event_stats(envoy, native);
    println!(
        "             events: {} emitted, {} delivered, {} dropped (queue full), {} queued; sink total {}",
        stat("emitted"),
        stat("delivered"),
        stat("dropped.queue_full"),
        stat("queued"),
        sink.count()
    );
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values.get(n / 2).copied().unwrap_or(f64::NAN),
        n => {
            let a = values.get(n / 2 - 1).copied().unwrap_or(f64::NAN);
            let b = values.get(n / 2).copied().unwrap_or(f64::NAN);
            (a + b) / 2.0
        }
    }
}

fn which(program: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()?
        .status
        .success();
    if found {
        Ok(())
    } else {
        bail!("{program} is not installed")
    }
}

/// The CPUs this process may run on (Linux), as a list taskset takes.
fn own_cpus() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let (_, rest) = status.split_once("Cpus_allowed_list:")?;
    Some(rest.lines().next()?.trim().to_string())
}

/// Pins every thread of a process to a CPU list such as `0` or `0-3` (best effort: a machine
/// without taskset or with one CPU just runs unpinned).
fn pin(pid: u32, cpus: &str) {
    let _ = Command::new("taskset")
        .args(["-a", "-cp", cpus, &pid.to_string()])
        .output();
}

/// A process's CPU time so far, all threads, user plus system (Linux `/proc/<pid>/stat`).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may contain spaces.
    let (_, fields) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields of the line, in clock ticks.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// `getconf CLK_TCK`; 100 on every Linux this runs on when getconf is missing.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn wrk(script: &Path, url: &str, seconds: u64, connections: u32) -> anyhow::Result<Sample> {
    let output = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

/// Requests/sec and the 50%/99% latencies from wrk's `--latency` report.
fn parse_wrk(text: &str) -> Option<Sample> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let percentile = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| latency_us(v.trim()))
    };
    Some(Sample {
        rps,
        p50_us: percentile("50%")?,
        p99_us: percentile("99%")?,
        cpu_us: f64::NAN,
    })
}

/// wrk prints latencies as `812.00us`, `1.25ms` or `2.01s`.
fn latency_us(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 8s test @ http://127.0.0.1:1/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  200.00us   5.00ms   90.00%
  Latency Distribution
     50%  812.00us
     75%    1.00ms
     90%    1.50ms
     99%    2.25ms
  100000 requests in 8.00s, 10.00MB read
Requests/sec:  12500.50
Transfer/sec:      1.25MB
";

    #[test]
    fn reads_wrk_reports() {
        let sample = parse_wrk(WRK_OUTPUT).unwrap();
        assert!((sample.rps - 12500.5).abs() < 1e-9);
        assert!((sample.p50_us - 812.0).abs() < 1e-9);
        assert!((sample.p99_us - 2250.0).abs() < 1e-9);
        assert!((latency_us("2.01s").unwrap() - 2_010_000.0).abs() < 1e-3);
        assert!(parse_wrk("garbage").is_none());
    }

    #[test]
    fn reads_this_process_cpu_time() {
        let before = cpu_time(std::process::id()).unwrap();
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_time(std::process::id()).unwrap();
        assert!(after > before, "{before:?} then {after:?}");
    }

    #[test]
    fn reads_this_process_resident_memory() {
        let before = rss_kib(std::process::id()).unwrap();
        let block = vec![1u8; 64 << 20];
        let after = rss_kib(std::process::id()).unwrap();
        assert!(after >= before + 60 * 1024, "{before} KiB then {after} KiB");
        drop(std::hint::black_box(block));
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), 2.5);
        assert!(median(std::iter::empty()).is_nan());
    }
}
