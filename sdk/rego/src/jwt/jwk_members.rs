//! Members of a JWK as the JWK library OPA uses (`jwx`) reads them, for `encode_sign`'s keys.

use serde_json::{Map, Value};

use super::encoding::jwk_base64_decode;
use super::JwtError;

pub(super) fn invalid(why: &'static str) -> JwtError {
    JwtError::SigningKey(why)
}

/// A base64 member's bytes, `None` when absent.
pub(super) fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, JwtError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => jwk_base64_decode(text)
            .map(Some)
            .ok_or(invalid("a JWK member is not base64")),
        Some(_) => Err(invalid("a JWK member is not a string")),
    }
}

/// The registered members every key type has, typed as RFC 7517 says (`jwx` refuses a
/// number where a string belongs).
pub(super) fn check_common_members(jwk: &Map<String, Value>) -> Result<(), JwtError> {
    for name in ["kid", "alg", "use", "x5u", "x5t", "x5t#S256"] {
        if jwk.get(name).is_some_and(|v| !v.is_string()) {
            return Err(invalid("a JWK member that must be a string is not"));
        }
    }
    for name in ["key_ops", "x5c"] {
        let is_strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        if jwk.get(name).is_some_and(|v| !is_strings(v)) {
            return Err(invalid(
                "a JWK member that must be a list of strings is not",
            ));
        }
    }
    Ok(())
}
