//! Reads a policy's result as OPA-Envoy does: a boolean, or an object with `allowed` and the
//! optional `headers`, `response_headers_to_add`, `request_headers_to_remove`,
//! `query_parameters_to_set`, `query_parameters_to_remove`, `body`, `http_status` and
//! `dynamic_metadata`.

use regorus::Value;

use palisade::__private::DEFAULT_DENY_STATUS;
use palisade::Decision;

/// Why a result is not a decision. Each follows the filter's failure mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The rule had no value for this input.
    #[error(
        "the policy's result is undefined (add a default rule, e.g. `default allow := false`)"
    )]
    Undefined,
    /// The result or one of its fields has the wrong type.
    #[error("the policy's result is not a valid decision: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> ResultError {
    ResultError::Invalid(message.into())
}

/// Turns a policy result into a decision.
pub fn to_decision(result: &Value) -> Result<Decision, ResultError> {
    match result {
        Value::Undefined => Err(ResultError::Undefined),
        Value::Bool(true) => Ok(Decision::allow()),
        Value::Bool(false) => Ok(Decision::deny(DEFAULT_DENY_STATUS)),
        Value::Object(_) => from_object(result),
        other => Err(invalid(format!(
            "expected a boolean or an object, got {}",
            type_name(other)
        ))),
    }
}

fn from_object(result: &Value) -> Result<Decision, ResultError> {
    let field = |name: &str| match &result[name] {
        Value::Undefined => None,
        value => Some(value),
    };
    let allowed = match field("allowed") {
        Some(Value::Bool(allowed)) => *allowed,
        Some(other) => {
            return Err(invalid(format!(
                "`allowed` must be a boolean, got {}",
                type_name(other)
            )))
        }
        None => return Err(invalid("the object has no `allowed` field")),
    };
    let status = match field("http_status") {
        None => DEFAULT_DENY_STATUS,
        Some(value) => value
            .as_u64()
            .ok()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| invalid("`http_status` must be an HTTP status code"))?,
    };
    let mut decision = if allowed {
        Decision::allow()
    } else {
        Decision::deny(status)
    };
    if let Some(headers) = field("headers") {
        decision.headers = header_list("headers", headers)?;
    }
    if let Some(headers) = field("response_headers_to_add") {
        decision.response_headers = header_list("response_headers_to_add", headers)?;
    }
    if let Some(names) = field("request_headers_to_remove") {
        decision.remove_headers = string_list("request_headers_to_remove", names)?;
    }
    if let Some(params) = field("query_parameters_to_set") {
        decision.set_query = header_list("query_parameters_to_set", params)?;
    }
    if let Some(names) = field("query_parameters_to_remove") {
        decision.remove_query = string_list("query_parameters_to_remove", names)?;
    }
    if let Some(body) = field("body") {
        decision.body = body
            .as_string()
            .map_err(|_| invalid("`body` must be a string"))?
            .to_string();
    }
    if let Some(metadata) = field("dynamic_metadata") {
        if !matches!(metadata, Value::Object(_)) {
            return Err(invalid("`dynamic_metadata` must be an object"));
        }
        let json = metadata
            .to_json_str()
            .map_err(|e| invalid(format!("`dynamic_metadata`: {e}")))?;
        decision.dynamic_metadata = Some(
            serde_json::from_str(&json).map_err(|e| invalid(format!("`dynamic_metadata`: {e}")))?,
        );
    }
    Ok(decision)
}

/// An object of name -> string or array of strings (repeated values are joined with `,`, as
/// HTTP allows), or an array of such objects.
fn header_list(field: &str, value: &Value) -> Result<Vec<(String, String)>, ResultError> {
    let objects: Vec<&Value> = match value {
        Value::Object(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            return Err(invalid(format!(
                "`{field}` must be an object or an array of objects"
            )))
        }
    };
    let mut out = Vec::new();
    for object in objects {
        let entries = object
            .as_object()
            .map_err(|_| invalid(format!("`{field}` must hold objects")))?;
        for (name, value) in entries.iter() {
            let name = name
                .as_string()
                .map_err(|_| invalid(format!("`{field}` names must be strings")))?;
            let value = match value {
                Value::String(text) => text.to_string(),
                Value::Array(_) => string_list(field, value)?.join(","),
                _ => {
                    return Err(invalid(format!(
                        "`{field}.{name}` must be a string or an array of strings"
                    )))
                }
            };
            out.push((name.to_string(), value));
        }
    }
    Ok(out)
}

fn string_list(field: &str, value: &Value) -> Result<Vec<String>, ResultError> {
    let items = value
        .as_array()
        .map_err(|_| invalid(format!("`{field}` must be an array of strings")))?;
    items
        .iter()
        .map(|item| {
            item.as_string()
                .map(|s| s.to_string())
                .map_err(|_| invalid(format!("`{field}` must be an array of strings")))
        })
        .collect()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "undefined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(json: &str) -> Result<Decision, ResultError> {
        to_decision(&Value::from_json_str(json).unwrap())
    }

    #[test]
    fn booleans() {
        assert!(decide("true").unwrap().allowed);
        let denied = decide("false").unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.status, 403);
    }

    #[test]
    fn a_full_allow_object() {
        let d = decide(
            r#"{"allowed": true,
                "headers": {"x-user": "alice", "x-roles": ["a", "b"]},
                "response_headers_to_add": [{"x-a": "1"}, {"x-b": "2"}],
                "request_headers_to_remove": ["authorization"],
                "query_parameters_to_set": {"page": "1"},
                "query_parameters_to_remove": ["debug"],
                "dynamic_metadata": {"rule": "r7", "n": 3}}"#,
        )
        .unwrap();
        assert!(d.allowed);
        assert_eq!(
            d.headers,
            vec![
                ("x-roles".into(), "a,b".into()),
                ("x-user".into(), "alice".into())
            ]
        );
        assert_eq!(
            d.response_headers,
            vec![("x-a".into(), "1".into()), ("x-b".into(), "2".into())]
        );
        assert_eq!(d.remove_headers, vec!["authorization".to_string()]);
        assert_eq!(d.set_query, vec![("page".into(), "1".into())]);
        assert_eq!(d.remove_query, vec!["debug".to_string()]);
        assert_eq!(
            d.dynamic_metadata,
            Some(serde_json::json!({"rule": "r7", "n": 3}))
        );
    }

    #[test]
    fn a_deny_object() {
        let d = decide(
            r#"{"allowed": false, "http_status": 401, "body": "no token",
                "headers": {"www-authenticate": "Bearer"}}"#,
        )
        .unwrap();
        assert!(!d.allowed);
        assert_eq!(d.status, 401);
        assert_eq!(d.body, "no token");
        assert_eq!(
            d.headers,
            vec![("www-authenticate".into(), "Bearer".into())]
        );
        assert_eq!(decide(r#"{"allowed": false}"#).unwrap().status, 403);
    }

    #[test]
    fn malformed_results_are_errors() {
        assert_eq!(to_decision(&Value::Undefined), Err(ResultError::Undefined));
        for bad in [
            r#""yes""#,
            "1",
            "{}",
            r#"{"allowed": "true"}"#,
            r#"{"allowed": false, "http_status": 42}"#,
            r#"{"allowed": false, "http_status": "401"}"#,
            r#"{"allowed": true, "headers": "x"}"#,
            r#"{"allowed": true, "headers": {"x": 1}}"#,
            r#"{"allowed": true, "request_headers_to_remove": "x"}"#,
            r#"{"allowed": false, "body": 3}"#,
            r#"{"allowed": true, "dynamic_metadata": [1]}"#,
        ] {
            assert!(
                matches!(decide(bad), Err(ResultError::Invalid(_))),
                "{bad} should be invalid"
            );
        }
    }
}
