//! Palisade's side of a comparison: a policy compiled by rego-authz's engine, on each engine it
//! may choose (regorus' bytecode VM where its compiler takes the policy, and the interpreter),
//! with the filter's builtins, extensions, guards and default budget.

use std::time::Duration;

use palisade_rego::eval::{Budget, EvalError, Evaluator};
use regorus::Value;

/// What one engine answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The rule's value (JSON), or `None` when it is undefined.
    Value(Option<serde_json::Value>),
    /// The evaluation failed (conflicts, budget); OPA calls it an evaluation error.
    Error(String),
}

/// The filter's default budget.
const BUDGET: Budget = Budget {
    time: Duration::from_millis(1000),
    instructions: 1_000_000,
    bytes: 16 << 20,
};

/// `rule` of `policies` compiled for each engine the filter may run it on: the VM (when its
/// compiler takes the policy) and the interpreter. `Err` when the filter would refuse it.
pub fn compile(
    policies: &[(&str, &str)],
    data: Option<&serde_json::Value>,
    rule: &str,
) -> Result<Vec<(&'static str, Evaluator)>, String> {
    let extensions = palisade_rego::extensions::all();
    let mut engines = Vec::new();
    for on_interpreter in [false, true] {
        let mut engine = regorus::Engine::new();
        for (name, source) in policies {
            engine
                .add_policy(name.to_string(), source.to_string())
                .map_err(|e| e.to_string())?;
        }
        if let Some(data) = data {
            engine
                .add_data(Value::from(data.clone()))
                .map_err(|e| e.to_string())?;
        }
        let evaluator = Evaluator::compile(engine, rule, &extensions, on_interpreter, BUDGET)
            .map_err(|e| e.to_string())?;
        let name = match (&evaluator, on_interpreter) {
            (Evaluator::Vm(..), _) => "vm",
            (Evaluator::Interpreter(..), false) => continue, // the VM's compiler refused it
            (Evaluator::Interpreter(..), true) => "interpreter",
        };
        engines.push((name, evaluator));
    }
    Ok(engines)
}

/// Evaluates `rule` for `input`.
pub fn evaluate(evaluator: &mut Evaluator, rule: &str, input: &serde_json::Value) -> Outcome {
    match evaluator.evaluate(rule, Value::from(input.clone())) {
        Ok(Value::Undefined) => Outcome::Value(None),
        Ok(value) => match value.to_json_str() {
            Ok(json) => Outcome::Value(serde_json::from_str(&json).ok()),
            Err(err) => Outcome::Error(format!("the value cannot be written out: {err}")),
        },
        Err(EvalError::Budget(message) | EvalError::Failed(message)) => Outcome::Error(message),
    }
}
