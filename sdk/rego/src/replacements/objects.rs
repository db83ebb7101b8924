//! `object.subset`, as OPA: regorus' panics on an empty array.

use std::collections::BTreeSet;

use anyhow::bail;
use regorus::unstable::{Expr, Ref, Span};
use regorus::Value;

use super::arg;

/// `object.subset(super, sub)`, as OPA: objects by key, recursively; sets by membership; arrays
/// when `sub` is a contiguous run of `super` (an empty array is in any); an array and a set when
/// every member of the set is in the array. (regorus panics on an empty array.)
pub(super) fn object_subset(
    _: &Span,
    _: &[Ref<Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replacements::testing::call;
    use serde_json::json;

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
}
