//! Reads a policy's result as OPA-Envoy does: a boolean, or an object with `allowed` and the
//! optional `headers`, `response_headers_to_add`, `request_headers_to_remove`,
//! `query_parameters_to_set`, `query_parameters_to_remove`, `body`, `http_status` and
//! `dynamic_metadata`.

use regorus::Value;

use palisade::__private::DEFAULT_DENY_STATUS;
use palisade::{Allow, Decision, Deny, Report};

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
        Value::Bool(true) => Ok(Decision::allow().into()),
        Value::Bool(false) => Ok(Decision::deny(DEFAULT_DENY_STATUS).into()),
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
    // Every field is checked whatever the outcome, so a malformed result fails the same way
    // allowed or denied; then each outcome takes the fields that apply to it.
    let headers = read_or_empty(result, "headers", header_list)?;
    let response_headers = read_or_empty(result, "response_headers_to_add", header_list)?;
    let remove_headers = read_or_empty(result, "request_headers_to_remove", string_list)?;
    let set_query = read_or_empty(result, "query_parameters_to_set", header_list)?;
    let remove_query = read_or_empty(result, "query_parameters_to_remove", string_list)?;
    let body = match field("body") {
        None => String::new(),
        Some(body) => body
            .as_string()
            .map_err(|_| invalid("`body` must be a string"))?
            .to_string(),
    };
    let dynamic_metadata = match field("dynamic_metadata") {
        None => None,
        Some(metadata) => {
            if !matches!(metadata, Value::Object(_)) {
                return Err(invalid("`dynamic_metadata` must be an object"));
            }
            let json = metadata
                .to_json_str()
                .map_err(|e| invalid(format!("`dynamic_metadata`: {e}")))?;
            Some(
                serde_json::from_str(&json)
                    .map_err(|e| invalid(format!("`dynamic_metadata`: {e}")))?,
            )
        }
    };
    let report = Report {
        dynamic_metadata,
        ..Report::default()
    };
    Ok(match allowed {
        true => Decision::Allow(Allow {
            headers,
            remove_headers,
            response_headers,
            set_query,
            remove_query,
            report,
        }),
        false => Decision::Deny(Deny {
            status,
            body,
            headers,
            report,
        }),
    })
}

/// The result's field `name` read by `read`, or the empty list when the result has no such
/// field.
fn read_or_empty<T: Default>(
    result: &Value,
    name: &str,
    read: fn(&str, &Value) -> Result<T, ResultError>,
) -> Result<T, ResultError> {
    match &result[name] {
        Value::Undefined => Ok(T::default()),
        value => read(name, value),
    }
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

    fn allowed(json: &str) -> Allow {
        match decide(json).unwrap() {
            Decision::Allow(allow) => allow,
            denied => panic!("{json}: {denied:?}"),
        }
    }

    fn denied(json: &str) -> Deny {
        match decide(json).unwrap() {
            Decision::Deny(deny) => deny,
            allowed => panic!("{json}: {allowed:?}"),
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(allowed("true"), Decision::allow());
        assert_eq!(denied("false").status, 403);
    }

    #[test]
    fn a_full_allow_object() {
        let d = allowed(
            r#"{"allowed": true,
                "headers": {"x-user": "alice", "x-roles": ["a", "b"]},
                "response_headers_to_add": [{"x-a": "1"}, {"x-b": "2"}],
                "request_headers_to_remove": ["authorization"],
                "query_parameters_to_set": {"page": "1"},
                "query_parameters_to_remove": ["debug"],
                "dynamic_metadata": {"rule": "r7", "n": 3}}"#,
        );
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
            d.report.dynamic_metadata,
            Some(serde_json::json!({"rule": "r7", "n": 3}))
        );
    }

    #[test]
    fn a_deny_object() {
        let d = denied(
            r#"{"allowed": false, "http_status": 401, "body": "no token",
                "headers": {"www-authenticate": "Bearer"}}"#,
        );
        assert_eq!(d.status, 401);
        assert_eq!(d.body, "no token");
        assert_eq!(
            d.headers,
            vec![("www-authenticate".into(), "Bearer".into())]
        );
        assert_eq!(denied(r#"{"allowed": false}"#).status, 403);
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
