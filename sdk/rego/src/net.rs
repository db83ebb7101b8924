//! OPA's `net.cidr_merge` and `net.cidr_intersects`, which regorus lacks, with the answers OPA
//! gives (Go's `net` package): a bare IPv4 address in `cidr_merge` takes its classful mask (/8,
//! /16 or /24) and, when nothing merges with it, keeps its host bits (`10.0.0.1/8`); a bare
//! IPv6 address is an error there, as is a bare address of either kind in `cidr_intersects`.

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
}
