//! Whether Palisade's answer is OPA's: the same value (numbers compared as numbers), or
//! undefined where OPA's builtin failed (OPA-Envoy's non-strict mode), or an error where OPA's
//! evaluation failed.

use serde_json::Value;

use crate::engine::Outcome;
use crate::oracle::Answer;

/// OPA's answer for the binding `x` of a query, in non-strict terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Value(Option<Value>),
    Error(String),
}

impl Expected {
    pub fn of(answer: &Answer, binding: &str) -> Self {
        match answer {
            Answer::Results(results) => Expected::Value(
                results
                    .first()
                    .and_then(|bindings| bindings.get(binding).cloned()),
            ),
            Answer::BuiltinError(_) => Expected::Value(None),
            Answer::Error { code, message } => Expected::Error(format!("{code}: {message}")),
        }
    }
}

/// `None` when `ours` is what OPA answered; otherwise what differs.
pub fn difference(expected: &Expected, ours: &Outcome) -> Option<String> {
    match (expected, ours) {
        (Expected::Value(a), Outcome::Value(b)) if same_option(a.as_ref(), b.as_ref()) => None,
        (Expected::Error(_), Outcome::Error(_)) => None,
        (expected, ours) => Some(format!("OPA {} / Palisade {}", show(expected), shown(ours))),
    }
}

fn same_option(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1.0` is `1`; floats to 12 significant digits,
/// as both engines print them differently).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || ((x - y).abs() <= 1e-12 * x.abs().max(y.abs())),
                _ => x == y,
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (x, y) => x == y,
    }
}

fn show(expected: &Expected) -> String {
    match expected {
        Expected::Value(Some(v)) => v.to_string(),
        Expected::Value(None) => "undefined".into(),
        Expected::Error(e) => format!("error ({})", e.chars().take(160).collect::<String>()),
    }
}

fn shown(ours: &Outcome) -> String {
    match ours {
        Outcome::Value(Some(v)) => v.to_string(),
        Outcome::Value(None) => "undefined".into(),
        Outcome::Error(e) => format!("error ({})", e.chars().take(160).collect::<String>()),
    }
}
