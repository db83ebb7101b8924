//! OPA's `crypto.*` digests and HMACs (regorus has none): `crypto.md5`, `crypto.sha1`,
//! `crypto.sha256`, `crypto.hmac.{md5,sha1,sha256,sha512}` (lower-case hex, as OPA writes them)
//! and `crypto.hmac.equal` (compared in constant time).

use anyhow::bail;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};
use regorus::Value;
use sha2::Digest;
use subtle::ConstantTimeEq;

fn text<'v>(name: &str, args: &'v [Value], at: usize) -> anyhow::Result<&'v str> {
    match args.get(at) {
        Some(Value::String(text)) => Ok(text),
        _ => bail!("{name}: operand {} must be a string", at + 1),
    }
}

fn hex(bytes: &[u8]) -> Value {
    Value::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `crypto.<digest>(x)`.
pub(crate) fn digest<D: Digest>(name: &str, args: &[Value]) -> anyhow::Result<Value> {
    Ok(hex(&D::digest(text(name, args, 0)?.as_bytes())))
}

/// `crypto.hmac.<digest>(x, key)`.
pub(crate) fn hmac<D>(name: &str, args: &[Value]) -> anyhow::Result<Value>
where
    D: Digest + BlockSizeUser,
{
    let message = text(name, args, 0)?;
    let key = text(name, args, 1)?;
    let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|_| anyhow::anyhow!("{name}: bad key"))?;
    mac.update(message.as_bytes());
    Ok(hex(&mac.finalize().into_bytes()))
}

/// `crypto.hmac.equal(mac1, mac2)`: equal strings, compared in constant time.
pub(crate) fn hmac_equal(args: &[Value]) -> anyhow::Result<Value> {
    let name = "crypto.hmac.equal";
    let (a, b) = (text(name, args, 0)?, text(name, args, 1)?);
    Ok(Value::from(bool::from(a.as_bytes().ct_eq(b.as_bytes()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    #[test]
    fn digests_and_hmacs_are_opas() {
        // The values real OPA (v1.20.2) answers.
        assert_eq!(
            digest::<sha2::Sha256>("crypto.sha256", &[s("abc")]).unwrap(),
            s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digest::<md5::Md5>("crypto.md5", &[s("")]).unwrap(),
            s("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(
            hmac::<sha2::Sha256>("crypto.hmac.sha256", &[s("abc"), s("k")]).unwrap(),
            s("342e519ce0ad6c03a36b98eeb3f1d130db4813b9df4d1160eda488d712dc78ee")
        );
        assert_eq!(hmac_equal(&[s("a"), s("a")]).unwrap(), Value::from(true));
        assert_eq!(hmac_equal(&[s("a"), s("ab")]).unwrap(), Value::from(false));
        assert!(digest::<sha1::Sha1>("crypto.sha1", &[Value::from(1)]).is_err());
    }
}
