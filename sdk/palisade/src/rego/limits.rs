//! Size caps on the builtins that can allocate far more than the instructions they cost.
//!
//! The instruction and time budgets see a builtin call as one step, however much it allocates:
//! `numbers.range(1, 1000000000)` asks for gigabytes at once (the VM traps), and
//! `sprintf("%0300000000d", [1])` grows linear memory by 300 MB for good (wasm memory never
//! shrinks). Each builtin here is replaced by a wrapper that first works out, from its
//! arguments, an upper bound of what its result will take, charges it to the evaluation's
//! byte budget, and refuses the call with a [`regorus::LimitError`] (which regorus never turns
//! into `undefined`) when the budget would be overdrawn. Charges add up over one evaluation, so
//! a chain of doublings stops too, and so does a loop that copies a large object each time.

use std::cell::Cell;

use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

/// The bytes one element of an array, set or object is counted as.
const ELEMENT_BYTES: usize = 16;

thread_local! {
    /// (limit, charged so far) of the evaluation in progress.
    static BUDGET: Cell<(usize, usize)> = const { Cell::new((usize::MAX, 0)) };
}

/// Starts an evaluation allowed to charge `limit` bytes.
pub fn begin(limit: usize) {
    BUDGET.with(|b| b.set((limit, 0)));
}

/// Charges `bytes` to the evaluation in progress.
fn charge(bytes: usize) -> anyhow::Result<()> {
    BUDGET.with(|b| {
        let (limit, used) = b.get();
        let total = used.saturating_add(bytes);
        if total > limit {
            return Err(anyhow::Error::new(
                regorus::LimitError::MemoryLimitExceeded {
                    usage: total as u64,
                    limit: limit as u64,
                },
            ));
        }
        b.set((limit, total));
        Ok(())
    })
}

/// An upper bound of the bytes `value` takes written out (JSON), counting shared parts each
/// time they appear; stops counting past `cap`.
fn written_size(value: &Value, cap: usize) -> usize {
    fn walk(value: &Value, cap: usize, total: &mut usize) {
        if *total > cap {
            return;
        }
        match value {
            Value::String(s) => *total = total.saturating_add(s.len() + 2),
            Value::Array(items) => {
                *total = total.saturating_add(2);
                for item in items.iter() {
                    *total = total.saturating_add(ELEMENT_BYTES);
                    walk(item, cap, total);
                }
            }
            Value::Set(items) => {
                *total = total.saturating_add(2);
                for item in items.iter() {
                    *total = total.saturating_add(ELEMENT_BYTES);
                    walk(item, cap, total);
                }
            }
            Value::Object(fields) => {
                *total = total.saturating_add(2);
                for (key, item) in fields.iter() {
                    *total = total.saturating_add(ELEMENT_BYTES);
                    walk(key, cap, total);
                    walk(item, cap, total);
                }
            }
            _ => *total = total.saturating_add(ELEMENT_BYTES),
        }
    }
    let mut total = 0;
    walk(value, cap, &mut total);
    total
}

fn arg(args: &[Value], at: usize) -> &Value {
    args.get(at).unwrap_or(&Value::Undefined)
}

fn str_len(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        _ => 0,
    }
}

fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n.as_i64().map(i128::from),
        _ => None,
    }
}

fn collection_len(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.len(),
        Value::Set(items) => items.len(),
        Value::Object(fields) => fields.len(),
        _ => 0,
    }
}

/// Elements of `numbers.range(a, b)` / `numbers.range_step(a, b, step)`.
fn range_bytes(args: &[Value]) -> usize {
    let (Some(a), Some(b)) = (integer(arg(args, 0)), integer(arg(args, 1))) else {
        return 0;
    };
    let step = integer(arg(args, 2)).filter(|s| *s > 0).unwrap_or(1);
    let elements = (a - b).unsigned_abs() / step.unsigned_abs() + 1;
    usize::try_from(elements)
        .unwrap_or(usize::MAX)
        .saturating_mul(ELEMENT_BYTES)
}

/// `s` with every `old` replaced by `new`: at most one `new` per match (per character and
/// one more for an empty `old`).
fn replaced_len(s: usize, old: usize, new: usize) -> usize {
    let matches = s / old.max(1) + 1;
    s.saturating_add(matches.saturating_mul(new))
}

fn replace_bytes(args: &[Value]) -> usize {
    replaced_len(
        str_len(arg(args, 0)),
        str_len(arg(args, 1)),
        str_len(arg(args, 2)),
    )
}

/// `strings.replace_n(patterns, s)`: each pattern may apply to the result of the one before.
fn replace_n_bytes(args: &[Value]) -> usize {
    let mut size = str_len(arg(args, 1));
    if let Value::Object(patterns) = arg(args, 0) {
        for (old, new) in patterns.iter() {
            size = replaced_len(size, str_len(old), str_len(new));
        }
    }
    size
}

fn concat_bytes(args: &[Value]) -> usize {
    let delimiter = str_len(arg(args, 0));
    let parts: Box<dyn Iterator<Item = &Value>> = match arg(args, 1) {
        Value::Array(items) => Box::new(items.iter()),
        Value::Set(items) => Box::new(items.iter()),
        _ => Box::new(std::iter::empty()),
    };
    parts.fold(0usize, |total, part| {
        total
            .saturating_add(str_len(part))
            .saturating_add(delimiter)
    })
}

fn array_concat_bytes(args: &[Value]) -> usize {
    collection_len(arg(args, 0))
        .saturating_add(collection_len(arg(args, 1)))
        .saturating_mul(ELEMENT_BYTES)
}

/// The format, its arguments written out, and the width and precision of every verb in the
/// format (`%0300000000d` pads its output to that many characters). Digits outside a verb are
/// literal text, already counted in the format's length.
fn sprintf_bytes(args: &[Value], cap: usize) -> usize {
    let format = match arg(args, 0) {
        Value::String(s) => s.as_ref(),
        _ => "",
    };
    format
        .len()
        .saturating_add(verb_padding(format))
        .saturating_add(written_size(arg(args, 1), cap))
}

/// The widths and precisions of the `%` verbs of a Go-style format, summed.
fn verb_padding(format: &str) -> usize {
    let mut padding = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            continue;
        }
        while chars.next_if(|c| "+-# 0".contains(*c)).is_some() {}
        let mut number = 0usize;
        while let Some(c) = chars.peek().copied() {
            match c.to_digit(10) {
                Some(d) => {
                    number = number.saturating_mul(10).saturating_add(d as usize);
                    chars.next();
                }
                None if c == '.' => {
                    padding = padding.saturating_add(number);
                    number = 0;
                    chars.next();
                }
                None => break,
            }
        }
        padding = padding.saturating_add(number);
    }
    padding
}

/// The members of the objects among `values`: what `object.union`, `object.union_n`,
/// `object.filter` and `object.remove` may copy (nested values are shared, not copied).
fn members_bytes<'a>(values: impl IntoIterator<Item = &'a Value>) -> usize {
    values
        .into_iter()
        .filter(|value| matches!(value, Value::Object(_)))
        .fold(0usize, |total, value| {
            total.saturating_add(collection_len(value))
        })
        .saturating_mul(ELEMENT_BYTES)
}

/// `object.union_n(objects)`: every member of every object may be copied.
fn union_n_bytes(args: &[Value]) -> usize {
    match arg(args, 0) {
        Value::Array(objects) => members_bytes(objects.iter()),
        _ => 0,
    }
}

fn marshal_bytes(args: &[Value], cap: usize) -> usize {
    written_size(arg(args, 0), cap).saturating_mul(2)
}

/// How a capped builtin's result is bounded from its arguments (`cap` bounds the walk).
type Estimate = fn(&[Value], usize) -> usize;

/// Every capped builtin: its name and its estimate.
const CAPPED: &[(&str, Estimate)] = &[
    ("numbers.range", |args, _| range_bytes(args)),
    ("numbers.range_step", |args, _| range_bytes(args)),
    ("replace", |args, _| replace_bytes(args)),
    ("strings.replace_n", |args, _| replace_n_bytes(args)),
    ("concat", |args, _| concat_bytes(args)),
    ("array.concat", |args, _| array_concat_bytes(args)),
    ("sprintf", sprintf_bytes),
    ("json.marshal", marshal_bytes),
    ("json.marshal_with_options", marshal_bytes),
    ("object.union", |args, _| members_bytes(args)),
    ("object.union_n", |args, _| union_n_bytes(args)),
    ("object.filter", |args, _| members_bytes([arg(args, 0)])),
    ("object.remove", |args, _| members_bytes([arg(args, 0)])),
];

/// The charge for calling `name` with `args`, if it is capped.
fn estimate(name: &str, args: &[Value]) -> Option<usize> {
    let remaining = BUDGET.with(|b| {
        let (limit, used) = b.get();
        limit.saturating_sub(used)
    });
    CAPPED
        .iter()
        .find(|(capped, _)| *capped == name)
        .map(|(_, f)| f(args, remaining))
}

type Builtin = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

fn original(name: &str) -> Option<Builtin> {
    regorus::unstable::BUILTINS.get(name).map(|(f, _)| *f)
}

/// Charges, then calls regorus' own builtin.
fn checked(
    name: &str,
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    charge(estimate(name, args).unwrap_or(0))?;
    match original(name) {
        Some(f) => f(span, params, args, strict),
        None => anyhow::bail!("builtin {name} is missing"),
    }
}

macro_rules! wrappers {
    ($($name:literal => $f:ident),* $(,)?) => {
        $(fn $f(span: &Span, params: &[Ref<Expr>], args: &[Value], strict: bool)
            -> anyhow::Result<Value> {
            checked($name, span, params, args, strict)
        })*
        /// The wrapper standing in for the builtin `name`.
        fn wrapper(name: &str) -> Option<Builtin> {
            match name {
                $($name => Some($f),)*
                _ => None,
            }
        }
    };
}

wrappers! {
    "numbers.range" => capped_range,
    "numbers.range_step" => capped_range_step,
    "replace" => capped_replace,
    "strings.replace_n" => capped_replace_n,
    "concat" => capped_concat,
    "array.concat" => capped_array_concat,
    "sprintf" => capped_sprintf,
    "json.marshal" => capped_marshal,
    "json.marshal_with_options" => capped_marshal_with_options,
    "object.union" => capped_object_union,
    "object.union_n" => capped_object_union_n,
    "object.filter" => capped_object_filter,
    "object.remove" => capped_object_remove,
}

/// Swaps the capped builtins of a compiled bytecode program for their wrappers.
pub fn cap_program(program: &mut regorus::rvm::program::Program) {
    for (index, info) in program.builtin_info_table.iter().enumerate() {
        if let (Some(slot), Some(f)) = (
            program.resolved_builtins.get_mut(index),
            wrapper(&info.name),
        ) {
            slot.0 = f;
        }
    }
}

/// Registers the capped builtins as extensions of an interpreter (extensions are looked up
/// before builtins), each calling regorus' own builtin once charged.
pub fn cap_interpreter(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    let span = Span {
        source: regorus::unstable::Source::from_contents("<builtin>".into(), String::new())?,
        line: 1,
        col: 1,
        start: 0,
        end: 0,
    };
    for (name, _) in CAPPED {
        let Some((_, arity)) = regorus::unstable::BUILTINS.get(name) else {
            continue;
        };
        let params: Vec<Ref<Expr>> = (0..*arity)
            .map(|_| {
                Ref::new(Expr::Null {
                    span: span.clone(),
                    value: Value::Null,
                    eidx: 0,
                })
            })
            .collect();
        let span = span.clone();
        engine.add_extension(
            (*name).to_string(),
            *arity,
            // As the interpreter does for builtins (non-strict): an error other than a limit
            // makes the call undefined rather than failing the evaluation.
            Box::new(
                move |args: Vec<Value>| match checked(name, &span, &params, &args, false) {
                    Err(err) if err.downcast_ref::<regorus::LimitError>().is_none() => {
                        Ok(Value::Undefined)
                    }
                    result => result,
                },
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::eval::{Budget, EvalError, Evaluator};

    fn v(json: serde_json::Value) -> Value {
        Value::from(json)
    }

    /// `policy` (package `p`) compiled for `data.p.allow` with 1 MiB for the capped builtins.
    fn evaluator(policy: &str, on_interpreter: bool) -> Evaluator {
        let mut engine = regorus::Engine::new();
        engine.add_policy("p.rego".into(), policy.into()).unwrap();
        let budget = Budget {
            time: std::time::Duration::from_secs(5),
            instructions: 1_000_000,
            bytes: 1 << 20,
        };
        Evaluator::compile(engine, "data.p.allow", &[], on_interpreter, budget).unwrap()
    }

    fn input(n: u64) -> Value {
        Value::from(serde_json::json!({ "n": n }))
    }

    #[test]
    fn estimates_bound_the_result() {
        assert_eq!(
            range_bytes(&[v(1.into()), v(1_000_000_000.into())]),
            1_000_000_000 * ELEMENT_BYTES
        );
        assert_eq!(
            range_bytes(&[v(10.into()), v(1.into()), v(3.into())]),
            4 * ELEMENT_BYTES
        );
        assert!(
            sprintf_bytes(&[v("%0300000000d".into()), v(serde_json::json!([1]))], 100)
                > 300_000_000
        );
        // Only verbs pad: a number in the text is text, `%%` is no verb.
        assert_eq!(verb_padding("user %s has id 123456789, 100%% sure"), 0);
        assert_eq!(verb_padding("%-8s|%08.3f|%5d"), 8 + 8 + 3 + 5);
        assert_eq!(replaced_len(10, 0, 10), 10 + 11 * 10);
        assert!(
            replace_n_bytes(&[v(serde_json::json!({"": "0123456789"})), v("abc".into())]) >= 43
        );
        let shared = (0..40).fold(Value::from(serde_json::json!("x")), |x, _| {
            Value::from(vec![x.clone(), x])
        });
        assert!(written_size(&shared, 1 << 20) > 1 << 20);
        assert_eq!(
            members_bytes(&[v(serde_json::json!({"a": 1, "b": {"c": 2}})), v(1.into())]),
            2 * ELEMENT_BYTES
        );
    }

    #[test]
    fn charges_add_up_within_one_evaluation() {
        begin(100);
        assert!(charge(60).is_ok());
        let err = charge(60).unwrap_err();
        assert!(err.downcast_ref::<regorus::LimitError>().is_some());
        begin(100);
        assert!(charge(60).is_ok());
    }

    /// `object.union` copies its objects' members on every call: a loop of unions is charged
    /// for each copy, on both engines.
    #[test]
    fn repeated_object_copies_are_charged_on_both_engines() {
        let policy = "package p\nimport rego.v1\n\
                      wide := {sprintf(\"k%d\", [i]): i | some i in numbers.range(1, 1000)}\n\
                      default allow := false\n\
                      allow if count([j | some j in numbers.range(1, input.n); object.union(wide, {\"j\": j})]) > 0\n";
        for on_interpreter in [false, true] {
            let mut evaluator = evaluator(policy, on_interpreter);
            // 10 copies of 1,001 members fit in 1 MiB; 100 do not.
            let small = evaluator.evaluate("data.p.allow", input(10));
            assert_eq!(
                small,
                Ok(Value::from(true)),
                "interpreter: {on_interpreter}"
            );
            let err = evaluator.evaluate("data.p.allow", input(100)).unwrap_err();
            assert!(
                matches!(err, EvalError::Budget(_)),
                "interpreter: {on_interpreter}: {err}"
            );
        }
    }

    /// Both engines stop a bomb as over budget and still run the same policy within it.
    #[test]
    fn bombs_are_over_budget_on_both_engines() {
        // A builtin's own error is `undefined` on both engines, as without the caps.
        for on_interpreter in [false, true] {
            let policy = "package p\nimport rego.v1\ndefault allow := 7\nallow := 8 if count(numbers.range(\"a\", input.n)) > 0\n";
            let result = evaluator(policy, on_interpreter).evaluate("data.p.allow", input(3));
            assert_eq!(
                result,
                Ok(Value::from(7u64)),
                "interpreter: {on_interpreter}"
            );
        }
        let rules = [
            "count(numbers.range(1, input.n)) > 0",
            "count(sprintf(concat(\"\", [\"%0\", format_int(input.n, 10), \"d\"]), [1])) > 0",
            "count(concat(\",\", [x | some x in [\"a\", \"b\"]; input.n > 0])) > 0",
        ];
        for rule in rules {
            for on_interpreter in [false, true] {
                let policy =
                    format!("package p\nimport rego.v1\ndefault allow := false\nallow if {rule}\n");
                let mut evaluator = evaluator(&policy, on_interpreter);
                let small = evaluator.evaluate("data.p.allow", input(10));
                assert_eq!(small, Ok(Value::from(true)), "{rule}");
                if rule.contains("concat(\",\"") {
                    continue;
                }
                let err = evaluator
                    .evaluate("data.p.allow", input(1_000_000_000))
                    .unwrap_err();
                assert!(matches!(err, EvalError::Budget(_)), "{rule}: {err}");
            }
        }
    }
}
