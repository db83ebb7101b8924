//! OPA-Envoy-compatible Rego authorization, evaluated in the proxy by regorus.
//!
//! [`RegoAuthz`] is a [`Policy`]: configured with Rego modules, optional data and the rule to
//! evaluate (OPA-Envoy's `path`, default `envoy/authz/allow`), it builds OPA-Envoy's input
//! document for each request, evaluates the rule compiled once per VM, and reads the result as
//! OPA-Envoy does (a boolean, or an object with `allowed`, `headers`, `http_status`, ...).

mod arithmetic;
mod assignments;
pub mod builtins;
mod comprehensions;
mod crypto;
pub mod eval;
pub mod extensions;
#[cfg(feature = "globs")]
mod globs_match;
mod go_bytes;
mod go_float;
#[cfg(any(feature = "uri", feature = "x509"))]
mod go_url;
mod head_values;
pub mod input;
pub mod interpreter_only;
pub mod jwt;
mod lexical;
pub mod limits;
#[cfg(feature = "rego-metadata")]
mod metadata;
mod negation;
pub mod nesting;
mod net;
pub mod object_patterns;
mod operator_calls;
pub mod overrides;
pub mod recursion;
mod ref_head_prefixes;
mod regex_literals;
pub mod replacements;
pub mod request_rules;
pub mod result;
mod source_rewrites;
mod syntax;
#[cfg(test)]
mod test_support;
#[cfg(feature = "uri")]
mod uri;
mod urlquery;
#[cfg(feature = "x509")]
mod x509;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use palisade::__private::IdGenerator;
use palisade::ConfigError;
use palisade::Decision;
use palisade::Request;
use palisade::{FailureMode, Policy, PolicyError};

use eval::{Budget, CompileError, EvalError, Evaluator};
use input::{InputBuilder, InputContext, InputNeeds};
use request_rules::RequestRules;

/// The plugin configuration of the `rego-authz` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegoConfig {
    /// Rego modules by file name.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// A single Rego module (instead of `policies`).
    #[serde(default)]
    pub policy: Option<String>,
    /// The base document (`data.*`).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// The rule to evaluate, OPA-Envoy style: `envoy/authz/allow` means
    /// `data.envoy.authz.allow`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Evaluate, log and count, but always allow.
    #[serde(default)]
    pub dry_run: bool,
    /// Buffer the request body (up to `max_body_bytes`) and give it to the policy.
    #[serde(default)]
    pub with_body: bool,
    /// How much of the body to buffer with `with_body`.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Leave `parsed_body` out of the input.
    #[serde(default)]
    pub skip_request_body_parse: bool,
    /// What a request gets when evaluation fails: `deny` (403) or `allow`.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Time one evaluation may take before it is stopped.
    #[serde(default = "default_max_eval_ms")]
    pub max_eval_ms: u64,
    /// Bytecode instructions one evaluation may run (bytecode VM only).
    #[serde(default = "default_max_eval_instructions")]
    pub max_eval_instructions: usize,
    /// Bytes the builtins that can allocate far more than they cost (`numbers.range`,
    /// `sprintf`, `concat`, `replace`, `json.marshal`, ...) may produce in one evaluation; past
    /// it the evaluation stops as over budget.
    #[serde(default = "default_max_eval_bytes")]
    pub max_eval_bytes: usize,
    /// `v1` (OPA 1.x, the default) or `v0` for policies written before OPA 1.0.
    #[serde(default)]
    pub rego_version: RegoVersion,
}

/// The Rego language version policies are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegoVersion {
    /// Rego v0 (`allow { ... }` without `if`).
    V0,
    /// Rego v1.
    #[default]
    V1,
}

fn default_path() -> String {
    "envoy/authz/allow".into()
}

fn default_max_body_bytes() -> usize {
    8192
}

fn default_max_eval_ms() -> u64 {
    100
}

fn default_max_eval_instructions() -> usize {
    1_000_000
}

fn default_max_eval_bytes() -> usize {
    16 << 20
}

/// `envoy/authz/allow`, `/envoy/authz/allow` or `data.envoy.authz.allow` as a rule path.
pub fn rule_path(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.starts_with("data.") || trimmed == "data" {
        trimmed.to_string()
    } else {
        format!("data.{}", trimmed.replace('/', "."))
    }
}

/// Error reasons, each counted as `palisade.rego_authz.errors.<reason>`.
const REASONS: &[&str] = &[
    "evaluation",
    "budget_exceeded",
    "undefined",
    "bad_decision",
    "bad_body",
];

/// OPA-Envoy-compatible authorization by a Rego policy.
#[derive(Debug)]
pub struct RegoAuthz {
    engine: DecisionEngine,
    rule: String,
    config: RegoConfig,
    ids: IdGenerator,
    /// `rule` and `revision`, in every decision event.
    event_fields: Vec<(String, serde_json::Value)>,
}

/// What answers each request.
#[derive(Debug)]
enum DecisionEngine {
    /// The policy read as [`RequestRules`], answered from the request's fields.
    RequestRules(RequestRules),
    /// regorus, on the input document.
    Regorus {
        evaluator: RefCell<Evaluator>,
        input: Box<InputBuilder>,
    },
}

impl RegoAuthz {
    /// The rule this filter evaluates, e.g. `data.envoy.authz.allow`.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// A hash of the policies and data (hex SHA-256), to tell which policy made a decision.
    pub fn revision(&self) -> &str {
        self.event_fields
            .iter()
            .find(|(name, _)| name == "revision")
            .and_then(|(_, value)| value.as_str())
            .unwrap_or_default()
    }

    /// Which engine runs the policy (for logs and tests).
    pub fn engine_name(&self) -> &'static str {
        let evaluator = match &self.engine {
            DecisionEngine::RequestRules(_) => return "request rules",
            DecisionEngine::Regorus { evaluator, .. } => evaluator.borrow(),
        };
        match &*evaluator {
            Evaluator::Vm(..) => "bytecode VM",
            Evaluator::Interpreter(..) => "interpreter",
            Evaluator::Confirmed(..) => {
                "bytecode VM, its undefined answers confirmed by the interpreter"
            }
        }
    }

    /// The rule's value for `request`, from regorus on the input document.
    fn evaluate(
        &self,
        evaluator: &RefCell<Evaluator>,
        input: &InputBuilder,
        request: &Request<'_>,
    ) -> Result<regorus::Value, PolicyError> {
        let context = InputContext {
            // Reading the clock is a host call: only for policies that read the time.
            now: match input.needs().time {
                true => request.now(),
                false => std::time::SystemTime::UNIX_EPOCH,
            },
            skip_body_parse: self.config.skip_request_body_parse,
        };
        let input = input
            .build(request, &context)
            .map_err(|e| PolicyError::because("bad_body", e.to_string()))?;
        evaluator
            .try_borrow_mut()
            .map_err(|_| PolicyError::because("evaluation", "re-entrant evaluation"))?
            .evaluate(&self.rule, input)
            .map_err(|e| match e {
                EvalError::Budget(_) => PolicyError::because("budget_exceeded", e.to_string()),
                EvalError::Failed(_) => PolicyError::because("evaluation", e.to_string()),
            })
    }
}

/// The longest line a policy module may have. regorus' default (1,024 bytes) refuses what OPA
/// accepts: an embedded PEM certificate, JWKS or token is one long line.
pub const MAX_LINE_BYTES: u32 = 1 << 20;
/// The largest policy module.
pub const MAX_MODULE_BYTES: usize = 4 << 20;
/// The most lines a policy module may have.
pub const MAX_MODULE_LINES: usize = 200_000;
/// The largest total of all policy modules: every VM (one per worker) holds them.
pub const MAX_POLICY_BYTES: usize = 8 << 20;

/// regorus' bounds on policy text, raised to what real policies need (see [`MAX_LINE_BYTES`]);
/// beyond them a policy is refused at configure, naming the module and the bound.
fn length_limits() -> regorus::PolicyLengthConfig {
    let or_min = |n: usize| std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN);
    regorus::PolicyLengthConfig {
        max_col: std::num::NonZeroU32::new(MAX_LINE_BYTES).unwrap_or(std::num::NonZeroU32::MIN),
        max_file_bytes: or_min(MAX_MODULE_BYTES),
        max_lines: or_min(MAX_MODULE_LINES),
    }
}

/// An engine [`compile_for`] compiles a configuration for.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// regorus' bytecode VM, where the filter would run the policy on it.
    Vm,
    /// regorus' interpreter, which can run every policy the filter accepts.
    Interpreter,
}

/// `config` compiled as [`RegoAuthz::from_config`] compiles it (the same checks, source
/// rewrites, builtins, extensions and budget) for `engine`: `Ok(None)` for the VM when the
/// filter would run the policy on the interpreter (the bytecode compiler refuses it, or it calls
/// an extension). For the tests that compare each engine with OPA.
#[doc(hidden)]
pub fn compile_for(config: &RegoConfig, engine: Engine) -> Result<Option<Evaluator>, ConfigError> {
    let (evaluator, _) = compile(config, engine == Engine::Interpreter)?;
    Ok(match (engine, evaluator) {
        (Engine::Vm, Evaluator::Interpreter(..)) => None,
        (_, evaluator) => Some(evaluator),
    })
}

/// The policy of `config` as [`RequestRules`], when it has their shape (one module; see the
/// module [`request_rules`](mod@crate::request_rules)). Only for a configuration that compiles.
#[doc(hidden)]
pub fn request_rules(config: &RegoConfig) -> Option<RequestRules> {
    let [(name, source)] = modules(config).ok()?.try_into().ok()?;
    let module = syntax::parse(&name, source, config.rego_version == RegoVersion::V0).ok()?;
    RequestRules::of(&module, &rule_path(&config.path), config.data.as_ref())
}

/// The policy modules of `config` (file name, source): `policy` as `policy.rego`, or
/// `policies`.
fn modules(config: &RegoConfig) -> Result<Vec<(String, &str)>, ConfigError> {
    match (&config.policy, config.policies.is_empty()) {
        (Some(_), false) => Err(ConfigError::field(
            "policy",
            "give either `policy` or `policies`, not both",
        )),
        (Some(policy), true) => Ok(vec![("policy.rego".to_string(), policy.as_str())]),
        (None, false) => Ok(config
            .policies
            .iter()
            .map(|(name, source)| (name.clone(), source.as_str()))
            .collect()),
        (None, true) => Err(ConfigError::field(
            "policies",
            "no policy: give `policies` (file name -> Rego) or `policy`",
        )),
    }
}

/// The policies of `config` compiled for the engine the filter chooses, or for the
/// interpreter when `on_interpreter`.
fn compile(
    config: &RegoConfig,
    on_interpreter: bool,
) -> Result<(Evaluator, InputNeeds), ConfigError> {
    let modules = modules(config)?;
    let total: usize = modules.iter().map(|(_, source)| source.len()).sum();
    if total > MAX_POLICY_BYTES {
        return Err(ConfigError::field(
            if config.policy.is_some() {
                "policy"
            } else {
                "policies"
            },
            format!("the policies hold {total} bytes; at most {MAX_POLICY_BYTES} are accepted"),
        ));
    }
    // Before anything parses the modules (the routing below does): a hostile nesting depth
    // would take the parser's stack or time.
    for (name, source) in &modules {
        if let Some((line, column)) = nesting::too_deep(source) {
            let field = match config.policy {
                Some(_) => "policy".to_string(),
                None => format!("policies.{name}"),
            };
            return Err(ConfigError::field(
                field,
                format!(
                    "{name}:{line}:{column}: brackets nested deeper than {} levels",
                    nesting::MAX_DEPTH
                ),
            ));
        }
    }
    let sources: Vec<&str> = modules.iter().map(|(_, s)| *s).collect();
    let mut extensions = extensions::all();
    let extension_names: Vec<&str> = extensions.iter().map(|e| e.name).collect();
    let uses_extensions = sources
        .iter()
        .any(|source| extension_names.iter().any(|name| source.contains(name)));
    let rule = rule_path(&config.path);
    let rego_v0 = config.rego_version == RegoVersion::V0;
    let vm_differs = match on_interpreter || uses_extensions {
        true => None,
        false => interpreter_only::construct(&sources, &rule).or_else(|| {
            modules.iter().find_map(|(name, source)| {
                operator_calls::membership_as_value(name, source, rego_v0)
                    .map(|text| format!("uses a membership as a value (`{text}`)"))
                    .or_else(|| {
                        operator_calls::arithmetic_in(name, source, rego_v0)
                            .map(|text| format!("does arithmetic (`{text}`)"))
                    })
            })
        }),
    };
    if let Some(construct) = &vm_differs {
        log::info!(
            "rego_authz: {rule} runs on the interpreter: the policy {construct}, which the \
             bytecode VM evaluates otherwise than OPA"
        );
    }
    let on_interpreter = on_interpreter || uses_extensions || vm_differs.is_some();
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(rego_v0);
    engine.set_policy_length_config(length_limits());
    let extension_arities: Vec<(&str, u8)> = extensions::all()
        .iter()
        .map(|extension| (extension.name, extension.arity))
        .collect();
    let policy_field = match config.policy {
        Some(_) => "policy",
        None => "policies",
    };
    #[cfg(feature = "rego-metadata")]
    let metadata_rewritten = metadata::rewrite(&modules, rego_v0, MAX_POLICY_BYTES)
        .map_err(|err| ConfigError::field(policy_field, format!("rego.metadata: {err}")))?;
    #[cfg(not(feature = "rego-metadata"))]
    let metadata_rewritten: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    for ((name, _), source) in modules.iter().zip(&metadata_rewritten) {
        let field = match config.policy {
            Some(_) => "policy".to_string(),
            None => format!("policies.{name}"),
        };
        let mut source =
            source_rewrites::rewrite(source, &extension_arities, rego_v0, on_interpreter);
        if on_interpreter {
            source = ref_head_prefixes::rewrite(name, &source, rego_v0);
            source = head_values::rewrite(name, &source, rego_v0);
            source = operator_calls::rewrite(name, &source, rego_v0);
        }
        engine
            .add_policy(name.clone(), source)
            .map_err(|e| ConfigError::field(field, eval::one_line(&e)))?;
    }
    if let Some(data) = &config.data {
        if !data.is_object() {
            return Err(ConfigError::field("data", "expected a JSON object"));
        }
        let data = regorus::Value::from(data.clone());
        if !replacements::within_1e308(&data) {
            return Err(ConfigError::field(
                "data",
                "holds a number beyond ±1e308, which Palisade cannot represent",
            ));
        }
        engine
            .add_data(data)
            .map_err(|e| ConfigError::field("data", eval::one_line(&e)))?;
    }
    let unsupported = builtins::unsupported_calls(&sources, &extension_names);
    if !unsupported.is_empty() {
        return Err(ConfigError::field(
            "policies",
            format!(
                "the policy calls functions Palisade does not provide: {}",
                unsupported
                    .iter()
                    .map(|name| format!("{name} ({})", builtins::why_unsupported(name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(pattern) = sources
        .iter()
        .find_map(|source| object_patterns::find(source))
    {
        return Err(ConfigError::field(
            policy_field,
            format!(
                "the policy unifies an object pattern (`{pattern}`): OPA binds it only to an \
                 object with exactly its keys, Palisade also to one with more; read the fields \
                 instead (`v := o.k`)"
            ),
        ));
    }
    if let Some((name, pattern)) = sources
        .iter()
        .find_map(|source| regex_literals::find(source))
    {
        return Err(ConfigError::field(
            policy_field,
            format!(
                "{name} with the pattern `{pattern}`: a Unicode class (\\p...) or a \
                 case-insensitive letter beyond ASCII, which OPA matches and this build of \
                 Palisade cannot (it leaves Unicode's tables out); spell the characters out \
                 (`[\\x{{391}}-\\x{{3C9}}]`, `(?i)` on ASCII letters only)"
            ),
        ));
    }
    if let Some(cycle) = recursion::find_cycle(&sources) {
        return Err(ConfigError::field(
            policy_field,
            format!("recursive rules (Rego forbids recursion): {cycle}"),
        ));
    }
    let budget = Budget {
        time: Duration::from_millis(config.max_eval_ms),
        instructions: config.max_eval_instructions,
        bytes: config.max_eval_bytes,
    };
    if on_interpreter {
        extensions.extend(operator_calls::extensions());
    }
    let evaluator = match Evaluator::compile(engine, &rule, &extensions, on_interpreter, budget) {
        Ok(evaluator) => evaluator,
        Err(CompileError::NotForVm(reason)) => {
            log::info!("rego_authz: {rule} runs on the interpreter: {reason}");
            return compile(config, true);
        }
        Err(CompileError::Rule(message)) => return Err(ConfigError::field("path", message)),
        Err(CompileError::Policy(message)) => {
            return Err(ConfigError::field(policy_field, message))
        }
    };
    let evaluator = match evaluator {
        Evaluator::Vm(..) if interpreter_only::decision_may_conflict(&sources, &rule) => {
            let (interpreter, _) = compile(config, true)?;
            Evaluator::Confirmed(Box::new(evaluator), Box::new(interpreter))
        }
        evaluator => evaluator,
    };
    Ok((evaluator, InputNeeds::of_sources(sources)))
}

impl Policy for RegoAuthz {
    type Config = RegoConfig;
    const NAME: &'static str = "rego_authz";
    const EVENT_KIND: &'static str = "authz";
    const ERROR_REASONS: &'static [&'static str] = REASONS;

    fn from_config(config: RegoConfig) -> Result<Self, ConfigError> {
        if config.max_eval_ms == 0 {
            return Err(ConfigError::field("max_eval_ms", "must be at least 1"));
        }
        let (evaluator, needs) = compile(&config, false)?;
        let engine = match request_rules(&config) {
            Some(rules) => DecisionEngine::RequestRules(rules),
            None => DecisionEngine::Regorus {
                evaluator: RefCell::new(evaluator),
                input: Box::new(InputBuilder::new(needs)),
            },
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let rule = rule_path(&config.path);
        let event_fields = vec![
            ("rule".to_string(), rule.clone().into()),
            ("revision".to_string(), revision(&config).into()),
        ];
        let authz = Self {
            engine,
            rule,
            config,
            ids: IdGenerator::seeded(seed),
            event_fields,
        };
        log::info!(
            "rego_authz: {} is answered by the {}",
            authz.rule,
            authz.engine_name()
        );
        Ok(authz)
    }

    fn decide(&self, request: &Request<'_>) -> Result<Decision, PolicyError> {
        let value = match &self.engine {
            DecisionEngine::RequestRules(rules) => rules.evaluate(request),
            DecisionEngine::Regorus { evaluator, input } => {
                self.evaluate(evaluator, input, request)?
            }
        };
        let decision = result::to_decision(&value).map_err(|e| match e {
            result::ResultError::Undefined => PolicyError::because("undefined", e.to_string()),
            result::ResultError::Invalid(_) => PolicyError::because("bad_decision", e.to_string()),
        })?;
        let decision_id = self.ids.next_uuid();
        let mut metadata = match decision.report().dynamic_metadata.clone() {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        metadata.insert("decision_id".into(), decision_id.clone().into());
        log::debug!(
            "rego_authz: decision {decision_id}: {} {} -> {}",
            request.method(),
            request.path(),
            if decision.is_allowed() {
                "allow"
            } else {
                "deny"
            }
        );
        if let (true, Decision::Deny(denial)) = (self.config.dry_run, &decision) {
            log::info!(
                "rego_authz: dry run: would deny {} {} with {} (decision {decision_id})",
                request.method(),
                request.path(),
                denial.status
            );
            return Ok(Decision::allow()
                .dynamic_metadata(metadata.into())
                .decision_id(decision_id)
                .event_field("dry_run_denied", true.into())
                .into());
        }
        let mut decision = decision;
        let report = decision.report_mut();
        report.dynamic_metadata = Some(metadata.into());
        report.decision_id = Some(decision_id);
        Ok(decision)
    }

    fn event_fields(&self) -> &[(String, serde_json::Value)] {
        &self.event_fields
    }

    fn body_limit(&self) -> Option<usize> {
        self.config.with_body.then_some(self.config.max_body_bytes)
    }

    fn failure_mode(&self) -> FailureMode {
        self.config.failure_mode
    }
}

/// The hex SHA-256 of the policies (by file name) and the data: the same configuration always
/// gives the same revision, and any change to a policy or the data gives another.
fn revision(config: &RegoConfig) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let single = config.policy.iter().map(|p| ("policy.rego", p.as_str()));
    let named = config
        .policies
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()));
    for (name, source) in single.chain(named) {
        // Lengths first, so no two different inputs hash the same bytes.
        for part in [name, source] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    let data = config
        .data
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_default();
    hash.update(data.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(policy: &str) -> RegoConfig {
        palisade::__private::parse_config(
            serde_json::json!({ "policy": policy })
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_policy_calling_an_extension_first_compiles() {
        let policy = "package envoy.authz\nimport rego.v1\n\
                      default allow := false\n\
                      allow if { [_, p, _] := io.jwt.decode(\"a.b.c\"); p.admin }\n";
        let authz = RegoAuthz::from_config(config(policy)).unwrap();
        assert_eq!(authz.engine_name(), "interpreter");
    }

    #[test]
    fn a_pattern_this_build_cannot_run_is_refused_naming_it() {
        let policy = "package envoy.authz\nimport rego.v1\n\
                      default allow := true\n\
                      allow := false if regex.match(`\\p{Cyrillic}`, input.host)\n";
        if crate::replacements::regex::unicode_built() {
            // A workspace build whose regex has Unicode classes runs the pattern.
            assert!(RegoAuthz::from_config(config(policy)).is_ok());
            return;
        }
        let err = RegoAuthz::from_config(config(policy)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policy"));
        assert!(err.message.contains("`\\p{Cyrillic}`"), "{err}");
        let ascii = policy.replace("\\p{Cyrillic}", "(?i)^xn--");
        assert!(RegoAuthz::from_config(config(&ascii)).is_ok());
    }

    #[test]
    fn policies_without_extensions_use_the_bytecode_vm() {
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                      allow if lower(input.attributes.request.http.method) == \"get\"\n";
        let authz = RegoAuthz::from_config(config(policy)).unwrap();
        assert_eq!(authz.engine_name(), "bytecode VM");
        assert_eq!(authz.rule(), "data.envoy.authz.allow");
    }

    #[test]
    fn a_policy_of_request_rules_is_answered_without_regorus() {
        use palisade::__private::FakeHost;
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                      allow if input.attributes.request.http.headers[\"x-role\"] == \"admin\"\n";
        let authz = RegoAuthz::from_config(config(policy)).unwrap();
        assert_eq!(authz.engine_name(), "request rules");
        let decide = |role: &str| {
            let host =
                FakeHost::with_headers(&[(":method", "GET"), (":path", "/"), ("x-role", role)]);
            let request = Request::from_host(&host).unwrap();
            let decision = authz.decide(&request).unwrap();
            // The decision is reported as regorus' would be: with a decision id.
            assert!(decision.report().decision_id.is_some());
            decision.is_allowed()
        };
        assert!(decide("admin"));
        assert!(!decide("user"));
    }

    #[test]
    fn compile_for_gives_each_engine_the_filter_may_run_a_policy_on() {
        let plain = config("package envoy.authz\nimport rego.v1\ndefault allow := false\n");
        let vm = compile_for(&plain, Engine::Vm).unwrap();
        assert!(matches!(vm, Some(Evaluator::Vm(..))), "{vm:?}");
        let interpreter = compile_for(&plain, Engine::Interpreter).unwrap();
        assert!(
            matches!(interpreter, Some(Evaluator::Interpreter(..))),
            "{interpreter:?}"
        );
        let jwt = config(
            "package envoy.authz\nimport rego.v1\nallow if io.jwt.decode(input.t)[1].admin\n",
        );
        assert!(compile_for(&jwt, Engine::Vm).unwrap().is_none());
        assert!(compile_for(&jwt, Engine::Interpreter).unwrap().is_some());
        let refused = config("package envoy.authz\nallow if {");
        assert!(compile_for(&refused, Engine::Interpreter).is_err());
    }

    #[test]
    fn policies_the_bytecode_compiler_refuses_run_on_the_interpreter() {
        let user = "input.attributes.request.http.headers[\"x-user\"]";
        let policies = [
            format!("allow if admin with input.role as {user}\nadmin if input.role == \"alice\""),
            format!("allow if roles[{user}] == \"admin\"\nroles[\"alice\"] := \"admin\" if true"),
        ];
        for rules in policies {
            let policy =
                format!("package envoy.authz\nimport rego.v1\ndefault allow := false\n{rules}\n");
            let authz = RegoAuthz::from_config(config(&policy)).unwrap();
            assert_eq!(authz.engine_name(), "interpreter", "{rules}");
            for (name, allowed) in [("alice", true), ("bob", false)] {
                let host = palisade::__private::FakeHost::with_headers(&[
                    (":method", "GET"),
                    (":path", "/"),
                    ("x-user", name),
                ]);
                let request = Request::from_host(&host).unwrap();
                let decision = authz.decide(&request).unwrap();
                assert_eq!(decision.is_allowed(), allowed, "{rules}: {name}");
            }
        }
    }

    #[test]
    fn a_function_defined_only_by_its_default_answers_its_default() {
        let policy = "package envoy.authz\nimport rego.v1\ndefault limit(_) := 10\n\
                      default allow := false\nallow if limit(input.attributes) > 5\n";
        let authz = RegoAuthz::from_config(config(policy)).unwrap();
        let host =
            palisade::__private::FakeHost::with_headers(&[(":method", "GET"), (":path", "/")]);
        let request = Request::from_host(&host).unwrap();
        assert!(
            authz.decide(&request).unwrap().is_allowed(),
            "{}",
            authz.engine_name()
        );
    }

    #[test]
    fn extensions_take_opas_output_argument_form() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJhZG1pbiI6dHJ1ZX0.\
                     HibyyfAI5TMtiyWqqQg1oW7Np6DbtNZ7YW_YJWfjYaU";
        let policy = format!(
            "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
             allow if {{\n  io.jwt.decode(\"{token}\", [_, payload, _])\n  payload.admin\n  \
             io.jwt.verify_hs256(\"{token}\", \"secret\", ok)\n  ok\n}}\n"
        );
        let authz = RegoAuthz::from_config(config(&policy)).unwrap();
        let host =
            palisade::__private::FakeHost::with_headers(&[(":method", "GET"), (":path", "/")]);
        let request = Request::from_host(&host).unwrap();
        assert!(authz.decide(&request).unwrap().is_allowed());
    }

    #[test]
    fn with_replaces_a_builtin_by_another_function() {
        for replacement in ["my_count", "max", "count"] {
            let policy = format!(
                "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
                 my_count(_) := 7\n\
                 allow if {{\n  n := count([1, 2, 3]) with count as {replacement}\n  n > 2\n}}\n"
            );
            let authz = RegoAuthz::from_config(config(&policy))
                .unwrap_or_else(|e| panic!("{replacement}: {e}"));
            let host =
                palisade::__private::FakeHost::with_headers(&[(":method", "GET"), (":path", "/")]);
            let request = Request::from_host(&host).unwrap();
            assert!(
                authz.decide(&request).unwrap().is_allowed(),
                "{replacement}"
            );
        }
    }

    #[test]
    fn opas_crypto_net_and_array_builtins_that_regorus_lacks_are_there() {
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n\
            allow if {\n  crypto.sha256(\"abc\") == \
            \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n  \
            crypto.hmac.equal(crypto.hmac.sha512(\"m\", \"k\"), crypto.hmac.sha512(\"m\", \"k\"))\n  \
            net.cidr_merge([\"10.0.0.0/24\", \"10.0.1.0/24\"]) == {\"10.0.0.0/23\"}\n  \
            net.cidr_intersects(\"10.0.0.0/8\", \"10.1.0.0/16\")\n  \
            array.flatten([[1], [2, [3]]]) == [1, 2, [3]]\n}\n";
        let authz = RegoAuthz::from_config(config(policy)).unwrap();
        let host =
            palisade::__private::FakeHost::with_headers(&[(":method", "GET"), (":path", "/")]);
        let request = Request::from_host(&host).unwrap();
        assert!(authz.decide(&request).unwrap().is_allowed());
    }

    #[test]
    fn a_policy_calling_what_the_filter_cannot_provide_is_refused_with_the_reason() {
        let policy = "package envoy.authz\nimport rego.v1\nallow if {\n  \
                      http.send({\"method\": \"get\", \"url\": \"http://x\"})\n  \
                      yaml.unmarshal(\"a: 1\")\n  nope(1)\n}\n";
        let err = RegoAuthz::from_config(config(policy)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policies"));
        for expected in [
            "http.send (no network calls from inside the proxy's evaluation",
            "nope (neither an OPA builtin",
        ] {
            assert!(err.message.contains(expected), "{expected}: {err}");
        }
        assert_eq!(
            err.message
                .contains("yaml.unmarshal (in rego-authz built with `--features yaml`"),
            cfg!(not(feature = "yaml")),
            "{err}"
        );
    }

    #[test]
    fn a_line_as_long_as_an_embedded_certificate_is_accepted_and_a_bound_remains() {
        let pem = "A".repeat(300_000);
        let policy = format!(
            "package envoy.authz\nimport rego.v1\ncert := \"{pem}\"\n\
             default allow := false\nallow if count(cert) == {}\n",
            pem.len()
        );
        let authz = RegoAuthz::from_config(config(&policy)).unwrap();
        let host =
            palisade::__private::FakeHost::with_headers(&[(":method", "GET"), (":path", "/")]);
        let request = Request::from_host(&host).unwrap();
        assert!(authz.decide(&request).unwrap().is_allowed());

        let line = "A".repeat(MAX_LINE_BYTES as usize + 1);
        let policy = format!("package envoy.authz\nimport rego.v1\ncert := \"{line}\"\n");
        let err = RegoAuthz::from_config(config(&policy)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policy"), "{err}");
        assert!(err.message.contains("policy.rego"), "{err}");

        let mut config = config("package envoy.authz\n");
        config.policy = None;
        config.policies = (0..3)
            .map(|i| {
                (
                    format!("p{i}.rego"),
                    format!("package p{i}\n# {}\n", "x".repeat(3 << 20)),
                )
            })
            .collect();
        let err = RegoAuthz::from_config(config).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policies"), "{err}");
        assert!(err.message.contains("at most 8388608"), "{err}");
    }

    #[test]
    fn recursion_across_packages_is_refused() {
        let mut config = config("package envoy.authz\nimport rego.v1\n");
        config.policy = None;
        config.policies = [
            (
                "authz.rego",
                "package envoy.authz\nimport rego.v1\nimport data.other as o\n\
                 default allow := false\nallow if o.flag\n",
            ),
            (
                "other.rego",
                "package other\nimport rego.v1\nimport data.envoy.authz\nflag if authz.allow\n",
            ),
        ]
        .into_iter()
        .map(|(name, source)| (name.to_string(), source.to_string()))
        .collect();
        let err = RegoAuthz::from_config(config).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policies"));
        assert_eq!(
            err.message,
            "recursive rules (Rego forbids recursion): \
             data.envoy.authz.allow -> data.other.flag -> data.envoy.authz.allow"
        );
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let err = RegoAuthz::from_config(config("package envoy.authz\nallow if {")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("policy"));
        assert!(err.message.starts_with("policy.rego:"), "{err}");
        let err = RegoAuthz::from_config(config(
            "package envoy.authz\nimport rego.v1\nallow if http.send({})\n",
        ))
        .unwrap_err();
        assert!(err.message.contains("http.send"), "{err}");
        let mut missing_rule = config("package other\nimport rego.v1\nallow := true\n");
        missing_rule.path = "envoy/authz/allow".into();
        let err = RegoAuthz::from_config(missing_rule).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("path"));
    }

    #[test]
    fn the_revision_changes_with_the_policy_and_the_data() {
        let policy = "package envoy.authz\nimport rego.v1\ndefault allow := false\n";
        let first = RegoAuthz::from_config(config(policy)).unwrap();
        let same = RegoAuthz::from_config(config(policy)).unwrap();
        assert_eq!(first.revision().len(), 64);
        assert_eq!(first.revision(), same.revision());
        let edited = RegoAuthz::from_config(config(&format!("{policy}# edited\n"))).unwrap();
        assert_ne!(first.revision(), edited.revision());
        let mut with_data = config(policy);
        with_data.data = Some(serde_json::json!({"admins": ["alice"]}));
        let with_data = RegoAuthz::from_config(with_data).unwrap();
        assert_ne!(first.revision(), with_data.revision());
        assert_eq!(
            first.event_fields()[0],
            ("rule".to_string(), "data.envoy.authz.allow".into())
        );
    }

    #[test]
    fn rule_paths_follow_opa_envoy() {
        assert_eq!(rule_path("envoy/authz/allow"), "data.envoy.authz.allow");
        assert_eq!(rule_path("/envoy/authz/allow/"), "data.envoy.authz.allow");
        assert_eq!(rule_path("data.x.y"), "data.x.y");
    }
}
