//! Palisade's side of a comparison: a policy configured as rego-authz configures it
//! ([`palisade_rego::compile_for`]: the same checks, source rewrites, builtins, extensions and
//! budget), on each engine the filter may run it on: regorus' bytecode VM (where the filter
//! would choose it), the interpreter, and the request rules (where the policy has their shape:
//! the filter then answers without regorus).

use palisade_rego::eval::{EvalError, Evaluator};
use palisade_rego::request_rules::RequestRules;
use palisade_rego::{compile_for, request_rules, Engine, RegoConfig, RegoVersion};
use regorus::Value;

/// One of the engines: regorus' (VM or interpreter), or the request rules.
#[derive(Debug)]
pub enum Ours {
    Regorus(Evaluator),
    RequestRules(RequestRules),
}

/// What one engine answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The rule's value (JSON), or `None` when it is undefined.
    Value(Option<serde_json::Value>),
    /// The evaluation failed (conflicts, budget); OPA calls it an evaluation error.
    Error(String),
}

/// The filter's configuration for `modules` (file name, source), `data` and the rule at `path`
/// (`t/x` or `data.t.x`), with the filter's default budget but a longer time limit: the tests run
/// unoptimised.
pub fn config(
    modules: &[(&str, &str)],
    data: Option<&serde_json::Value>,
    path: &str,
    rego_version: RegoVersion,
) -> RegoConfig {
    let mut config: RegoConfig = serde_json::from_value(serde_json::json!({
        "policies": modules
            .iter()
            .map(|(name, source)| (name.to_string(), serde_json::Value::from(*source)))
            .collect::<serde_json::Map<_, _>>(),
        "path": path,
        "max_eval_ms": 1000,
    }))
    .unwrap();
    config.data = data.cloned();
    config.rego_version = rego_version;
    config
}

/// `config` compiled for each engine the filter may run it on: the VM (unless the filter would
/// run the policy on the interpreter), the interpreter, then the request rules (when the policy
/// has their shape). `Err` when the filter refuses it.
pub fn compile(config: &RegoConfig) -> Result<Vec<(&'static str, Ours)>, String> {
    let mut engines = Vec::new();
    for (name, engine) in [("vm", Engine::Vm), ("interpreter", Engine::Interpreter)] {
        match compile_for(config, engine) {
            Ok(Some(evaluator)) => engines.push((name, Ours::Regorus(evaluator))),
            Ok(None) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    if let Some(rules) = request_rules(config) {
        engines.push(("request rules", Ours::RequestRules(rules)));
    }
    Ok(engines)
}

/// Evaluates `rule` (`data.t.x`) for `input`.
pub fn evaluate(ours: &mut Ours, rule: &str, input: &serde_json::Value) -> Outcome {
    let input = Value::from(input.clone());
    let evaluated = match ours {
        Ours::Regorus(evaluator) => evaluator.evaluate(rule, input),
        Ours::RequestRules(rules) => Ok(rules.evaluate(&input)),
    };
    match evaluated {
        Ok(Value::Undefined) => Outcome::Value(None),
        Ok(value) => match beyond_f64_as_strings(value).to_json_str() {
            Ok(json) => Outcome::Value(serde_json::from_str(&json).ok()),
            Err(err) => Outcome::Error(format!("the value cannot be written out: {err}")),
        },
        Err(EvalError::Budget(message) | EvalError::Failed(message)) => Outcome::Error(message),
    }
}

/// `value` with every integer beyond what an f64 holds written as the oracle writes OPA's
/// (`oracle::beyond_f64_as_strings`): the string `"<number beyond f64: <digits>>"`, compared
/// digit for digit. (regorus holds such integers exactly, `1.5e300 * 1e19`, but cannot write
/// them out as JSON without serde_json's arbitrary_precision: the filter fails a decision that
/// carries one.)
fn beyond_f64_as_strings(value: Value) -> Value {
    match &value {
        Value::Number(n) if value.to_json_str().is_err() => {
            Value::from(format!("<number beyond f64: {}>", n.format_decimal()))
        }
        Value::Array(items) => Value::from(
            items
                .iter()
                .cloned()
                .map(beyond_f64_as_strings)
                .collect::<Vec<_>>(),
        ),
        _ => value,
    }
}
