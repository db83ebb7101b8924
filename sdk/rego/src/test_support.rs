//! For the unit tests: a policy configured as the filter configures it, evaluated on a chosen
//! engine.

use crate::eval::Evaluator;
use crate::{compile_for, Engine, RegoConfig};

/// The filter's configuration for `policy`, evaluating `data.t.x`.
pub(crate) fn config(policy: &str) -> RegoConfig {
    palisade::__private::parse_config(
        serde_json::json!({ "policy": policy, "path": "t/x" })
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

/// `data.t.x` of `policy` for `input`, on `engine`: `None` for the VM when the filter would not
/// run the policy on it, else the value (JSON, `null` for undefined) or the error.
pub(crate) fn answer(
    policy: &str,
    engine: Engine,
    input: serde_json::Value,
) -> Option<Result<serde_json::Value, String>> {
    let evaluator = compile_for(&config(policy), engine).map_err(|e| e.to_string());
    let mut evaluator: Evaluator = match evaluator {
        Ok(Some(evaluator)) => evaluator,
        Ok(None) => return None,
        Err(err) => return Some(Err(err)),
    };
    let value = evaluator.evaluate("data.t.x", regorus::Value::from(input));
    Some(match value {
        Ok(regorus::Value::Undefined) => Ok(serde_json::Value::Null),
        Ok(value) => Ok(serde_json::from_str(&value.to_json_str().unwrap()).unwrap()),
        Err(err) => Err(err.to_string()),
    })
}

/// [`answer`] on both engines, which must agree (or the VM not run the policy).
pub(crate) fn both(policy: &str, input: serde_json::Value) -> Result<serde_json::Value, String> {
    let interpreter = answer(policy, Engine::Interpreter, input.clone()).unwrap();
    if let Some(vm) = answer(policy, Engine::Vm, input) {
        assert_eq!(vm, interpreter, "the engines differ on {policy}");
    }
    interpreter
}
