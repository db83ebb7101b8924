//! Signing with RSA, EC and OKP (Ed25519) JWKs, in rego-authz built with `--features jwt-sign`
//! (RSA private-key arithmetic and ECDSA signing cost about 100 KB of wasm, and signing with a
//! private key inside an authorization policy is rare; HMAC signing is in every build).
//!
//! The JWK is checked as the JWK library OPA uses (`jwx`) checks it; as in Go, RSA signing is
//! blinded and ECDSA signs the algorithm's digest with whatever curve the key is on.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::jwk_members::{bytes, invalid};
use super::keys::{Curve, KeyMaterial};
use super::seeded_rng::SeededRng;
use super::signatures::digest_as_field;
use super::{Algorithm, JwtError};

/// A private key that signs.
pub(super) enum PrivateKey {
    Rsa(RsaPrivateKey),
    Ec(EcSigningKey),
    #[cfg(feature = "jwt-eddsa")]
    Ed25519(ed25519_dalek::SigningKey),
}

/// An ECDSA private key on one of the JWS curves.
pub(super) enum EcSigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    #[cfg(feature = "jwt-es512")]
    P521(p521::ecdsa::SigningKey),
}

impl PrivateKey {
    /// The JWS signature of `input` with `alg`, which must be one the key type signs.
    pub(super) fn sign(&self, alg: Algorithm, input: &[u8]) -> Result<Vec<u8>, JwtError> {
        use Algorithm as A;
        match (alg, self) {
            (A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512, Self::Rsa(k)) => {
                rsa_signature(k, alg, input)
            }
            (A::Es256, Self::Ec(k)) => ecdsa_signature(k, &Sha256::digest(input)),
            (A::Es384, Self::Ec(k)) => ecdsa_signature(k, &Sha384::digest(input)),
            (A::Es512, Self::Ec(k)) => ecdsa_signature(k, &Sha512::digest(input)),
            #[cfg(feature = "jwt-eddsa")]
            (A::EdDsa, Self::Ed25519(k)) => {
                use ed25519_dalek::Signer;
                Ok(k.sign(input).to_bytes().to_vec())
            }
            _ => Err(JwtError::SigningKey(
                "the key's type does not fit the algorithm",
            )),
        }
    }
}

/// The private key of an `RSA`, `EC` or `OKP` JWK, `Ok(Err(why))` when the JWK is well formed
/// but cannot sign (a public key, a curve this build lacks).
pub(super) fn read(jwk: &Map<String, Value>) -> Result<Readable, JwtError> {
    match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => rsa_signing_key(jwk),
        Some("EC") => ec_signing_key(jwk),
        _ => okp_signing_key(jwk),
    }
}

fn required(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, JwtError> {
    bytes(jwk, name)?.ok_or(invalid("a required JWK member is missing"))
}

/// A key that signs, or why this (well-formed) JWK cannot.
type Readable = Result<PrivateKey, &'static str>;

fn rsa_signing_key(jwk: &Map<String, Value>) -> Result<Readable, JwtError> {
    let n = BigUint::from_bytes_be(&required(jwk, "n")?);
    let e = BigUint::from_bytes_be(&required(jwk, "e")?);
    if e == BigUint::from(0u8) {
        return Err(invalid("missing \"e\""));
    }
    let Some(d) = bytes(jwk, "d")? else {
        return Ok(Err("an RSA public key cannot sign"));
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
        return Ok(Err("RSA keys under 1024 bits cannot sign"));
    }
    Ok(Ok(PrivateKey::Rsa(key)))
}

fn ec_signing_key(jwk: &Map<String, Value>) -> Result<Readable, JwtError> {
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
        return Ok(Err("an EC public key cannot sign"));
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
            return Ok(Err(
                "P-521 keys need rego-authz built with `--features jwt-es512`",
            ))
        }
    };
    Ok(Ok(PrivateKey::Ec(key)))
}

fn okp_signing_key(jwk: &Map<String, Value>) -> Result<Readable, JwtError> {
    let curve = jwk
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(invalid("missing \"crv\""))?;
    let x = required(jwk, "x")?;
    let d = bytes(jwk, "d")?;
    if curve != "Ed25519" {
        return Ok(Err("only Ed25519 OKP keys can sign"));
    }
    let Some(d) = d else {
        return Ok(Err("an Ed25519 public key cannot sign"));
    };
    let (Ok(x), Ok(seed)) = (<[u8; 32]>::try_from(x), <[u8; 32]>::try_from(d)) else {
        return Err(invalid("Ed25519 key of the wrong length"));
    };
    ed25519_signing_key(x, seed)
}

#[cfg(feature = "jwt-eddsa")]
fn ed25519_signing_key(x: [u8; 32], seed: [u8; 32]) -> Result<Readable, JwtError> {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if key.verifying_key().as_bytes() != &x {
        return Err(invalid("Ed25519 \"x\" does not match \"d\""));
    }
    Ok(Ok(PrivateKey::Ed25519(key)))
}

#[cfg(not(feature = "jwt-eddsa"))]
fn ed25519_signing_key(_x: [u8; 32], _seed: [u8; 32]) -> Result<Readable, JwtError> {
    Ok(Err(
        "Ed25519 keys need rego-authz built with `--features jwt-eddsa`",
    ))
}

/// RSA with blinding (so the private exponent's timing does not leak), and for PSS a random
/// salt as long as the hash, as Go and OPA use.
fn rsa_signature(
    key: &rsa::RsaPrivateKey,
    alg: Algorithm,
    input: &[u8],
) -> Result<Vec<u8>, JwtError> {
    use Algorithm as A;
    let mut rng = SeededRng::from_system()?;
    let signed = match alg {
        A::Rs256 => key.sign_with_rng(
            &mut rng,
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(input),
        ),
        A::Rs384 => key.sign_with_rng(
            &mut rng,
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(input),
        ),
        A::Rs512 => key.sign_with_rng(
            &mut rng,
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(input),
        ),
        A::Ps256 => key.sign_with_rng(
            &mut rng,
            Pss::new_blinded::<Sha256>(),
            &Sha256::digest(input),
        ),
        A::Ps384 => key.sign_with_rng(
            &mut rng,
            Pss::new_blinded::<Sha384>(),
            &Sha384::digest(input),
        ),
        A::Ps512 => key.sign_with_rng(
            &mut rng,
            Pss::new_blinded::<Sha512>(),
            &Sha512::digest(input),
        ),
        _ => return Err(JwtError::SigningKey("an RSA key signs RS* and PS* only")),
    };
    signed.map_err(|_| JwtError::SigningFailed)
}

/// ECDSA of the algorithm's digest on the key's curve (Go signs ES256 with a P-384 key too),
/// `r || s` each as wide as the curve.
fn ecdsa_signature(key: &EcSigningKey, digest: &[u8]) -> Result<Vec<u8>, JwtError> {
    let failed = |_| JwtError::SigningFailed;
    match key {
        EcSigningKey::P256(k) => {
            let signature: p256::ecdsa::Signature = k
                .sign_prehash(&digest_as_field(digest, Curve::P256))
                .map_err(failed)?;
            Ok(signature.to_bytes().to_vec())
        }
        EcSigningKey::P384(k) => {
            let signature: p384::ecdsa::Signature = k
                .sign_prehash(&digest_as_field(digest, Curve::P384))
                .map_err(failed)?;
            Ok(signature.to_bytes().to_vec())
        }
        #[cfg(feature = "jwt-es512")]
        EcSigningKey::P521(k) => {
            // p521 0.13 has no RFC 6979 signer: its nonce is drawn from the generator.
            use p521::ecdsa::signature::hazmat::RandomizedPrehashSigner;
            let mut rng = SeededRng::from_system()?;
            let signature: p521::ecdsa::Signature = k
                .sign_prehash_with_rng(&mut rng, &digest_as_field(digest, Curve::P521))
                .map_err(failed)?;
            Ok(signature.to_bytes().to_vec())
        }
    }
}
