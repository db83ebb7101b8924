//! Size caps on the builtins that can allocate far more than the instructions they cost.
//!
//! The instruction and time budgets see a builtin call as one step, however much it allocates:
//! `numbers.range(1, 1000000000)` asks for gigabytes at once (the VM traps), and
//! `sprintf("%0300000000d", [1])` grows linear memory by 300 MB for good (wasm memory never
//! shrinks). Before each builtin here runs ([`super::overrides`] calls [`charge_for`]), an
//! upper bound of what its result will take is worked out from its arguments and charged to
//! the evaluation's byte budget; the call is refused with a [`regorus::LimitError`] (which
//! regorus never turns into `undefined`) when the budget would be overdrawn. Charges add up
//! over one evaluation, so a chain of doublings stops too, and so does a loop that copies a
//! large object each time.

use std::cell::Cell;

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

/// `strings.replace_n(patterns, s)`: one pass over `s`, where each byte is copied or starts a
/// replaced pattern, and an empty pattern may add its value before each byte and at the end.
fn replace_n_bytes(args: &[Value]) -> usize {
    let len = str_len(arg(args, 1));
    let (mut per_byte, mut empty) = (1usize, 0usize);
    if let Value::Object(patterns) = arg(args, 0) {
        for (old, new) in patterns.iter() {
            match str_len(old) {
                0 => empty = empty.max(str_len(new)),
                old => per_byte = per_byte.max(str_len(new).div_ceil(old)),
            }
        }
    }
    len.saturating_mul(per_byte)
        .saturating_add(len.saturating_add(1).saturating_mul(empty))
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

/// The format; the width and precision of every verb in the format (`%0300000000d` pads its
/// output to that many characters), and of every `*` (up to Go's 10^6, taken from the largest
/// integer argument); for every verb, the most any one argument can print; and the arguments
/// once more for `%!(EXTRA ...)`. Digits outside a verb are literal text, already counted in
/// the format's length.
fn sprintf_bytes(args: &[Value], cap: usize) -> usize {
    let format = match arg(args, 0) {
        Value::String(s) => s.as_ref(),
        _ => "",
    };
    let values: &[Value] = match arg(args, 1) {
        Value::Array(values) => values.as_slice(),
        _ => &[],
    };
    let printed: Vec<usize> = values.iter().map(|v| printed_size(v, cap)).collect();
    let largest = printed.iter().copied().max().unwrap_or(0);
    let largest_int = values
        .iter()
        .filter_map(integer)
        .map(|n| usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX))
        .max()
        .unwrap_or(0)
        .min(1_000_000);
    let verbs = format.matches('%').count();
    let stars = format.matches('*').count();
    format
        .len()
        .saturating_add(verb_padding(format))
        .saturating_add(stars.saturating_mul(largest_int))
        .saturating_add(verbs.saturating_mul(largest))
        .saturating_add(printed.iter().fold(0usize, |sum, p| sum.saturating_add(*p)))
}

/// The most one `sprintf` verb can print of `value`, besides width and precision: a string
/// five times over (`% #x` writes `0xNN ` for each byte; `%+q` at most `\U0001f600` for four
/// bytes), a number's longest digits (`%b`), anything else its Rego text, that again five times.
fn printed_size(value: &Value, cap: usize) -> usize {
    match value {
        Value::String(s) => s.len().saturating_mul(5).saturating_add(2),
        Value::Number(n) => match (n.as_i64(), n.as_big(), n.as_f64()) {
            (Some(_), _, _) => 72,
            (None, Some(big), _) => usize::try_from(big.bits())
                .unwrap_or(usize::MAX)
                .saturating_add(8),
            // `%f` of 1e308 writes 309 digits (its precision is counted with the format).
            (None, None, Some(f)) => (f.abs().max(1.0).log10() as usize).saturating_add(40),
            (None, None, None) => 72,
        },
        other => written_size(other, cap).saturating_mul(10),
    }
}

/// The widths and precisions of the `%` verbs of a Go-style format, summed (an operand index,
/// `%[2]5.1f` or `%.[1]5d`, and `*` are stepped over).
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
                None if c == '.' || c == '*' => {
                    padding = padding.saturating_add(number);
                    number = 0;
                    chars.next();
                }
                None if c == '[' => {
                    while chars.next_if(|c| *c != ']').is_some() {}
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

/// `bits.lsh(x, n)`: `x` grows by `n` bits.
fn shift_bytes(args: &[Value]) -> usize {
    integer(arg(args, 1)).map_or(0, |bits| {
        usize::try_from(bits.max(0) / 8).unwrap_or(usize::MAX)
    })
}

/// `net.cidr_expand(cidr)`: one string per address of the network.
fn cidr_expand_bytes(args: &[Value]) -> usize {
    let Value::String(cidr) = arg(args, 0) else {
        return 0;
    };
    let (address, prefix) = cidr.split_once('/').unwrap_or((cidr, ""));
    let width: u32 = if address.contains(':') { 128 } else { 32 };
    let prefix: u32 = prefix.parse().unwrap_or(width).min(width);
    let host_bits = width - prefix;
    1usize
        .checked_shl(host_bits)
        .unwrap_or(usize::MAX)
        .saturating_mul(ELEMENT_BYTES + 40)
}

/// `regex.replace(s, pattern, value)`: a pattern may match (even empty) at every character.
fn regex_replace_bytes(args: &[Value]) -> usize {
    replaced_len(str_len(arg(args, 0)), 0, str_len(arg(args, 2)))
}

/// `regex.find_n(pattern, s, n)` / `regex.find_all_string_submatch_n(pattern, s, n)`: up to one
/// match per character and one more, each an element (and one per group for submatches).
fn regex_matches_bytes(args: &[Value]) -> usize {
    let groups = match arg(args, 0) {
        Value::String(pattern) => pattern.matches('(').count(),
        _ => 0,
    };
    str_len(arg(args, 1))
        .saturating_add(1)
        .saturating_mul(groups.saturating_add(1))
        .saturating_mul(ELEMENT_BYTES)
        .saturating_add(str_len(arg(args, 1)))
}

/// Every capped builtin: its name and its estimate.
const CAPPED: &[(&str, Estimate)] = &[
    ("bits.lsh", |args, _| shift_bytes(args)),
    ("regex.replace", |args, _| regex_replace_bytes(args)),
    ("regex.find_n", |args, _| regex_matches_bytes(args)),
    ("regex.find_all_string_submatch_n", |args, _| {
        regex_matches_bytes(args)
    }),
    ("net.cidr_expand", |args, _| cidr_expand_bytes(args)),
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

/// Charges a call of `name` with `args` to the evaluation in progress, when `name` is capped.
pub fn charge_for(name: &str, args: &[Value]) -> anyhow::Result<()> {
    let Some((_, estimate)) = CAPPED.iter().find(|(capped, _)| *capped == name) else {
        return Ok(());
    };
    let remaining = BUDGET.with(|b| {
        let (limit, used) = b.get();
        limit.saturating_sub(used)
    });
    charge(estimate(args, remaining))
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
        assert_eq!(verb_padding("%.[1]99d|%[2]7.3[1]f|%*.*d"), 99 + 7 + 3);
        assert!(
            sprintf_bytes(
                &[
                    v("%[1]s".repeat(1000).into()),
                    v(serde_json::json!(["x".repeat(1000)]))
                ],
                1 << 30
            ) > 1000 * 1000
        );
        assert_eq!(replaced_len(10, 0, 10), 10 + 11 * 10);
        assert!(
            replace_n_bytes(&[v(serde_json::json!({"": "0123456789"})), v("abc".into())]) >= 43
        );
        // One pass: patterns do not compound.
        let chained = serde_json::json!({"a": "bb", "b": "cc", "c": "dd", "dd": "eeeee"});
        assert_eq!(replace_n_bytes(&[v(chained), v("abcd".into())]), 4 * 3);
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

    /// A pattern that matches everywhere multiplies the string by the replacement.
    #[test]
    fn regex_replace_is_charged_on_both_engines() {
        let policy = "package p\nimport rego.v1\ndefault allow := false\n\
                      allow if count(regex.replace(sprintf(concat(\"\", [\"%0\", format_int(input.n, 10), \"d\"]), [1]), \"\", \"0123456789\")) > 0\n";
        for on_interpreter in [false, true] {
            let mut evaluator = evaluator(policy, on_interpreter);
            assert_eq!(
                evaluator.evaluate("data.p.allow", input(10)),
                Ok(Value::from(true))
            );
            // 200 kB of digits is within 1 MiB; ten bytes at each of them is not.
            let err = evaluator
                .evaluate("data.p.allow", input(200_000))
                .unwrap_err();
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
