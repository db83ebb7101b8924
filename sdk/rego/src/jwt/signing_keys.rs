//! `io.jwt.encode_sign`'s key: a JWK, or a JWK set whose first key signs, checked the way the
//! JWK library OPA uses (`jwx`) checks it, then turned into a key that can sign.
//!
//! A JWK that parses but cannot sign (a public key, an X25519 key, a P-521 key without the
//! `jwt-es512` feature, an Ed25519 key without `jwt-eddsa`) makes signing fail, as OPA fails
//! for the public key.

use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Map, Value};

use super::encoding::jwk_base64_decode;
use super::keys::{Curve, KeyMaterial};
use super::JwtError;

/// A private key, or why the JWK cannot sign.
pub(super) enum SigningKey {
    Secret(Vec<u8>),
    Rsa(Box<RsaPrivateKey>),
    Ec(Box<EcSigningKey>),
    #[cfg(feature = "jwt-eddsa")]
    Ed25519(Box<ed25519_dalek::SigningKey>),
    CannotSign(&'static str),
}

/// An ECDSA private key on one of the JWS curves.
pub(super) enum EcSigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    #[cfg(feature = "jwt-es512")]
    P521(p521::ecdsa::SigningKey),
}

fn invalid(why: &'static str) -> JwtError {
    JwtError::SigningKey(why)
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
        Some("RSA") => rsa_signing_key(jwk),
        Some("EC") => ec_signing_key(jwk),
        Some("OKP") => okp_signing_key(jwk),
        _ => Err(invalid("invalid key type")),
    }
}

/// The registered members every key type has, typed as RFC 7517 says (`jwx` refuses a
/// number where a string belongs).
fn check_common_members(jwk: &Map<String, Value>) -> Result<(), JwtError> {
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

/// A base64 member's bytes, `None` when absent.
fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, JwtError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => jwk_base64_decode(text)
            .map(Some)
            .ok_or(invalid("a JWK member is not base64")),
        Some(_) => Err(invalid("a JWK member is not a string")),
    }
}

fn required(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwtError> {
    bytes(jwk, name)?.ok_or(invalid("a required JWK member is missing"))
}

fn rsa_signing_key(jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    let n = BigUint::from_bytes_be(&required(jwk, "n")?);
    let e = BigUint::from_bytes_be(&required(jwk, "e")?);
    if e == BigUint::from(0u8) {
        return Err(invalid("missing \"e\""));
    }
    let Some(d) = bytes(jwk, "d")? else {
        return Ok(SigningKey::CannotSign("an RSA public key cannot sign"));
    };
    let (Some(p), Some(q)) = (bytes(jwk, "p")?, bytes(jwk, "q")?) else {
        return Err(invalid("an RSA private key needs \"p\" and \"q\""));
    };
    let primes = vec![BigUint::from_bytes_be(&p), BigUint::from_bytes_be(&q)];
    let key = RsaPrivateKey::from_components(n, e, BigUint::from_bytes_be(&d), primes)
        .map_err(|_| invalid("inconsistent RSA private key"))?;
    // Go checks the CRT values it is given against the key (it computes those left out).
    let given = |name| Ok::<_, JwtError>(bytes(jwk, name)?.map(|b| BigUint::from_bytes_be(&b)));
    let consistent = given("dp")?.is_none_or(|dp| key.dp() == Some(&dp))
        && given("dq")?.is_none_or(|dq| key.dq() == Some(&dq))
        && given("qi")?.is_none_or(|qi| key.crt_coefficient() == Some(qi));
    if !consistent {
        return Err(invalid("the RSA CRT values do not match the key"));
    }
    if key.n().bits() < 1024 {
        // Go 1.24+ (current OPA) refuses RSA keys under 1024 bits.
        return Ok(SigningKey::CannotSign(
            "RSA keys under 1024 bits cannot sign",
        ));
    }
    Ok(SigningKey::Rsa(Box::new(key)))
}

fn ec_signing_key(jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    let curve = jwk
        .get("crv")
        .and_then(Value::as_str)
        .and_then(Curve::from_jwk_name)
        .ok_or(invalid("unknown elliptic curve"))?;
    let width = curve.width();
    let (x, y) = (required(jwk, "x")?, required(jwk, "y")?);
    if x.len() != width || y.len() != width {
        return Err(invalid("EC coordinates of the wrong length for the curve"));
    }
    let point = [&[0x04][..], &x, &y].concat();
    KeyMaterial::ec(curve, &point).map_err(|_| invalid("EC public key not on the curve"))?;
    let Some(d) = bytes(jwk, "d")? else {
        return Ok(SigningKey::CannotSign("an EC public key cannot sign"));
    };
    if d.len() != width {
        return Err(invalid("EC private key of the wrong length for the curve"));
    }
    // Like Go, the private scalar signs; `x` and `y` are not checked against it.
    let bad_scalar = |_| invalid("EC private key out of range");
    let key = match curve {
        Curve::P256 => {
            EcSigningKey::P256(p256::ecdsa::SigningKey::from_slice(&d).map_err(bad_scalar)?)
        }
        Curve::P384 => {
            EcSigningKey::P384(p384::ecdsa::SigningKey::from_slice(&d).map_err(bad_scalar)?)
        }
        #[cfg(feature = "jwt-es512")]
        Curve::P521 => {
            EcSigningKey::P521(p521::ecdsa::SigningKey::from_slice(&d).map_err(bad_scalar)?)
        }
        #[cfg(not(feature = "jwt-es512"))]
        Curve::P521 => {
            return Ok(SigningKey::CannotSign(
                "P-521 keys need rego-authz built with `--features jwt-es512`",
            ))
        }
    };
    Ok(SigningKey::Ec(Box::new(key)))
}

fn okp_signing_key(jwk: &Map<String, Value>) -> Result<SigningKey, JwtError> {
    let curve = jwk
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(invalid("missing \"crv\""))?;
    let x = required(jwk, "x")?;
    let d = bytes(jwk, "d")?;
    if curve != "Ed25519" {
        return Ok(SigningKey::CannotSign("only Ed25519 OKP keys can sign"));
    }
    let Some(d) = d else {
        return Ok(SigningKey::CannotSign("an Ed25519 public key cannot sign"));
    };
    let (Ok(x), Ok(seed)) = (<[u8; 32]>::try_from(x), <[u8; 32]>::try_from(d)) else {
        return Err(invalid("Ed25519 key of the wrong length"));
    };
    ed25519_signing_key(x, seed)
}

#[cfg(feature = "jwt-eddsa")]
fn ed25519_signing_key(x: [u8; 32], seed: [u8; 32]) -> Result<SigningKey, JwtError> {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if key.verifying_key().as_bytes() != &x {
        return Err(invalid("Ed25519 \"x\" does not match \"d\""));
    }
    Ok(SigningKey::Ed25519(Box::new(key)))
}

#[cfg(not(feature = "jwt-eddsa"))]
fn ed25519_signing_key(_x: [u8; 32], _seed: [u8; 32]) -> Result<SigningKey, JwtError> {
    Ok(SigningKey::CannotSign(
        "Ed25519 keys need rego-authz built with `--features jwt-eddsa`",
    ))
}
