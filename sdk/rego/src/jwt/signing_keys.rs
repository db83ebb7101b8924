//! `io.jwt.encode_sign`'s key: a JWK, or a JWK set whose first key signs, checked the way the
//! JWK library OPA uses (`jwx`) checks it, then turned into a key that can sign.
//!
//! A JWK that parses but cannot sign (a public key, an X25519 key, any RSA, EC or OKP key
//! without the `jwt-sign` feature, a P-521 key without `jwt-es512`, an Ed25519 key without
//! `jwt-eddsa`) makes signing fail, as OPA fails for the public key.

use serde_json::{Map, Value};

use super::jwk_members::{bytes, check_common_members, invalid};
#[cfg(feature = "jwt-sign")]
use super::private_keys::PrivateKey;
use super::JwtError;

/// A key that signs, or why the JWK cannot.
pub(super) enum SigningKey {
    /// An `oct` key: HS256, HS384, HS512.
    Secret(Vec<u8>),
    #[cfg(feature = "jwt-sign")]
    Private(Box<PrivateKey>),
    CannotSign(&'static str),
}

/// The signing key of a JWK or JWK set (`{"keys": [...]}`): every key in a set must be valid,
/// and the first one signs.
pub(super) fn first_signing_key(document: &Value) -> Result<SigningKey, JwtError> {
    let object = document
        .as_object()
        .ok_or(invalid("the key is not a JSON object"))?;
    let Some(keys) = object.get("keys") else {
        return signing_key(object);
    };
    let keys = keys
        .as_array()
        .ok_or(invalid("\"keys\" of a JWK set is not an array"))?;
    let mut parsed = keys.iter().map(|key| match key {
        Value::Object(jwk) => signing_key(jwk),
        _ => Err(invalid("a key of the JWK set is not an object")),
    });
    let first = parsed.next().ok_or(invalid("no keys found in JWK set"))??;
    for rest in parsed {
        rest?;
    }
    Ok(first)
}

fn signing_key(jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    check_common_members(jwk)?;
    match jwk.get("kty").and_then(Value::as_str) {
        Some("oct") => {
            let secret = bytes(jwk, "k")?.ok_or(invalid("missing \"k\""))?;
            if secret.is_empty() {
                return Err(invalid("missing \"k\""));
            }
            Ok(SigningKey::Secret(secret))
        }
        Some("RSA" | "EC" | "OKP") => asymmetric(jwk),
        _ => Err(invalid("invalid key type")),
    }
}

#[cfg(feature = "jwt-sign")]
fn asymmetric(jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    Ok(match super::private_keys::read(jwk)? {
        Ok(key) => SigningKey::Private(Box::new(key)),
        Err(why) => SigningKey::CannotSign(why),
    })
}

#[cfg(not(feature = "jwt-sign"))]
fn asymmetric(_jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    Ok(SigningKey::CannotSign(
        "RSA, EC and OKP keys sign in rego-authz built with `--features jwt-sign`",
    ))
}
