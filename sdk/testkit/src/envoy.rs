//! Real Envoy on loopback: find the binary, render a bootstrap from `envoy-configs/`, start it
//! on free ports, wait until it is ready, read its listeners, stats and log, stop it on drop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long Envoy may take to become ready (it compiles the wasm module first).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// What can go wrong running Envoy.
#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    /// No Envoy binary where we looked.
    #[error("Envoy not found at {0}: run `scripts/setup` (or set ENVOY=/path/to/envoy)")]
    NotFound(PathBuf),
    /// A bootstrap could not be read or changed.
    #[error("bootstrap: {0}")]
    Config(String),
    /// A `${NAME}` placeholder in a config had no value.
    #[error("config placeholder ${{{0}}} has no value")]
    Placeholder(String),
    /// Envoy exited before it was ready, e.g. because it rejected the config.
    #[error("Envoy exited ({status}) before it was ready; its log:\n{log}")]
    Exited {
        /// The exit status.
        status: ExitStatus,
        /// Everything it logged.
        log: String,
    },
    /// Envoy did not become ready in time.
    #[error("Envoy was not ready after {READY_TIMEOUT:?}; its log:\n{log}")]
    NotReady {
        /// Everything it logged.
        log: String,
    },
    /// The admin interface answered something unexpected.
    #[error("Envoy admin {path}: {message}")]
    Admin {
        /// The admin path asked.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Starting the process or handling its files failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvoyError {
    let context = context.into();
    move |source| EnvoyError::Io { context, source }
}

/// The Envoy binary: `$ENVOY`, else the project's venv.
pub fn binary() -> Result<PathBuf, EnvoyError> {
    let path = match std::env::var_os("ENVOY") {
        Some(path) => PathBuf::from(path),
        None => crate::workspace::root().join(".venv/bin/envoy"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(EnvoyError::NotFound(path))
    }
}

/// Replaces every `${NAME}` in `template`; a placeholder without a value is an error, so a
/// config can never reach Envoy half-rendered.
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String, EnvoyError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let end = after
            .find('}')
            .ok_or_else(|| EnvoyError::Placeholder(after.into()))?;
        let name = after.get(2..end).unwrap_or_default();
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .ok_or_else(|| EnvoyError::Placeholder(name.into()))?;
        out.push_str(value.1);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders a config file from `envoy-configs/` with `vars`; `ADMIN_PORT` and `LISTENER_PORT`
/// are 0 (Envoy picks free ones) unless `vars` gives them.
pub fn render_file(path: &Path, vars: &[(&str, &str)]) -> Result<String, EnvoyError> {
    let template =
        std::fs::read_to_string(path).map_err(io(format!("reading {}", path.display())))?;
    render_bootstrap(&template, vars)
}

/// [`render_file`] for a bootstrap's text.
pub fn render_bootstrap(template: &str, vars: &[(&str, &str)]) -> Result<String, EnvoyError> {
    // Ports default to 0 (any free port) unless the caller gives them.
    let mut all = vars.to_vec();
    for default in ["ADMIN_PORT", "LISTENER_PORT"] {
        if !vars.iter().any(|(name, _)| *name == default) {
            all.push((default, "0"));
        }
    }
    render(template, &all)
}

/// Replaces the plugin configuration of the wasm filter named `plugin` in a bootstrap with
/// `configuration` (as a `Struct`), leaving everything else as the file has it; tests use this
/// to run the shipped bootstraps with other policies. The filter's
/// `allow_on_headers_stop_iteration` follows the configuration's member of that name (the SDK
/// setting that says Envoy sets it), and is left out otherwise, as Envoy's default.
pub fn with_plugin_configuration(
    bootstrap: &str,
    plugin: &str,
    configuration: &serde_json::Value,
) -> Result<String, EnvoyError> {
    let value: serde_yaml::Value =
        serde_yaml::to_value(configuration).map_err(|e| EnvoyError::Config(e.to_string()))?;
    edit_filters(
        bootstrap,
        &format!("wasm plugin named {plugin}"),
        &mut |map| {
            let is_plugin = map
                .get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n == plugin)
                && map.contains_key("vm_config");
            if is_plugin {
                map.insert("configuration".into(), any("Struct", value.clone()));
                // The SDK's `allow_on_headers_stop_iteration` says the Wasm filter sets Envoy's.
                let key = serde_yaml::Value::from("allow_on_headers_stop_iteration");
                match configuration.get("allow_on_headers_stop_iteration") {
                    Some(serde_json::Value::Bool(true)) => {
                        map.insert(key, true.into());
                    }
                    _ => {
                        map.remove(&key);
                    }
                }
            }
            is_plugin
        },
    )
}

/// Replaces the configuration of the dynamic-module filter named `filter` (its `filter_name`)
/// in a bootstrap with `configuration`, as JSON text in a `StringValue`: the native backend's
/// [`with_plugin_configuration`].
pub fn with_module_configuration(
    bootstrap: &str,
    filter: &str,
    configuration: &serde_json::Value,
) -> Result<String, EnvoyError> {
    let text = serde_yaml::Value::from(configuration.to_string());
    edit_filters(
        bootstrap,
        &format!("dynamic-module filter named {filter}"),
        &mut |map| {
            let is_filter = map
                .get("filter_name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n == filter)
                && map.contains_key("dynamic_module_config");
            if is_filter {
                map.insert("filter_config".into(), any("StringValue", text.clone()));
            }
            is_filter
        },
    )
}

/// A `google.protobuf.<kind>` as an `Any` in YAML.
fn any(kind: &str, value: serde_yaml::Value) -> serde_yaml::Value {
    let mut any = serde_yaml::Mapping::new();
    any.insert(
        "@type".into(),
        format!("type.googleapis.com/google.protobuf.{kind}").into(),
    );
    any.insert("value".into(), value);
    serde_yaml::Value::Mapping(any)
}

/// Runs `edit` on every mapping of a bootstrap; an error when it edited none (`what` names what
/// it looked for).
fn edit_filters(
    bootstrap: &str,
    what: &str,
    edit: &mut dyn FnMut(&mut serde_yaml::Mapping) -> bool,
) -> Result<String, EnvoyError> {
    let invalid = |message: String| EnvoyError::Config(message);
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(bootstrap).map_err(|e| invalid(e.to_string()))?;
    let mut edited = 0;
    visit_mappings(&mut doc, &mut |map| edited += usize::from(edit(map)));
    if edited == 0 {
        return Err(invalid(format!("no {what} in the bootstrap")));
    }
    serde_yaml::to_string(&doc).map_err(|e| invalid(e.to_string()))
}

fn visit_mappings(value: &mut serde_yaml::Value, f: &mut dyn FnMut(&mut serde_yaml::Mapping)) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            f(map);
            for (_, child) in map.iter_mut() {
                visit_mappings(child, f);
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                visit_mappings(item, f);
            }
        }
        _ => {}
    }
}

/// An HTTP client for talking to Envoy on loopback: every status is a response (denials are
/// what tests look at), and nothing waits longer than 10 s.
pub fn http_client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Checks a config with `envoy --mode validate` (which also loads and configures wasm filters).
pub fn validate(config: &str) -> Result<String, EnvoyError> {
    validate_with_modules(config, None)
}

/// [`validate`], finding the dynamic modules the bootstrap names in `modules`
/// (`ENVOY_DYNAMIC_MODULES_SEARCH_PATH`): Envoy loads them to validate their configuration.
pub fn validate_with_modules(config: &str, modules: Option<&Path>) -> Result<String, EnvoyError> {
    let dir = tempfile::tempdir().map_err(io("creating a temp dir"))?;
    let config_path = dir.path().join("envoy.yaml");
    std::fs::write(&config_path, config).map_err(io("writing the config"))?;
    let mut command = Command::new(binary()?);
    command
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(&config_path);
    if let Some(modules) = modules {
        command.env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", modules);
    }
    let output = command
        .output()
        .map_err(io("running envoy --mode validate"))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(log)
    } else {
        Err(EnvoyError::Exited {
            status: output.status,
            log,
        })
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Starts `command` so that it dies with this process, however the process ends (a test runner
/// killed with SIGKILL included): the child asks the kernel for SIGKILL when its parent goes
/// (`PR_SET_PDEATHSIG`). The kernel means the parent *thread*, so every child is started from
/// one thread that lives as long as the process.
fn spawn_tied(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut command, reply) in incoming {
                let _ = reply.send(spawn_dying_with_parent(&mut command));
            }
        });
        Mutex::new(requests)
    });
    let (reply, answer) = mpsc::channel();
    let sent = spawner
        .lock()
        .map_err(|_| std::io::Error::other("the spawner lock is poisoned"))?
        .send((command, reply));
    sent.map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

#[allow(unsafe_code)] // pre_exec: code that runs in the child between fork and exec
fn spawn_dying_with_parent(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, kill); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the call: then no signal would ever come.
            if libc::getppid() != parent as libc::pid_t {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    command.spawn()
}

/// A running Envoy; killed when dropped.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
    admin: SocketAddr,
    agent: ureq::Agent,
}

impl Envoy {
    /// Starts Envoy with this bootstrap (one worker thread) and waits until it is ready.
    pub fn start(config: &str) -> Result<Self, EnvoyError> {
        Self::start_with(config, 1)
    }

    /// Starts Envoy with `concurrency` worker threads.
    pub fn start_with(config: &str, concurrency: u32) -> Result<Self, EnvoyError> {
        Self::start_binary(&binary()?, config, concurrency)
    }

    /// Starts Envoy (one worker thread) finding the dynamic modules its bootstrap names
    /// (`lib<name>.so`) in `modules` (`ENVOY_DYNAMIC_MODULES_SEARCH_PATH`).
    pub fn start_with_modules(config: &str, modules: &Path) -> Result<Self, EnvoyError> {
        Self::start_command(&binary()?, config, 1, Some(modules))
    }

    /// Starts this Envoy binary with `concurrency` worker threads.
    pub fn start_binary(binary: &Path, config: &str, concurrency: u32) -> Result<Self, EnvoyError> {
        Self::start_command(binary, config, concurrency, None)
    }

    fn start_command(
        binary: &Path,
        config: &str,
        concurrency: u32,
        modules: Option<&Path>,
    ) -> Result<Self, EnvoyError> {
        let dir = tempfile::tempdir().map_err(io("creating a temp dir"))?;
        let config_path = dir.path().join("envoy.yaml");
        std::fs::write(&config_path, config).map_err(io("writing the config"))?;
        let log_path = dir.path().join("envoy.log");
        let log = std::fs::File::create(&log_path).map_err(io("creating the log"))?;
        let log_err = log.try_clone().map_err(io("opening the log"))?;
        let admin_path = dir.path().join("admin-address");
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config_path)
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--disable-hot-restart", "--concurrency"])
            .arg(concurrency.to_string())
            .args([
                "--log-level",
                "warning",
                "--component-log-level",
                "wasm:info",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(modules) = modules {
            command.env("ENVOY_DYNAMIC_MODULES_SEARCH_PATH", modules);
        }
        let child = spawn_tied(command).map_err(io("starting envoy"))?;
        let agent = http_client();
        let mut envoy = Self {
            child,
            dir,
            // Replaced by the real address once Envoy writes it.
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            agent,
        };
        envoy.wait_ready(&admin_path)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, admin_path: &Path) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(io("waiting for envoy"))? {
                return Err(EnvoyError::Exited {
                    status,
                    log: self.log(),
                });
            }
            let written = std::fs::read_to_string(admin_path).unwrap_or_default();
            if let Ok(admin) = written.trim().parse() {
                self.admin = admin;
                if self
                    .admin_get("/ready")
                    .is_ok_and(|body| body.trim() == "LIVE")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(EnvoyError::NotReady { log: self.log() })
    }

    /// The Envoy process id (e.g. to pin it to a CPU in benchmarks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything Envoy has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// Whether the Envoy process has exited (crashed, or was killed from outside).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The admin interface's address.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin
    }

    /// GETs an admin path and returns the body; a non-200 answer is an error.
    pub fn admin_get(&self, path: &str) -> Result<String, EnvoyError> {
        let admin_error = |message: String| EnvoyError::Admin {
            path: path.to_string(),
            message,
        };
        let mut response = self
            .agent
            .get(&format!("http://{}{path}", self.admin))
            .call()
            .map_err(|e| admin_error(e.to_string()))?;
        let status = response.status();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| admin_error(e.to_string()))?;
        if status == 200 {
            Ok(body)
        } else {
            Err(admin_error(format!("status {status}: {body}")))
        }
    }

    /// The address a named listener is bound to (configs use port 0, so Envoy picks).
    pub fn listener(&self, name: &str) -> Result<SocketAddr, EnvoyError> {
        let path = "/listeners?format=json";
        let body = self.admin_get(path)?;
        let admin_error = |message: String| EnvoyError::Admin {
            path: path.to_string(),
            message,
        };
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| admin_error(e.to_string()))?;
        let statuses = json
            .pointer("/listener_statuses")
            .unwrap_or(&serde_json::Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default();
        let listener = statuses
            .iter()
            .find(|l| l.pointer("/name").and_then(|n| n.as_str()) == Some(name))
            .ok_or_else(|| admin_error(format!("no listener named {name}: {body}")))?;
        let socket =
            |field: &str| listener.pointer(&format!("/local_address/socket_address/{field}"));
        let address = socket("address")
            .and_then(|a| a.as_str())
            .unwrap_or_default();
        let port = socket("port_value")
            .and_then(|p| p.as_u64())
            .unwrap_or_default();
        format!("{address}:{port}")
            .parse()
            .map_err(|e| admin_error(format!("{e}: {body}")))
    }

    /// Counter and gauge values from `/stats` (histograms are left out).
    pub fn stats(&self) -> Result<BTreeMap<String, u64>, EnvoyError> {
        let body = self.admin_get("/stats")?;
        Ok(body
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect())
    }

    /// One stat's value, 0 when Envoy does not have it (yet).
    pub fn stat(&self, name: &str) -> Result<u64, EnvoyError> {
        Ok(self.stats()?.get(name).copied().unwrap_or(0))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_file_takes_given_ports_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.yaml");
        std::fs::write(&path, "${ADMIN_PORT} ${LISTENER_PORT}").unwrap();
        assert_eq!(render_file(&path, &[]).unwrap(), "0 0");
        assert_eq!(
            render_file(&path, &[("LISTENER_PORT", "8080")]).unwrap(),
            "0 8080"
        );
    }

    #[test]
    fn render_fills_every_placeholder() {
        let out = render("a: ${X}\nb: ${Y_2} ${X}", &[("X", "1"), ("Y_2", "two")]).unwrap();
        assert_eq!(out, "a: 1\nb: two 1");
    }

    #[test]
    fn render_refuses_missing_values() {
        let err = render("port: ${PORT}", &[]).unwrap_err();
        assert!(matches!(err, EnvoyError::Placeholder(name) if name == "PORT"));
        assert!(render("bad: ${UNCLOSED", &[]).is_err());
    }
}
