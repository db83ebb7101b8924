//! `semver.is_valid` and `semver.compare`, as OPA's (its `internal/semver`, from CoreOS'
//! go-semver): a leading `v` is allowed, numbers may have leading zeros, and an empty
//! pre-release or build (`1.0.0-`) is none. (regorus follows the SemVer grammar strictly.)

use std::cmp::Ordering;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

/// A version as OPA reads it (build metadata takes no part in comparisons).
#[derive(Debug, PartialEq, Eq)]
struct Version<'t> {
    major: i64,
    minor: i64,
    patch: i64,
    pre_release: &'t str,
}

/// `text` before and after the first `separator` (all of it and "" without one), as Go's
/// `strings.Cut` keeps them.
fn cut(text: &str, separator: char) -> (&str, &str) {
    text.split_once(separator).unwrap_or((text, ""))
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`, none empty.
fn identifiers(text: &str) -> bool {
    text.split('.').all(|identifier| {
        !identifier.is_empty()
            && identifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Go's `strconv.ParseInt(text, 10, 64)` on what is left here (no sign can be).
fn number(text: &str) -> Option<i64> {
    match text.bytes().all(|b| b.is_ascii_digit()) {
        true => text.parse().ok(),
        false => None,
    }
}

fn parse(text: &str) -> Option<Version<'_>> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (text, metadata) = cut(text, '+');
    if !metadata.is_empty() && !identifiers(metadata) {
        return None;
    }
    let (text, pre_release) = cut(text, '-');
    if !pre_release.is_empty() && !identifiers(pre_release) {
        return None;
    }
    if text.matches('.').count() != 2 {
        return None;
    }
    let (major, rest) = cut(text, '.');
    let (minor, patch) = cut(rest, '.');
    Some(Version {
        major: number(major)?,
        minor: number(minor)?,
        patch: number(patch)?,
        pre_release,
    })
}

/// A pre-release identifier of digits only, as a number (Go's `strconv.Atoi`, which gives the
/// largest value on overflow).
fn numeric(identifier: &str) -> Option<i64> {
    let digits = !identifier.is_empty() && identifier.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| identifier.parse().unwrap_or(i64::MAX))
}

fn compare(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    let numbers = (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch));
    if numbers != Ordering::Equal || a.pre_release == b.pre_release {
        return numbers;
    }
    // A version without a pre-release is the greater.
    match (a.pre_release.is_empty(), b.pre_release.is_empty()) {
        (true, _) => return Ordering::Greater,
        (_, true) => return Ordering::Less,
        _ => {}
    }
    let (mut x, mut x_rest) = cut(a.pre_release, '.');
    let (mut y, mut y_rest) = cut(b.pre_release, '.');
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            // Every identifier compared equal although the texts differ (`01` and `1`, or two
            // numbers past 2^63): OPA loops here for ever; Palisade answers that they are equal.
            (true, true) => return Ordering::Equal,
            (false, false) => {}
        }
        // Numeric identifiers are below the others.
        let order = match (numeric(x), numeric(y)) {
            (Some(m), Some(n)) => m.cmp(&n),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
        // More identifiers, all else equal, is the greater.
        match (x_rest.is_empty(), y_rest.is_empty()) {
            (false, true) => return Ordering::Greater,
            (true, false) => return Ordering::Less,
            _ => {}
        }
        (x, x_rest) = cut(x_rest, '.');
        (y, y_rest) = cut(y_rest, '.');
    }
}

/// `semver.is_valid(version)`: `false` for anything but a string, as OPA.
pub(super) fn semver_is_valid(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let valid = match args.first() {
        Some(Value::String(text)) => parse(text).is_some(),
        _ => false,
    };
    Ok(Value::from(valid))
}

/// `semver.compare(a, b)`: -1, 0 or 1.
pub(super) fn semver_compare(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    const NAME: &str = "semver.compare";
    let a = string_arg(NAME, args, 0)?;
    let b = string_arg(NAME, args, 1)?;
    let (Some(a), Some(b)) = (parse(a), parse(b)) else {
        bail!("{NAME}: not a valid SemVer");
    };
    Ok(Value::from(match compare(&a, &b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_opa_reads_them() {
        for good in [
            "1.0.0",
            "v1.0.0",
            "v1.0.0-alpha+b",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "1.0.0+0a.01",
            "1.0.0-a-b.c+d-e",
            "9223372036854775807.0.0",
        ] {
            assert!(parse(good).is_some(), "{good}");
        }
        for bad in [
            "vv1.0.0",
            "V1.0.0",
            "1.0",
            "1.0.0.0",
            "1.0.0-a..b",
            "v",
            "",
            "1.0.0-alpha_b",
            "1.0.0-é",
            "9223372036854775808.0.0",
            "1..0",
            "1.0.x",
            "-1.0.0",
            "+1.0.0",
            "1.+1.0",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn versions_compare_as_opa_compares_them() {
        let cmp = |a: &str, b: &str| compare(&parse(a).unwrap(), &parse(b).unwrap());
        assert_eq!(cmp("v1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("1.0.0", "1.0.1"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), Ordering::Less);
        assert_eq!(cmp("1.0.0-alpha", "1.0.0-alpha.1"), Ordering::Less);
        assert_eq!(cmp("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("1.0.0-2", "1.0.0-10"), Ordering::Less);
        assert_eq!(cmp("1.0.0+a", "1.0.0+b"), Ordering::Equal);
        assert_eq!(cmp("1.0.0-", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("10.0.0", "9.0.0"), Ordering::Greater);
        assert_eq!(cmp("1.0.0-01", "1.0.0-1"), Ordering::Equal);
        assert_eq!(
            cmp("1.0.0-99999999999999999999", "1.0.0-99999999999999999998"),
            Ordering::Equal
        );
    }
}
