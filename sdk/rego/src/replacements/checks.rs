//! Checks of a builtin's arguments before it runs: arguments regorus would panic on, or that
//! OPA refuses (an error, which makes the call undefined).

use anyhow::bail;
use regorus::Value;

/// The longest glob pattern compiled: longer ones can exceed the regex size limit, which the
/// glob crate turns into a panic.
const MAX_GLOB_PATTERN: usize = 16 << 10;
/// The deepest nesting of `{...}` alternatives in a glob pattern (the regex nesting limit would
/// otherwise be hit, and panic, past about 250).
const MAX_GLOB_NESTING: usize = 100;

pub(super) fn check_glob(pattern: &Value) -> anyhow::Result<()> {
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

/// OPA: the step must be a positive integer. regorus (non-strict) divides by it first.
pub(super) fn check_step(step: &Value) -> anyhow::Result<()> {
    match step {
        Value::Number(n) if n.as_f64().is_some_and(|f| f > 0.0) => Ok(()),
        Value::Number(_) => bail!("numbers.range_step: step must be a positive integer"),
        _ => Ok(()),
    }
}

/// The most components one `json.filter`/`json.remove` path may have: regorus builds one
/// nesting level per component, and dropping thousands overflows the stack.
const MAX_JSON_PATH: usize = 1000;

pub(super) fn check_json_paths(name: &str, paths: &Value) -> anyhow::Result<()> {
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
pub(super) fn check_layout(name: &str, layout: &Value) -> anyhow::Result<()> {
    match layout {
        Value::String(layout) if !layout.is_ascii() => {
            bail!("{name}: the layout holds a character other than ASCII")
        }
        _ => Ok(()),
    }
}

/// The largest exponent `units.parse` accepts: regorus writes `1e<exponent>` out as a whole
/// number, which takes seconds and megabytes for large exponents, and anything past 1e308 is
/// refused anyway. (`units.parse_bytes` is Palisade's, which bounds its own work.)
const MAX_UNITS_EXPONENT: u32 = 400;
/// The longest number `units.parse` and `units.parse_bytes` read (its digits are parsed as a
/// big integer).
const MAX_UNITS_TEXT: usize = 400;

pub(super) fn check_units(name: &str, text: &Value) -> anyhow::Result<()> {
    let Value::String(text) = text else {
        return Ok(());
    };
    if text.len() > MAX_UNITS_TEXT {
        bail!("{name}: longer than {MAX_UNITS_TEXT} bytes");
    }
    if name == "units.parse_bytes" {
        return Ok(());
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

/// OPA: `indexof` and `indexof_n` fail on an empty search string. (regorus answers 0, or
/// every position.)
pub(super) fn check_search(name: &str, search: &Value) -> anyhow::Result<()> {
    match search {
        Value::String(search) if search.is_empty() => bail!("{name}: empty search character"),
        _ => Ok(()),
    }
}
