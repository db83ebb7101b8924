//! `palisade eval`: one request (described curl-style, or taken from a case file) through the
//! compiled rego-authz filter in the harness, printing the input document the filter built,
//! the decision, and the time it took; `--explain` lists the rules that were true.
//!
//! Everything is decided by the `.wasm`: the input document and the explanation come from
//! extra evaluations through the same module, each with one more Rego module whose rule
//! answers with the value asked for (`input`, or the decision's package) as its body.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context};
use palisade_testkit::cases::{find_header, CaseRequest, Outcome, Suite};
use palisade_testkit::policy_files::{self, PolicySet};
use palisade_testkit::rego_filter::RegoFilter;

use crate::command::{Format, UsageError};

/// `palisade eval`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The policy: a .rego file, or a directory of .rego files (with its data.json/data.yaml).
    #[arg(required_unless_present = "case")]
    pub policy: Option<PathBuf>,
    /// The request path, query included [default: /]
    pub path: Option<String>,
    /// The method, as curl's -X [default: GET, or POST with a body]
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,
    /// A request header, as curl's -H (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The request body, as curl's -d; `@FILE` reads it from a file
    #[arg(
        short = 'd',
        long = "data",
        visible_alias = "body",
        value_name = "BODY"
    )]
    pub body: Option<String>,
    /// The base document (`data.*`), JSON or YAML [default: the policy directory's
    /// data.json/data.yaml]
    #[arg(long, value_name = "FILE")]
    pub policy_data: Option<PathBuf>,
    /// Further rego-authz settings as a JSON object, e.g. '{"with_body": true}'
    #[arg(long, value_name = "JSON")]
    pub config: Option<String>,
    /// Take the request, policies, data and settings from a decision case file
    #[arg(long, value_name = "FILE", conflicts_with_all = ["policy", "path", "method", "headers", "body", "policy_data"])]
    pub case: Option<PathBuf>,
    /// Which case of --case: its number (from 1) or text from its note
    #[arg(long, value_name = "N|TEXT", requires = "case")]
    pub pick: Option<String>,
    /// Also list the rules of the decision's package that were defined for this request, with
    /// their values (evaluated through the filter as one more query)
    #[arg(long)]
    pub explain: bool,
    /// `text` for people, `json` for scripts
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Decide with this rego_authz.wasm instead of the one the command carries
    #[arg(long, value_name = "FILE")]
    pub wasm: Option<PathBuf>,
}

/// What to evaluate: policies, settings and one request.
#[derive(Debug, Clone)]
struct Plan {
    policies: PolicySet,
    config: serde_json::Map<String, serde_json::Value>,
    request: CaseRequest,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

fn parse_header(text: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .filter(|(name, _)| !name.trim().is_empty())
        .ok_or_else(|| usage(format!("-H {text:?}: write a header as 'name: value'")))?;
    Ok((name.trim().to_ascii_lowercase(), value.trim().to_string()))
}

fn read_body(body: &str) -> anyhow::Result<String> {
    match body.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("reading the body from {file}"))
        }
        None => Ok(body.to_string()),
    }
}

fn pick_case<'a>(
    suite: &'a Suite,
    pick: Option<&str>,
) -> anyhow::Result<&'a palisade_testkit::cases::Case> {
    let cases = &suite.file.cases;
    let listing = || {
        cases
            .iter()
            .enumerate()
            .map(|(i, c)| format!("  {:>2}  {}", i + 1, c.note))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let chosen: Vec<&palisade_testkit::cases::Case> = match pick {
        None => cases.iter().collect(),
        Some(text) => match text.parse::<usize>() {
            Ok(n) => n
                .checked_sub(1)
                .and_then(|i| cases.get(i))
                .into_iter()
                .collect(),
            Err(_) => {
                let text = text.to_lowercase();
                cases
                    .iter()
                    .filter(|c| c.note.to_lowercase().contains(&text))
                    .collect()
            }
        },
    };
    match chosen.as_slice() {
        [one] => Ok(one),
        _ => Err(usage(format!(
            "{}: {} one case with --pick N or --pick TEXT:\n{}",
            suite.name(),
            if pick.is_some() {
                "that matches no case or several: pick"
            } else {
                "pick"
            },
            listing()
        ))),
    }
}

impl Plan {
    fn from_args(args: &EvalArgs) -> anyhow::Result<Self> {
        let mut plan = match &args.case {
            Some(path) => {
                let suite = Suite::load(path)?;
                let case = pick_case(&suite, args.pick.as_deref())?;
                let request = case
                    .request
                    .with_tokens(&suite.file.tokens, &BTreeMap::new())
                    .map_err(|token| {
                        anyhow!(
                            "this case needs the JWT `{token}`, which only the workspace's tests \
                             mint: give the request on the command line with your own token \
                             (-H 'authorization: Bearer ...')"
                        )
                    })?;
                Self {
                    policies: suite.policies.clone(),
                    config: suite.file.config.clone(),
                    request,
                }
            }
            None => {
                let policy = args
                    .policy
                    .as_ref()
                    .ok_or_else(|| usage("give a policy (.rego file or directory) or --case"))?;
                if !policy.exists() {
                    return Err(usage(format!(
                        "{}: no such file or directory",
                        policy.display()
                    )));
                }
                let mut policies = PolicySet::load(policy)?;
                if let Some(data) = &args.policy_data {
                    policies.data = Some(policy_files::read_data(data)?);
                }
                let path = args.path.clone().unwrap_or_else(|| "/".into());
                if !path.starts_with('/') {
                    return Err(usage(format!(
                        "the request path must start with / (e.g. /orders?id=7), got {path:?}"
                    )));
                }
                let body = args.body.as_deref().map(read_body).transpose()?;
                let method = args
                    .method
                    .clone()
                    .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
                let headers = args
                    .headers
                    .iter()
                    .map(|h| parse_header(h))
                    .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
                Self {
                    policies,
                    config: serde_json::Map::new(),
                    request: CaseRequest {
                        method: method.to_ascii_uppercase(),
                        path,
                        headers,
                        body,
                    },
                }
            }
        };
        if let Some(config) = &args.config {
            let extra: serde_json::Value = serde_json::from_str(config)
                .map_err(|e| usage(format!("--config is not JSON: {e}")))?;
            let serde_json::Value::Object(extra) = extra else {
                return Err(usage(
                    "--config must be a JSON object, e.g. '{\"with_body\": true}'",
                ));
            };
            plan.config.extend(extra);
        }
        Ok(plan)
    }

    /// The decision rule, read from the `path` setting as rego-authz reads it (OPA-Envoy's
    /// `envoy/authz/allow` means `data.envoy.authz.allow`).
    fn rule(&self) -> String {
        let path = self
            .config
            .get("path")
            .and_then(|p| p.as_str())
            .unwrap_or("envoy/authz/allow");
        let trimmed = path.trim().trim_matches('/');
        if trimmed.starts_with("data.") || trimmed == "data" {
            trimmed.to_string()
        } else {
            format!("data.{}", trimmed.replace('/', "."))
        }
    }
}

/// Evaluates `expression` for the plan's request through the filter.
fn inspect(
    filter: &RegoFilter,
    plan: &Plan,
    clock: SystemTime,
    expression: &str,
) -> Result<serde_json::Value, String> {
    filter.evaluate(
        &plan.policies,
        &plan.config,
        &plan.request,
        clock,
        expression,
    )
}

/// The headers the client sent (pseudo-headers aside).
fn sent_headers(request: &CaseRequest) -> Vec<(String, String)> {
    request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What an allowed request's decision changed upstream: headers set, headers removed.
fn upstream_changes(
    request: &CaseRequest,
    outcome: &Outcome,
) -> (Vec<(String, String)>, Vec<String>) {
    let sent = sent_headers(request);
    let set = outcome
        .upstream_headers
        .iter()
        .filter(|(k, _)| !k.starts_with(':') && k != "content-length")
        .filter(|(k, v)| find_header(&sent, k) != Some(v.as_str()))
        .cloned()
        .collect();
    let removed = sent
        .iter()
        .filter(|(k, _)| find_header(&outcome.upstream_headers, k).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    (set, removed)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Everything `eval` found out, for either format.
#[derive(Debug)]
struct Evaluation {
    plan: Plan,
    rule: String,
    input: Result<serde_json::Value, String>,
    outcome: Outcome,
    /// The decision event, as the filter sent it to the sink (structured JSON).
    event: Result<serde_json::Value, String>,
    rules: Option<Result<RuleValues, String>>,
    configure: Duration,
    decide: Duration,
}

/// Runs `palisade eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(args)?;
    let body_given = plan.request.body.as_ref().is_some_and(|b| !b.is_empty());
    if body_given && plan.config.get("with_body") != Some(&serde_json::Value::Bool(true)) {
        eprintln!(
            "note: rego-authz gives the policy the body only with `with_body`: add --config \
             '{{\"with_body\": true}}' for the policy to see it"
        );
    }
    let filter = crate::command::ready_filter(args.wasm.as_deref())?;
    let clock = SystemTime::now();
    let mut config = plan.config.clone();
    // Decision events (batched, the default mode) to a sink the harness plays, unless the
    // configuration given has its own `events`.
    config
        .entry("events")
        .or_insert_with(|| serde_json::json!({ "sink_cluster": "palisade-eval-sink" }));
    let configuration = plan.policies.plugin_configuration(&config);
    let start = Instant::now();
    let mut decider = filter.configure(&configuration, clock).map_err(|err| {
        anyhow!(
            "the filter rejected the policy:\n  {}\n  (fix the policy and run this again)",
            err.details().join("\n  ")
        )
    })?;
    let configure = start.elapsed();
    let start = Instant::now();
    let outcome = decider.send(&plan.request)?;
    let decide = start.elapsed();
    let event = decider.flush_events().and_then(|events| {
        events
            .into_iter()
            .last()
            .ok_or_else(|| "the filter sent no decision event".into())
    });
    let input = inspect(&filter, &plan, clock, "input");
    let rule = plan.rule();
    let rules = args.explain.then(|| match rule.rsplit_once('.') {
        Some((package, _)) if package != "data" => {
            let names = rule_names(&plan.policies, package);
            inspect(&filter, &plan, clock, package)
                .and_then(|value| RuleValues::from_package(value, &names))
        }
        _ => Err(format!("{rule} is not in a package")),
    });
    let evaluation = Evaluation {
        plan,
        rule,
        input,
        outcome,
        event,
        rules,
        configure,
        decide,
    };
    match args.format {
        Format::Text => print_text(&evaluation),
        Format::Json => println!("{}", serde_json::to_string_pretty(&evaluation.json())?),
    }
    Ok(())
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A value on one line, shortened past `max` characters.
fn compact(value: &serde_json::Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}...")
    }
}

fn print_text(e: &Evaluation) {
    let request = &e.plan.request;
    let modules: Vec<&str> = e.plan.policies.modules.keys().map(String::as_str).collect();
    println!("policy: {} (rule {})", modules.join(", "), e.rule);
    println!("request: {} {}", request.method, request.path);
    for (name, value) in &request.headers {
        println!("  {name}: {value}");
    }
    if let Some(body) = &request.body {
        println!("  body: {body:?}");
    }

    println!("\ninput (the document the filter built for this request):");
    match &e.input {
        Ok(input) => println!("{}", pretty(input)),
        Err(err) => println!("  (could not be shown: {err})"),
    }

    let o = &e.outcome;
    println!();
    if o.allowed {
        println!("decision: allowed");
        println!("  upstream request: {} {}", request.method, o.upstream_path);
        let (set, removed) = upstream_changes(request, o);
        for (name, value) in set {
            println!("  header set upstream: {name}: {value}");
        }
        for name in removed {
            println!("  header removed upstream: {name}");
        }
        for (name, value) in o.response_headers.iter().filter(|(k, _)| k != ":status") {
            println!("  response header: {name}: {value}");
        }
    } else {
        println!("decision: denied with status {}", o.status);
        for (name, value) in &o.reply_headers {
            println!("  header: {name}: {value}");
        }
        println!("  body: {:?}", o.body);
    }
    if let Some(metadata) = &o.dynamic_metadata {
        println!("  dynamic metadata: {metadata}");
    }
    for line in &o.log {
        println!("  filter log: {line}");
    }

    match &e.event {
        Ok(event) => println!(
            "\ndecision event (the CloudEvent the filter sent to its sink):\n{}",
            pretty(event)
        ),
        Err(err) => println!("\ndecision event: none ({err})"),
    }

    println!(
        "\ntime: decided in {:.2} ms (the compiled filter's request callbacks in the harness; \
         configuring the policy took {:.1} ms)",
        ms(e.decide),
        ms(e.configure)
    );

    if let Some(rules) = &e.rules {
        let package = e.rule.rsplit_once('.').map_or("", |(p, _)| p);
        println!("\nrules of {package} for this request (evaluated through the filter):");
        match rules {
            Ok(rules) => {
                for name in &rules.true_rules {
                    println!("  true       {name}");
                }
                for (name, value) in &rules.values {
                    println!("  value      {name} = {}", compact(value, 100));
                }
                for name in &rules.undefined {
                    println!("  undefined  {name}");
                }
                println!("  (functions are not listed)");
            }
            Err(err) => println!("  (could not be evaluated: {err})"),
        }
    }
}

/// The rules of the decision's package, sorted by what they were for the request.
#[derive(Debug, Default, serde::Serialize)]
struct RuleValues {
    /// Rules whose value is `true`.
    #[serde(rename = "true")]
    true_rules: Vec<String>,
    /// Rules with another value.
    values: BTreeMap<String, serde_json::Value>,
    /// Rules without a value (no rule body held, no default).
    undefined: Vec<String>,
}

impl RuleValues {
    /// Sorts the package's value as `json.marshal` wrote it: each rule with a value, and each of
    /// `names` without one (absent, or `"<undefined>"` as regorus' bytecode VM writes it).
    fn from_package(package: serde_json::Value, names: &BTreeSet<String>) -> Result<Self, String> {
        let serde_json::Value::Object(rules) = package else {
            return Err(format!("the package evaluated to {package}, not an object"));
        };
        let mut sorted = Self {
            undefined: names
                .iter()
                .filter(|name| !rules.contains_key(*name))
                .cloned()
                .collect(),
            ..Self::default()
        };
        for (name, value) in rules {
            match value {
                serde_json::Value::Bool(true) => sorted.true_rules.push(name),
                serde_json::Value::String(s) if s == "<undefined>" => sorted.undefined.push(name),
                value => {
                    sorted.values.insert(name, value);
                }
            }
        }
        Ok(sorted)
    }
}

/// The rules (not functions) the modules of `package` (`data.envoy.authz`) define, read from
/// their text: a name at the start of a line, after an optional `default`, not followed by `(`.
fn rule_names(policies: &PolicySet, package: &str) -> BTreeSet<String> {
    let in_package = |source: &str| {
        source.lines().any(|line| {
            line.trim()
                .strip_prefix("package ")
                .is_some_and(|p| format!("data.{}", p.trim()) == package)
        })
    };
    let mut names = BTreeSet::new();
    for source in policies.modules.values().filter(|s| in_package(s)) {
        for line in source.lines() {
            let line = line.strip_prefix("default ").unwrap_or(line);
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let rest = line.get(name.len()..).unwrap_or_default().trim_start();
            let is_rule = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && !["package", "import"].contains(&name.as_str())
                && !rest.starts_with('(');
            if is_rule {
                names.insert(name);
            }
        }
    }
    names
}

impl Evaluation {
    fn json(&self) -> serde_json::Value {
        let o = &self.outcome;
        let pairs = |headers: &[(String, String)]| -> serde_json::Value {
            headers
                .iter()
                .map(|(k, v)| serde_json::json!([k, v]))
                .collect()
        };
        let decision = if o.allowed {
            let (set, removed) = upstream_changes(&self.plan.request, o);
            serde_json::json!({
                "allowed": true,
                "upstream_path": o.upstream_path,
                "headers_set_upstream": pairs(&set),
                "headers_removed_upstream": removed,
                "response_headers": pairs(&o.response_headers),
                "dynamic_metadata": o.dynamic_metadata,
            })
        } else {
            serde_json::json!({
                "allowed": false,
                "status": o.status,
                "headers": pairs(&o.reply_headers),
                "body": o.body,
                "dynamic_metadata": o.dynamic_metadata,
            })
        };
        let result = |r: &Result<serde_json::Value, String>| match r {
            Ok(value) => value.clone(),
            Err(err) => serde_json::json!({ "error": err }),
        };
        serde_json::json!({
            "policies": self.plan.policies.modules.keys().collect::<Vec<_>>(),
            "rule": self.rule,
            "request": self.plan.request,
            "input": result(&self.input),
            "decision": decision,
            "filter_log": o.log,
            "rules": self.rules.as_ref().map(|r| match r {
                Ok(rules) => serde_json::json!(rules),
                Err(err) => serde_json::json!({ "error": err }),
            }),
            "event": match &self.event {
                Ok(event) => event.clone(),
                Err(err) => serde_json::json!({ "error": err }),
            },
            "time_ms": { "decide": ms(self.decide), "configure": ms(self.configure) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_written_as_curl_writes_them() {
        assert_eq!(
            parse_header("X-Role:  admin ").unwrap(),
            ("x-role".to_string(), "admin".to_string())
        );
        assert_eq!(
            parse_header("authorization: Bearer a:b").unwrap().1,
            "Bearer a:b"
        );
        let err = parse_header("no colon").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
    }

    #[test]
    fn the_rule_follows_the_path_setting() {
        let mut plan = Plan {
            policies: PolicySet::default(),
            config: serde_json::Map::new(),
            request: CaseRequest {
                method: "GET".into(),
                path: "/".into(),
                headers: BTreeMap::new(),
                body: None,
            },
        };
        assert_eq!(plan.rule(), "data.envoy.authz.allow");
        plan.config
            .insert("path".into(), "/my/pkg/decision/".into());
        assert_eq!(plan.rule(), "data.my.pkg.decision");
    }

    #[test]
    fn rules_are_sorted_into_true_valued_and_undefined() {
        let package = serde_json::json!({
            "allow": {"allowed": true},
            "granted": true,
            "public_read": "<undefined>",
            "denied": false,
        });
        let names: BTreeSet<String> = ["allow", "granted", "public_read", "denied", "admin"]
            .map(String::from)
            .into();
        let rules = RuleValues::from_package(package, &names).unwrap();
        assert_eq!(rules.true_rules, ["granted"]);
        assert_eq!(rules.undefined, ["admin", "public_read"]);
        assert_eq!(rules.values.keys().collect::<Vec<_>>(), ["allow", "denied"]);
        assert!(RuleValues::from_package(serde_json::json!(true), &names).is_err());
    }

    #[test]
    fn rule_names_are_read_from_the_packages_modules() {
        let policies = PolicySet {
            modules: [
                (
                    "a.rego".to_string(),
                    "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                     allow if granted\ngranted if input.x\nroles contains r if { r := 1 }\n\
                     f(x) := x\n  nested := 1\n"
                        .to_string(),
                ),
                (
                    "b.rego".to_string(),
                    "package other\nelsewhere := 1\n".to_string(),
                ),
            ]
            .into(),
            data: None,
        };
        let names: Vec<String> = rule_names(&policies, "data.envoy.authz")
            .into_iter()
            .collect();
        assert_eq!(names, ["allow", "granted", "roles"]);
    }

    #[test]
    fn long_values_are_shortened() {
        let value = serde_json::json!("abcdefghij");
        assert_eq!(compact(&value, 5), "\"abcd...");
        assert_eq!(compact(&serde_json::json!(true), 5), "true");
    }
}
