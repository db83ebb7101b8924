//! For the unit tests: a replacement called as the engines call it.

use regorus::Value;

use super::Builtin;

/// `f` called on `args` (JSON): its value as JSON, or `None` when it fails (the call is
/// undefined).
pub(crate) fn call(f: Builtin, args: &[serde_json::Value]) -> Option<serde_json::Value> {
    let args: Vec<Value> = args.iter().cloned().map(Value::from).collect();
    let span = regorus::unstable::Span {
        source: regorus::unstable::Source::from_contents("t".into(), String::new()).unwrap(),
        line: 1,
        col: 1,
        start: 0,
        end: 0,
    };
    // regorus' builtins read their arguments' spans from these.
    let params: Vec<regorus::unstable::Ref<regorus::unstable::Expr>> = args
        .iter()
        .map(|_| {
            regorus::unstable::Ref::new(regorus::unstable::Expr::Null {
                span: span.clone(),
                value: Value::Null,
                eidx: 0,
            })
        })
        .collect();
    let result = f(&span, &params, &args, false).ok()?;
    serde_json::from_str(&result.to_json_str().unwrap())
        .ok()
        .map(canonical)
}

/// `value` with each number that is no 64-bit integer as the nearest `f64`: in a build with
/// serde_json's arbitrary_precision (the `x509` feature), `1e300` and the integer it stands for
/// are otherwise different JSON numbers.
pub(crate) fn canonical(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Json::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::Number(n), Json::Number),
        Json::Array(items) => Json::Array(items.into_iter().map(canonical).collect()),
        Json::Object(fields) => {
            Json::Object(fields.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        other => other,
    }
}
