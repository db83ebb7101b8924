//! Palisade's extensions to regorus: the builtins OPA-Envoy policies rely on that regorus lacks:
//! `io.jwt.*` (adapted from [`super::jwt`]'s JSON functions to regorus values), `crypto.*`
//! ([`super::crypto`]), `net.cidr_merge`, `net.cidr_intersects` and
//! `net.cidr_contains_matches` ([`super::net`]), `urlquery.*` ([`super::urlquery`]),
//! `array.flatten`, `strings.split_n`, and with their features `uri.*` (`uri`), `regex.globs_match`
//! (`globs`) and `crypto.x509.*` (`x509`).

use regorus::Value;

use super::eval::Extension;
use super::{crypto, jwt, net, urlquery};

type JsonResult = Result<serde_json::Value, jwt::JwtError>;

fn to_json(value: &Value) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&value.to_json_str()?)?)
}

fn arg(args: &[Value], at: usize) -> anyhow::Result<serde_json::Value> {
    to_json(args.get(at).unwrap_or(&Value::Undefined))
}

fn call1(args: Vec<Value>, f: fn(&serde_json::Value) -> JsonResult) -> anyhow::Result<Value> {
    Ok(Value::from(f(&arg(&args, 0)?)?))
}

fn call2(
    args: Vec<Value>,
    f: fn(&serde_json::Value, &serde_json::Value) -> JsonResult,
) -> anyhow::Result<Value> {
    Ok(Value::from(f(&arg(&args, 0)?, &arg(&args, 1)?)?))
}

fn call3(
    args: Vec<Value>,
    f: fn(&serde_json::Value, &serde_json::Value, &serde_json::Value) -> JsonResult,
) -> anyhow::Result<Value> {
    Ok(Value::from(f(
        &arg(&args, 0)?,
        &arg(&args, 1)?,
        &arg(&args, 2)?,
    )?))
}

/// Nanoseconds since the epoch on the proxy's clock (WASI inside the proxy).
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

macro_rules! verifiers {
    ($($name:literal => $f:path),* $(,)?) => {
        [$(Extension { name: $name, arity: 2, call: |args| call2(args, $f) }),*]
    };
}

/// Every extension, registered on the interpreter of policies that call any of them.
pub fn all() -> Vec<Extension> {
    let mut all = vec![
        Extension {
            name: "io.jwt.decode",
            arity: 1,
            call: |args| call1(args, jwt::decode),
        },
        Extension {
            name: "io.jwt.decode_verify",
            arity: 2,
            call: |args| {
                call2(args, |token, constraints| {
                    jwt::decode_verify(token, constraints, now_ns())
                })
            },
        },
    ];
    all.extend(verifiers![
        "io.jwt.verify_hs256" => jwt::verify_hs256,
        "io.jwt.verify_hs384" => jwt::verify_hs384,
        "io.jwt.verify_hs512" => jwt::verify_hs512,
        "io.jwt.verify_rs256" => jwt::verify_rs256,
        "io.jwt.verify_rs384" => jwt::verify_rs384,
        "io.jwt.verify_rs512" => jwt::verify_rs512,
        "io.jwt.verify_ps256" => jwt::verify_ps256,
        "io.jwt.verify_ps384" => jwt::verify_ps384,
        "io.jwt.verify_ps512" => jwt::verify_ps512,
        "io.jwt.verify_es256" => jwt::verify_es256,
        "io.jwt.verify_es384" => jwt::verify_es384,
    ]);
    #[cfg(feature = "jwt-es512")]
    all.extend(verifiers!["io.jwt.verify_es512" => jwt::verify_es512]);
    #[cfg(feature = "jwt-eddsa")]
    all.extend(verifiers!["io.jwt.verify_eddsa" => jwt::verify_eddsa]);
    all.extend([
        extension("io.jwt.encode_sign", 3, |args| {
            call3(args, jwt::encode_sign)
        }),
        extension("io.jwt.encode_sign_raw", 3, |args| {
            call3(args, jwt::encode_sign_raw)
        }),
        extension("crypto.md5", 1, |args| {
            crypto::digest::<md5::Md5>("crypto.md5", &args)
        }),
        extension("crypto.sha1", 1, |args| {
            crypto::digest::<sha1::Sha1>("crypto.sha1", &args)
        }),
        extension("crypto.sha256", 1, |args| {
            crypto::digest::<sha2::Sha256>("crypto.sha256", &args)
        }),
        extension("crypto.hmac.md5", 2, |args| {
            crypto::hmac::<md5::Md5>("crypto.hmac.md5", &args)
        }),
        extension("crypto.hmac.sha1", 2, |args| {
            crypto::hmac::<sha1::Sha1>("crypto.hmac.sha1", &args)
        }),
        extension("crypto.hmac.sha256", 2, |args| {
            crypto::hmac::<sha2::Sha256>("crypto.hmac.sha256", &args)
        }),
        extension("crypto.hmac.sha512", 2, |args| {
            crypto::hmac::<sha2::Sha512>("crypto.hmac.sha512", &args)
        }),
        extension("crypto.hmac.equal", 2, |args| crypto::hmac_equal(&args)),
        extension("net.cidr_merge", 1, |args| net::cidr_merge(&args)),
        extension("net.cidr_intersects", 2, |args| net::cidr_intersects(&args)),
        extension("net.cidr_contains_matches", 2, |args| {
            net::cidr_contains_matches(&args)
        }),
        extension("urlquery.encode", 1, |args| urlquery::encode(&args)),
        extension("urlquery.decode", 1, |args| urlquery::decode(&args)),
        extension("urlquery.encode_object", 1, |args| {
            urlquery::encode_object(&args)
        }),
        extension("urlquery.decode_object", 1, |args| {
            urlquery::decode_object(&args)
        }),
        extension("array.flatten", 1, |args| array_flatten(&args)),
        extension("strings.split_n", 3, |args| strings_split_n(&args)),
    ]);
    #[cfg(feature = "uri")]
    all.extend([
        extension("uri.parse", 1, |args| super::uri::parse(&args)),
        extension("uri.is_valid", 1, |args| super::uri::is_valid(&args)),
    ]);
    #[cfg(feature = "globs")]
    all.push(extension("regex.globs_match", 2, |args| {
        super::globs_match::globs_match(&args)
    }));
    #[cfg(feature = "x509")]
    all.extend(x509_extensions());
    all
}

/// `crypto.x509.*` (the `x509` feature).
#[cfg(feature = "x509")]
fn x509_extensions() -> [Extension; 7] {
    use super::x509;
    [
        extension("crypto.x509.parse_certificates", 1, |args| {
            x509::parse_certificates(&args)
        }),
        extension("crypto.x509.parse_certificate_request", 1, |args| {
            x509::parse_certificate_request(&args)
        }),
        extension("crypto.x509.parse_and_verify_certificates", 1, |args| {
            x509::parse_and_verify_certificates(&args, now_ns())
        }),
        extension(
            "crypto.x509.parse_and_verify_certificates_with_options",
            2,
            |args| x509::parse_and_verify_certificates_with_options(&args, now_ns()),
        ),
        extension("crypto.x509.parse_rsa_private_key", 1, |args| {
            x509::parse_rsa_private_key(&args)
        }),
        extension("crypto.parse_private_keys", 1, |args| {
            x509::parse_private_keys(&args)
        }),
        extension("crypto.x509.parse_keypair", 2, |args| {
            x509::parse_keypair(&args)
        }),
    ]
}

fn extension(
    name: &'static str,
    arity: u8,
    call: fn(Vec<Value>) -> anyhow::Result<Value>,
) -> Extension {
    Extension { name, arity, call }
}

/// `array.flatten(arr)`: the array with each array element's elements in its place (one level).
fn array_flatten(args: &[Value]) -> anyhow::Result<Value> {
    let Some(Value::Array(items)) = args.first() else {
        anyhow::bail!("array.flatten: operand 1 must be an array");
    };
    let mut flat = Vec::with_capacity(items.len());
    for item in items.iter() {
        match item {
            Value::Array(inner) => flat.extend(inner.iter().cloned()),
            other => flat.push(other.clone()),
        }
    }
    Ok(Value::from(flat))
}

/// `strings.split_n(s, sep, n)`: `s` split at each `sep` (between characters for an empty one),
/// as OPA answers: the first `n` parts, or for a negative `n` the last `-n`.
fn strings_split_n(args: &[Value]) -> anyhow::Result<Value> {
    let [Value::String(text), Value::String(separator), Value::Number(n)] = args else {
        anyhow::bail!("strings.split_n: operands must be a string, a string and a number");
    };
    let Some(n) = n.as_i64() else {
        anyhow::bail!("strings.split_n: operand 3 must be integer number");
    };
    let parts: Vec<&str> = match separator.is_empty() {
        true => text
            .char_indices()
            .map(|(at, c)| text.get(at..at + c.len_utf8()).unwrap_or_default())
            .collect(),
        false => text.split(separator.as_ref()).collect(),
    };
    let count = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    let kept: Vec<Value> = match n >= 0 {
        true => parts.iter().take(count).map(|p| Value::from(*p)).collect(),
        false => parts
            .iter()
            .skip(parts.len().saturating_sub(count))
            .map(|p| Value::from(*p))
            .collect(),
    };
    Ok(Value::from(kept))
}
