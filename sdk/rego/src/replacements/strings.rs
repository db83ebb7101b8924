//! String builtins answered as Go's `strings` package answers them.

use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::string_arg;

/// `strings.count(search, substring)`, as Go's `strings.Count`: non-overlapping occurrences,
/// and one more than the number of characters for an empty substring. (regorus counts
/// overlapping ones, and panics on an empty substring.)
pub(super) fn strings_count(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    let search = string_arg("strings.count", args, 0)?;
    let substring = string_arg("strings.count", args, 1)?;
    let count = match substring {
        "" => search.chars().count() + 1,
        _ => search.matches(substring).count(),
    };
    Ok(Value::from(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
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
}
