//! OPA's `net.cidr_merge`, `net.cidr_intersects` and `net.cidr_contains_matches`, which regorus
//! lacks, with the answers OPA gives (Go's `net` package): a bare IPv4 address in `cidr_merge`
//! takes its classful mask (/8, /16 or /24) and, when nothing merges with it, keeps its host
//! bits (`10.0.0.1/8`); a bare IPv6 address is an error there, as is a bare address of either
//! kind in `cidr_intersects` or as the containing side of `cidr_contains_matches`.

use std::net::IpAddr;

use anyhow::{bail, Context};
use ipnet::IpNet;
use regorus::Value;

/// One `cidr_merge` operand: its network, and how OPA writes it when nothing merges with it.
struct Operand {
    net: IpNet,
    written: String,
}

fn operand(text: &str) -> anyhow::Result<Operand> {
    if let Ok(net) = text.parse::<IpNet>() {
        let net = net.trunc();
        return Ok(Operand {
            net,
            written: net.to_string(),
        });
    }
    let address: IpAddr = text
        .parse()
        .with_context(|| format!("net.cidr_merge: invalid CIDR address: {text}"))?;
    let IpAddr::V4(v4) = address else {
        bail!("net.cidr_merge: IPv6 invalid: needs prefix length");
    };
    let prefix = match v4.octets().first() {
        Some(first) if *first < 0x80 => 8,
        Some(first) if *first < 0xc0 => 16,
        _ => 24,
    };
    let net = IpNet::new(address, prefix)?;
    Ok(Operand {
        net: net.trunc(),
        written: format!("{address}/{prefix}"),
    })
}

/// `net.cidr_merge(addrs)`: the smallest set of networks covering every address and network.
pub(crate) fn cidr_merge(args: &[Value]) -> anyhow::Result<Value> {
    let items: Vec<&Value> = match args.first() {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Set(items)) => items.iter().collect(),
        _ => bail!("net.cidr_merge: operand 1 must be an array or a set"),
    };
    let operands = items
        .into_iter()
        .map(|item| match item {
            Value::String(text) => operand(text),
            _ => bail!("net.cidr_merge: operand 1 must hold strings"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let nets: Vec<IpNet> = operands.iter().map(|o| o.net).collect();
    let merged = IpNet::aggregate(&nets).into_iter().map(|net| {
        let mut inside = operands.iter().filter(|o| net.contains(&o.net));
        match (inside.next(), inside.next()) {
            (Some(only), None) if only.net == net => Value::from(only.written.as_str()),
            _ => Value::from(net.to_string()),
        }
    });
    Ok(Value::from(
        merged.collect::<std::collections::BTreeSet<_>>(),
    ))
}

fn cidr(name: &str, value: Option<&Value>) -> anyhow::Result<IpNet> {
    match value {
        Some(Value::String(text)) => text
            .parse::<IpNet>()
            .with_context(|| format!("{name}: invalid CIDR address: {text}")),
        _ => bail!("{name}: operands must be strings"),
    }
}

/// `net.cidr_intersects(a, b)`: whether the two networks share an address.
pub(crate) fn cidr_intersects(args: &[Value]) -> anyhow::Result<Value> {
    let name = "net.cidr_intersects";
    let (a, b) = (cidr(name, args.first())?, cidr(name, args.get(1))?);
    let (a, b) = (a.trunc(), b.trunc());
    Ok(Value::from(a.contains(&b) || b.contains(&a)))
}

/// `net.cidr_contains(cidr, cidr_or_ip)` as Go answers it: whether `cidr` holds the address,
/// or every address of the network. Like Go, an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`)
/// is its IPv4 address, and so is a mapped network of at least 96 bits of prefix.
fn cidr_contains(name: &str, cidr: &Value, other: &Value) -> anyhow::Result<bool> {
    let net = unmapped_net(self::cidr(name, Some(cidr))?.trunc());
    let Value::String(text) = other else {
        bail!("{name}: operands must be strings");
    };
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(net.contains(&address.to_canonical()));
    }
    let inner = text.parse::<IpNet>().with_context(|| {
        format!("{name}: not a valid textual representation of an IP address or CIDR: {text}")
    })?;
    Ok(net.contains(&unmapped_net(inner.trunc())))
}

fn unmapped_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

/// The `(cidr, key)` pairs of one `cidr_contains_matches` operand: a string is its own key; an
/// array's elements are keyed by index, a set's by the element, an object's by the member name;
/// an element is a CIDR (or address) string, or an array whose first element is one. Any other
/// operand has no pairs (OPA's type checker refuses it in a policy; from input it matches
/// nothing).
fn match_operand<'v>(name: &str, operand: &'v Value) -> anyhow::Result<Vec<(&'v Value, Value)>> {
    let cidr_of = |element: &'v Value| match element {
        Value::String(_) => Ok(element),
        Value::Array(items) => items
            .first()
            .ok_or_else(|| anyhow::anyhow!("{name}: element must be string or non-empty array")),
        _ => bail!("{name}: element must be string or non-empty array"),
    };
    Ok(match operand {
        Value::String(_) => vec![(operand, operand.clone())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Ok((cidr_of(item)?, Value::from(i))))
            .collect::<anyhow::Result<_>>()?,
        Value::Set(items) => items
            .iter()
            .map(|item| Ok((cidr_of(item)?, item.clone())))
            .collect::<anyhow::Result<_>>()?,
        Value::Object(members) => members
            .iter()
            .map(|(key, item)| Ok((cidr_of(item)?, key.clone())))
            .collect::<anyhow::Result<_>>()?,
        _ => Vec::new(),
    })
}

/// `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: the set of `[key1, key2]` pairs whose
/// first CIDR contains the second CIDR or address.
pub(crate) fn cidr_contains_matches(args: &[Value]) -> anyhow::Result<Value> {
    let name = "net.cidr_contains_matches";
    let (Some(first), Some(second)) = (args.first(), args.get(1)) else {
        bail!("{name}: expects 2 operands");
    };
    let mut matches = std::collections::BTreeSet::new();
    let outer = match_operand(name, first)?;
    // As in OPA, the second operand is only read when the first has an element.
    let inner = if outer.is_empty() {
        Vec::new()
    } else {
        match_operand(name, second)?
    };
    for (cidr, key) in &outer {
        for (other, other_key) in &inner {
            if cidr_contains(name, cidr, other)? {
                matches.insert(Value::from(vec![key.clone(), other_key.clone()]));
            }
        }
    }
    Ok(Value::from(matches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Value {
        Value::from(items.iter().map(|s| Value::from(*s)).collect::<Vec<_>>())
    }

    fn set(items: &[&str]) -> Value {
        Value::from(
            items
                .iter()
                .map(|s| Value::from(*s))
                .collect::<std::collections::BTreeSet<_>>(),
        )
    }

    #[test]
    fn merges_as_opa_does() {
        // Each answer is real OPA's (v1.20.2).
        for (input, merged) in [
            (
                &[
                    "10.0.0.1",
                    "10.0.0.0/24",
                    "192.168.1.0/25",
                    "192.168.1.128/25",
                    "::1/128",
                    "::/127",
                ][..],
                &["10.0.0.0/8", "192.168.1.0/24", "::/127"][..],
            ),
            (&["10.0.0.1"], &["10.0.0.1/8"]),
            (&["10.0.0.1", "10.0.0.1"], &["10.0.0.0/8"]),
            (&["224.0.0.1"], &["224.0.0.1/24"]),
            (&["10.0.0.1", "11.0.0.0/8"], &["10.0.0.0/7"]),
            (
                &["130.0.0.1", "10.0.0.0/8"],
                &["10.0.0.0/8", "130.0.0.1/16"],
            ),
            (&["10.0.0.1/24"], &["10.0.0.0/24"]),
            (&[], &[]),
        ] {
            assert_eq!(
                cidr_merge(&[strings(input)]).unwrap(),
                set(merged),
                "{input:?}"
            );
        }
        assert!(cidr_merge(&[strings(&["::1"])]).is_err());
        assert!(cidr_merge(&[strings(&["bad"])]).is_err());
    }

    #[test]
    fn intersects_as_opa_does() {
        let check = |a: &str, b: &str| cidr_intersects(&[Value::from(a), Value::from(b)]);
        assert_eq!(
            check("10.0.0.0/8", "10.1.0.0/16").unwrap(),
            Value::from(true)
        );
        assert_eq!(
            check("10.0.0.1/24", "10.0.0.200/32").unwrap(),
            Value::from(true)
        );
        assert_eq!(check("::1/128", "10.0.0.0/8").unwrap(), Value::from(false));
        assert!(check("10.0.0.1", "10.0.0.0/8").is_err());
    }

    fn json(text: &str) -> Value {
        Value::from_json_str(text).unwrap()
    }

    #[test]
    fn contains_matches_as_opa_does() {
        // Each answer is real OPA's (v1.20.2); None is an error there.
        for (cidrs, others, want) in [
            (
                r#""10.0.0.0/8""#,
                r#""10.1.2.3""#,
                Some(r#"[["10.0.0.0/8", "10.1.2.3"]]"#),
            ),
            (
                r#"["10.0.0.0/8", "192.168.0.0/16"]"#,
                r#"["10.1.2.3", "192.168.1.1", "8.8.8.8"]"#,
                Some("[[0, 0], [1, 1]]"),
            ),
            (
                r#"{"a": "10.0.0.0/8", "b": ["192.168.0.0/16", "x"]}"#,
                r#"{"k": "192.168.1.0/24", "j": ["10.9.9.9", 1]}"#,
                Some(r#"[["a", "j"], ["b", "k"]]"#),
            ),
            (r#""10.0.0.0/8""#, "[]", Some("[]")),
            ("[]", r#"["bad"]"#, Some("[]")),
            ("1", r#""x""#, Some("[]")),
            (r#""10.0.0.0/8""#, "1", Some("[]")),
            (r#""bad""#, r#"["10.0.0.1"]"#, None),
            (r#""10.0.0.0/8""#, r#"["bad"]"#, None),
            (r#""10.0.0.1""#, r#"["10.0.0.1"]"#, None),
            (r#"["10.0.0.0/8", 1]"#, "[]", None),
            (r#"["10.0.0.0/8"]"#, "[1]", None),
            ("[[]]", r#"["10.0.0.1"]"#, None),
            ("[[1]]", r#"["10.0.0.1"]"#, None),
            (
                r#""10.0.0.0/8""#,
                r#""::ffff:10.0.0.1""#,
                Some(r#"[["10.0.0.0/8", "::ffff:10.0.0.1"]]"#),
            ),
            (
                r#""::ffff:10.0.0.0/104""#,
                r#""10.0.0.1""#,
                Some(r#"[["::ffff:10.0.0.0/104", "10.0.0.1"]]"#),
            ),
            (
                r#""2001:db8::/32""#,
                r#"["2001:db8::1", "2001:db8:1::/48", "10.0.0.1"]"#,
                Some(r#"[["2001:db8::/32", 0], ["2001:db8::/32", 1]]"#),
            ),
            (
                r#""10.0.0.1/8""#,
                r#""10.0.0.0/8""#,
                Some(r#"[["10.0.0.1/8", "10.0.0.0/8"]]"#),
            ),
        ] {
            let got = cidr_contains_matches(&[json(cidrs), json(others)]).ok();
            let want = want.map(|w| match json(w) {
                Value::Array(pairs) => Value::from(
                    pairs
                        .iter()
                        .cloned()
                        .collect::<std::collections::BTreeSet<_>>(),
                ),
                other => other,
            });
            assert_eq!(got, want, "{cidrs} {others}");
        }
    }

    #[test]
    fn contains_matches_keys_set_elements_by_themselves() {
        let cidrs = Value::from(
            [json(r#"["10.0.0.0/8", "tag"]"#), json(r#""1.0.0.0/8""#)]
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>(),
        );
        let others = Value::from(
            [json(r#""10.0.0.1""#), json(r#"["1.2.3.4", 5]"#)]
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>(),
        );
        let want = [
            json(r#"["1.0.0.0/8", ["1.2.3.4", 5]]"#),
            json(r#"[["10.0.0.0/8", "tag"], "10.0.0.1"]"#),
        ];
        assert_eq!(
            cidr_contains_matches(&[cidrs, others]).ok(),
            Some(Value::from(
                want.into_iter().collect::<std::collections::BTreeSet<_>>()
            ))
        );
    }
}
