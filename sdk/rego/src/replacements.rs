//! Where regorus' builtins would take the filter down, or answer otherwise than OPA: Palisade's
//! replacements of some builtins, and checks of the arguments and results of all of them.
//!
//! The filter is built with `panic = "abort"`: a panic in a builtin traps the VM, and every later
//! request on that worker gets a 503 until the VM is replaced. The cases here were found by the
//! `builtins` fuzz target and a review of regorus 0.14.1 (`docs/RELIABILITY.md` lists them).
//! A check that fails is an error, which the engines treat as OPA's non-strict mode does: the
//! call is undefined. Error messages never print argument values: formatting a number regorus
//! cannot write out is itself one of the panics.

use std::collections::BTreeSet;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

/// A regorus builtin: `(span, argument expressions, argument values, strict) -> value`.
pub(crate) type Builtin = fn(&Span, &[Ref<Expr>], &[Value], bool) -> anyhow::Result<Value>;

/// Palisade's own implementation of `name`, where regorus' panics on some arguments or answers
/// otherwise than OPA.
pub(crate) fn replacement(name: &str) -> Option<Builtin> {
    match name {
        "strings.count" => Some(strings_count),
        "object.subset" => Some(object_subset),
        "regex.template_match" => Some(regex_template_match),
        "time.parse_duration_ns" => Some(parse_duration_ns),
        _ => None,
    }
}

/// Checks the arguments of a call of `name` before it runs.
pub(crate) fn check_arguments(name: &str, args: &[Value]) -> anyhow::Result<()> {
    if !args.iter().all(writable) {
        bail!("{name}: an argument holds a number beyond ±1e308, which Palisade cannot represent");
    }
    match name {
        "glob.match" => check_glob(arg(args, 0)),
        "sprintf" => check_format(arg(args, 0)),
        "numbers.range_step" => check_step(arg(args, 2)),
        "json.filter" | "json.remove" => check_json_paths(name, arg(args, 1)),
        "time.parse_ns" => check_layout(name, arg(args, 0)),
        "time.format" => match arg(args, 0) {
            Value::Array(parts) => check_layout(name, parts.get(2).unwrap_or(&Value::Undefined)),
            _ => Ok(()),
        },
        "units.parse" | "units.parse_bytes" => check_units(name, arg(args, 0)),
        _ => Ok(()),
    }
}

/// Checks what a call of `name` returned: no number the engines cannot write out leaves it.
pub(crate) fn check_result(name: &str, result: &Value) -> anyhow::Result<()> {
    if !writable(result) {
        bail!("{name}: the result holds a number beyond ±1e308, which Palisade cannot represent");
    }
    Ok(())
}

fn arg(args: &[Value], at: usize) -> &Value {
    args.get(at).unwrap_or(&Value::Undefined)
}

/// Whether regorus can write `value` out. It writes a number as decimal digits and reads them
/// back as JSON; past about ±1.8e308 that fails, and every message that prints such a value
/// (most builtins' type errors do) panics. Numbers from ±1e308 up are refused to stay clear of
/// that edge, except integers in a build with the `x509` feature: it turns on serde_json's
/// arbitrary_precision, with which regorus writes integers of any size (certificates hold
/// 2048-bit RSA moduli).
pub(crate) fn writable(value: &Value) -> bool {
    numbers_all(value, &|n| {
        below_1e308(n)
            || (cfg!(feature = "x509") && matches!(n, Value::Number(n) if n.as_big().is_some()))
    })
}

/// Whether every number of an input or data document is within ±1e308: the numbers Palisade
/// takes from outside, whatever the build.
pub(crate) fn within_1e308(value: &Value) -> bool {
    numbers_all(value, &below_1e308)
}

/// Whether a number (`Value::Number`) is within ±1e308.
fn below_1e308(number: &Value) -> bool {
    let Value::Number(n) = number else {
        return true;
    };
    n.as_i64().is_some()
        || n.as_u64().is_some()
        || n.as_f64().is_some_and(|f| f.is_finite() && f.abs() < 1e308)
        // An integer beyond 64 bits (`sum([2^64 - 1, 1])`), below 2^1023 < 1e308.
        || n.as_big().is_some_and(|big| big.bits() <= 1023)
}

/// Whether `ok` holds for every number in `value`.
fn numbers_all(value: &Value, ok: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Number(_) => ok(value),
        Value::Array(items) => items.iter().all(|v| numbers_all(v, ok)),
        Value::Set(items) => items.iter().all(|v| numbers_all(v, ok)),
        Value::Object(fields) => fields
            .iter()
            .all(|(k, v)| numbers_all(k, ok) && numbers_all(v, ok)),
        _ => true,
    }
}

// ---- argument checks ----

/// The longest glob pattern compiled: longer ones can exceed the regex size limit, which the
/// glob crate turns into a panic.
const MAX_GLOB_PATTERN: usize = 16 << 10;
/// The deepest nesting of `{...}` alternatives in a glob pattern (the regex nesting limit would
/// otherwise be hit, and panic, past about 250).
const MAX_GLOB_NESTING: usize = 100;

fn check_glob(pattern: &Value) -> anyhow::Result<()> {
    let Value::String(pattern) = pattern else {
        return Ok(());
    };
    if pattern.len() > MAX_GLOB_PATTERN {
        bail!("glob.match: the pattern is longer than {MAX_GLOB_PATTERN} bytes");
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_GLOB_NESTING {
        bail!("glob.match: alternatives nested deeper than {MAX_GLOB_NESTING}");
    }
    Ok(())
}

/// regorus reads a verb's width and precision as any Unicode digits, and panics converting one
/// that is not ASCII (`%²d`).
fn check_format(format: &Value) -> anyhow::Result<()> {
    let Value::String(format) = format else {
        return Ok(());
    };
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        while chars.next_if(|c| "+-# 0".contains(*c)).is_some() {}
        while let Some(c) = chars.next_if(|c| c.is_numeric() || *c == '.') {
            if c != '.' && !c.is_ascii_digit() {
                bail!("sprintf: a verb's width or precision is not ASCII digits");
            }
        }
    }
    Ok(())
}

/// OPA: the step must be a positive integer. regorus (non-strict) divides by it first.
fn check_step(step: &Value) -> anyhow::Result<()> {
    match step {
        Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Ok(()),
        Value::Number(_) => bail!("numbers.range_step: step must be a positive integer"),
        _ => Ok(()),
    }
}

/// The most components one `json.filter`/`json.remove` path may have: regorus builds one
/// nesting level per component, and dropping thousands overflows the stack.
const MAX_JSON_PATH: usize = 1000;

fn check_json_paths(name: &str, paths: &Value) -> anyhow::Result<()> {
    let components = |path: &Value| match path {
        Value::String(s) => s.split('/').count(),
        Value::Array(parts) => parts.len(),
        _ => 0,
    };
    let too_long = match paths {
        Value::Array(paths) => paths.iter().any(|p| components(p) > MAX_JSON_PATH),
        Value::Set(paths) => paths.iter().any(|p| components(p) > MAX_JSON_PATH),
        _ => false,
    };
    if too_long {
        bail!("{name}: a path has more than {MAX_JSON_PATH} components");
    }
    Ok(())
}

/// regorus' Go-layout reader slices a non-ASCII character it does not know at one byte.
fn check_layout(name: &str, layout: &Value) -> anyhow::Result<()> {
    match layout {
        Value::String(layout) if !layout.is_ascii() => {
            bail!("{name}: the layout holds a character other than ASCII")
        }
        _ => Ok(()),
    }
}

/// The largest exponent `units.parse` accepts: regorus writes `1e<exponent>` out as a whole
/// number, which takes seconds and megabytes for large exponents, and anything past 1e308 is
/// refused anyway.
const MAX_UNITS_EXPONENT: u32 = 400;
/// The longest number `units.parse` reads (its digits are parsed as a big integer).
const MAX_UNITS_TEXT: usize = 400;

fn check_units(name: &str, text: &Value) -> anyhow::Result<()> {
    let Value::String(text) = text else {
        return Ok(());
    };
    if text.len() > MAX_UNITS_TEXT {
        bail!("{name}: longer than {MAX_UNITS_TEXT} bytes");
    }
    let exponent = text
        .find(['e', 'E'])
        .and_then(|at| text.get(at + 1..))
        .map(|rest| {
            rest.trim_start_matches(['+', '-'])
                .chars()
                .take_while(char::is_ascii_digit)
                .fold(0u32, |n, d| {
                    n.saturating_mul(10)
                        .saturating_add(d.to_digit(10).unwrap_or(0))
                })
        });
    if exponent.is_some_and(|e| e > MAX_UNITS_EXPONENT) {
        bail!("{name}: an exponent over {MAX_UNITS_EXPONENT}");
    }
    Ok(())
}

// ---- replacements ----

fn string_arg<'v>(name: &str, args: &'v [Value], at: usize) -> anyhow::Result<&'v str> {
    match arg(args, at) {
        Value::String(s) => Ok(s),
        _ => bail!("{name}: operand {} must be a string", at + 1),
    }
}

/// `strings.count(search, substring)`, as Go's `strings.Count`: non-overlapping occurrences,
/// and one more than the number of characters for an empty substring. (regorus counts
/// overlapping ones, and panics on an empty substring.)
fn strings_count(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    let search = string_arg("strings.count", args, 0)?;
    let substring = string_arg("strings.count", args, 1)?;
    let count = match substring {
        "" => search.chars().count() + 1,
        _ => search.matches(substring).count(),
    };
    Ok(Value::from(count))
}

/// `object.subset(super, sub)`, as OPA: objects by key, recursively; sets by membership; arrays
/// when `sub` is a contiguous run of `super` (an empty array is in any); an array and a set when
/// every member of the set is in the array. (regorus panics on an empty array.)
fn object_subset(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    let (sup, sub) = (arg(args, 0), arg(args, 1));
    let result = match (sup, sub) {
        (Value::Object(_), Value::Object(_))
        | (Value::Set(_), Value::Set(_))
        | (Value::Array(_), Value::Array(_)) => is_subset(sup, sub),
        (Value::Array(items), Value::Set(members)) => {
            let items: BTreeSet<&Value> = items.iter().collect();
            members.iter().all(|m| items.contains(m))
        }
        _ => bail!(
            "object.subset: both arguments must be of the same type (object, set or array), \
             or an array and a set"
        ),
    };
    Ok(Value::from(result))
}

fn is_subset(sup: &Value, sub: &Value) -> bool {
    match (sup, sub) {
        (Value::Object(sup), Value::Object(sub)) => sub
            .iter()
            .all(|(key, value)| sup.get(key).is_some_and(|s| is_subset(s, value))),
        (Value::Set(sup), Value::Set(sub)) => sub.is_subset(sup),
        (Value::Array(sup), Value::Array(sub)) => {
            let (sup, sub) = (sup.as_slice(), sub.as_slice());
            sub.is_empty() || sup.windows(sub.len()).any(|run| run == sub)
        }
        (sup, sub) => sup == sub,
    }
}

/// The largest compiled `regex.template_match` pattern (as for regorus' own regexes).
const TEMPLATE_REGEX_SIZE: usize = 100 << 10;

/// `regex.template_match(template, value, start, end)`, as OPA (gorilla/mux templates): the
/// delimiters are one character each, the parts between balanced delimiters are regular
/// expressions, everything else literal text, and the whole value must match. (regorus slices
/// the value at the template's byte offsets and panics when it is shorter.)
fn regex_template_match(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "regex.template_match";
    let template = string_arg(NAME, args, 0)?;
    let value = string_arg(NAME, args, 1)?;
    let one_char = |at: usize, which: &str| -> anyhow::Result<char> {
        let delimiter = string_arg(NAME, args, at)?;
        let mut chars = delimiter.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => bail!("{NAME}: {which} delimiter has to be exactly one character long"),
        }
    };
    let (open, close) = (one_char(2, "start")?, one_char(3, "end")?);
    let mut pattern = String::from("^");
    let mut literal_from = 0;
    let mut level = 0usize;
    let mut part_from = 0;
    for (at, c) in template.char_indices() {
        if c == open {
            level += 1;
            if level == 1 {
                pattern.push_str(&regex::escape(template.get(literal_from..at).unwrap_or("")));
                part_from = at + c.len_utf8();
            }
        } else if c == close && level > 0 {
            level -= 1;
            if level == 0 {
                pattern.push('(');
                pattern.push_str(template.get(part_from..at).unwrap_or(""));
                pattern.push(')');
                literal_from = at + c.len_utf8();
            }
        } else if c == close {
            bail!("{NAME}: unbalanced braces");
        }
    }
    if level != 0 {
        bail!("{NAME}: unbalanced braces");
    }
    pattern.push_str(&regex::escape(template.get(literal_from..).unwrap_or("")));
    pattern.push('$');
    let regex = regex::RegexBuilder::new(&pattern)
        .size_limit(TEMPLATE_REGEX_SIZE)
        .build()
        .map_err(|_| anyhow::anyhow!("{NAME}: the template is not a valid regular expression"))?;
    Ok(Value::from(regex.is_match(value)))
}

/// `time.parse_duration_ns(duration)`, as Go's `time.ParseDuration` (OPA's): a sign, then
/// decimal numbers with a unit each (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), summed as
/// Go sums them. (regorus slices the text at a byte that may be inside a character, or past its
/// end, and panics.)
fn parse_duration_ns(_: &Span, _: &[Ref<Expr>], args: &[Value], _: bool) -> anyhow::Result<Value> {
    const NAME: &str = "time.parse_duration_ns";
    let text = string_arg(NAME, args, 0)?;
    match go_duration(text.as_bytes()) {
        Some(ns) => Ok(Value::from(ns)),
        None => bail!("{NAME}: time: invalid duration"),
    }
}

const LIMIT: u64 = 1 << 63;

/// Go's `time.ParseDuration`, step for step (its `uint64` sum wraps as Go's does).
fn go_duration(text: &[u8]) -> Option<i64> {
    let (negative, mut rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if rest == b"0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while let Some(&first) = rest.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let (mut whole, after) = leading_int(rest)?;
        let had_whole = after.len() != rest.len();
        rest = after;
        let (mut fraction, mut scale, mut had_fraction) = (0u64, 1f64, false);
        if let Some((b'.', after)) = rest.split_first() {
            let (f, s, after_fraction) = leading_fraction(after);
            had_fraction = after_fraction.len() != after.len();
            (fraction, scale, rest) = (f, s, after_fraction);
        }
        if !had_whole && !had_fraction {
            return None;
        }
        let unit_len = rest
            .iter()
            .position(|c| *c == b'.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let unit: u64 = match unit {
            b"ns" => 1,
            b"us" => 1_000,
            // µ (U+00B5) and μ (U+03BC), as UTF-8.
            [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        if whole > LIMIT / unit {
            return None;
        }
        whole *= unit;
        if fraction > 0 {
            whole = whole.wrapping_add((fraction as f64 * (unit as f64 / scale)) as u64);
            if whole > LIMIT {
                return None;
            }
        }
        total = total.wrapping_add(whole);
        if total > LIMIT {
            return None;
        }
    }
    match negative {
        true => Some((total as i64).wrapping_neg()),
        false if total > LIMIT - 1 => None,
        false => i64::try_from(total).ok(),
    }
}

/// The digits at the start of `text` as a number (`None` past 2^63), and what follows.
fn leading_int(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let (number, rest) = text.split_at(digits);
    let mut value: u64 = 0;
    for digit in number {
        if value > LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > LIMIT {
            return None;
        }
    }
    Some((value, rest))
}

/// The digits of a fraction as a number and its scale (digits past 2^63 are skipped), and what
/// follows.
fn leading_fraction(text: &[u8]) -> (u64, f64, &[u8]) {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let (number, rest) = text.split_at(digits);
    let (mut value, mut scale, mut overflow) = (0u64, 1f64, false);
    for digit in number {
        if overflow {
            continue;
        }
        if value > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > LIMIT {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: serde_json::Value) -> Value {
        Value::from(json)
    }

    fn call(f: Builtin, args: &[serde_json::Value]) -> Option<serde_json::Value> {
        let args: Vec<Value> = args.iter().cloned().map(v).collect();
        let span = Span {
            source: regorus::unstable::Source::from_contents("t".into(), String::new()).unwrap(),
            line: 1,
            col: 1,
            start: 0,
            end: 0,
        };
        let result = f(&span, &[], &args, false).ok()?;
        serde_json::from_str(&result.to_json_str().unwrap()).ok()
    }

    use serde_json::json;

    #[test]
    fn strings_count_counts_as_go_does() {
        assert_eq!(
            call(strings_count, &[json!("11111"), json!("11")]),
            Some(json!(2))
        );
        assert_eq!(
            call(strings_count, &[json!("abc"), json!("")]),
            Some(json!(4))
        );
        assert_eq!(
            call(strings_count, &[json!("héllo"), json!("")]),
            Some(json!(6))
        );
        assert_eq!(call(strings_count, &[json!(1), json!("")]), None);
    }

    #[test]
    fn object_subset_as_opa() {
        let cases = [
            (json!([1, 2, 3]), json!([2, 3]), Some(true)),
            (json!([1, 2, 3]), json!([1, 3]), Some(false)),
            (json!([1, 2, 3]), json!([]), Some(true)),
            (json!([]), json!([]), Some(true)),
            (json!({"a": [1]}), json!({"a": []}), Some(true)),
            (
                json!({"a": {"b": 1, "c": 2}}),
                json!({"a": {"b": 1}}),
                Some(true),
            ),
            (json!({"a": [1, 2]}), json!({"a": 1}), Some(false)),
            (json!(1), json!(1), None),
        ];
        for (sup, sub, want) in cases {
            let got = call(object_subset, &[sup.clone(), sub.clone()]);
            assert_eq!(got, want.map(|b| json!(b)), "{sup} {sub}");
        }
    }

    #[test]
    fn template_match_as_opa() {
        let t = |template: &str, value: &str, open: &str, close: &str| {
            call(
                regex_template_match,
                &[json!(template), json!(value), json!(open), json!(close)],
            )
        };
        assert_eq!(t("urn:foo:{.*}", "u", "{", "}"), Some(json!(false)));
        assert_eq!(
            t("urn:foo:{.*}", "urn:foo:bar:baz", "{", "}"),
            Some(json!(true))
        );
        assert_eq!(t("é{.*}", "aé", "{", "}"), Some(json!(false)));
        assert_eq!(t("a.{[0-9]+}", "a.42", "{", "}"), Some(json!(true)));
        assert_eq!(t("a.{[0-9]+}", "ab42", "{", "}"), Some(json!(false)));
        assert_eq!(t("{a{1,2}}", "aa", "{", "}"), Some(json!(true)));
        assert_eq!(t("ab", "ab", "ab", "b"), None);
        assert_eq!(t("{a", "a", "{", "}"), None);
    }

    #[test]
    fn durations_parse_as_go_does() {
        let d = |text: &str| go_duration(text.as_bytes());
        assert_eq!(d("1.5h"), Some(5_400_000_000_000));
        assert_eq!(d("1µs"), Some(1_000));
        assert_eq!(d("-1m30s"), Some(-90_000_000_000));
        assert_eq!(d("0"), Some(0));
        assert_eq!(d("2562047h47m16.854775807s"), Some(i64::MAX));
        assert_eq!(d("2562047h47m16.854775808s"), None);
        // Go's sum wraps past 2^64 without noticing: OPA returns 0 for this.
        assert_eq!(d("9223372036854775808ns9223372036854775808ns"), Some(0));
        for bad in ["", "1", "1.", "-3h1.", "1sé", "1µ", ".s", "1x", "+", "-"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn arguments_that_would_panic_are_refused() {
        let refused = |name: &str, args: &[serde_json::Value]| {
            let args: Vec<Value> = args.iter().cloned().map(v).collect();
            check_arguments(name, &args).is_err()
        };
        assert!(refused("upper", &[json!(1.7976931348623157e308)]));
        assert!(refused("startswith", &[json!({"k": [1e308]}), json!("a")]));
        assert!(!refused("upper", &[json!(1e307)]));
        assert!(refused(
            "glob.match",
            &[json!("{".repeat(300)), json!(null), json!("a")]
        ));
        assert!(refused(
            "glob.match",
            &[json!("?".repeat(200_000)), json!(null), json!("a")]
        ));
        assert!(!refused(
            "glob.match",
            &[json!("{a,{b,c}}"), json!(null), json!("a")]
        ));
        assert!(refused("sprintf", &[json!("%²d"), json!([1])]));
        assert!(!refused("sprintf", &[json!("x² %d %5.2f"), json!([1, 2])]));
        assert!(refused(
            "numbers.range_step",
            &[json!(1), json!(5), json!(0)]
        ));
        assert!(refused(
            "numbers.range_step",
            &[json!(0), json!(-9), json!(-1)]
        ));
        assert!(!refused(
            "numbers.range_step",
            &[json!(0), json!(9), json!(2)]
        ));
        let deep = vec!["a"; 5000].join("/");
        assert!(refused("json.filter", &[json!({"a": 1}), json!([deep])]));
        assert!(refused("time.parse_ns", &[json!("é"), json!("é")]));
        assert!(refused("time.format", &[json!([0, "UTC", "é"])]));
        assert!(refused("units.parse", &[json!("1e100000000")]));
        assert!(!refused("units.parse", &[json!("1.5Ki")]));
        assert!(check_result("units.parse", &v(json!(1e308))).is_err());
    }

    #[test]
    fn integers_beyond_64_bits_are_arguments_and_results_like_any_number() {
        use crate::test_support::both;
        let policy = "package t\nimport rego.v1\n\
                      x := [sum(input.xs) - input.xs[0], abs(0 - 340282366920938463463374607431768211456) - 340282366920938463463374607431768211455]\n";
        let xs = json!({"xs": [18446744073709551615u64, 1]});
        assert_eq!(both(policy, xs), Ok(json!([1, 1])));
    }
}
