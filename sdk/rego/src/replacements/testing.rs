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
    serde_json::from_str(&result.to_json_str().unwrap()).ok()
}
