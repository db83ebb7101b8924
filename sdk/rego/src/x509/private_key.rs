//! `crypto.x509.parse_rsa_private_key(keys)`: a private key as the JWK OPA writes for it, which
//! is its JWK library's (`jwk.New`) of what Go's `x509.ParsePKCS1PrivateKey`,
//! `x509.ParsePKCS8PrivateKey` or `x509.ParseECPrivateKey` reads: `RSA` (n, e, d, p, q, dp, dq,
//! qi: big-endian bytes without leading zeros, Go's `big.Int.Bytes`), `EC` (crv, x, y, d: the
//! curve's size), `OKP` (Ed25519 or X25519: crv, x, d). Each value is base64url, unpadded.
//!
//! The input is PEM or base64 of PEM; the first block is read. No block, or a block of another
//! type (`PUBLIC KEY`, `CERTIFICATE`), gives `null`, as in OPA.

use anyhow::{anyhow, bail, Result};
use regorus::Value;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};

use super::der::{tag, Der, Malformed};
use super::json::Fields;
use super::pem;
use super::public_key::{curve, Curve};
use crate::jwt::encoding::base64url_encode;

const NAME: &str = "crypto.x509.parse_rsa_private_key";

const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const ED25519: &[u64] = &[1, 3, 101, 112];
const X25519: &[u64] = &[1, 3, 101, 110];

/// `crypto.x509.parse_rsa_private_key(keys)`.
pub(crate) fn parse_rsa_private_key(args: &[Value]) -> Result<Value> {
    let input = super::text(NAME, args, 0)?;
    let text = match input.starts_with("-----BEGIN") {
        true => input.as_bytes().to_vec(),
        false => pem::decode_base64(input.as_bytes())
            .ok_or_else(|| anyhow!("{NAME}: illegal base64 data"))?,
    };
    if text.is_empty() {
        bail!("{NAME}: input PEM data was empty");
    }
    let (Some(block), _) = pem::decode(&text) else {
        return Ok(Value::Null);
    };
    match block.kind.as_str() {
        "RSA PRIVATE KEY" => Ok(rsa_jwk(&pkcs1(&block.bytes)?)),
        "PRIVATE KEY" => pkcs8(&block.bytes),
        "EC PRIVATE KEY" => ec_jwk(&block.bytes, None),
        _ => Ok(Value::Null),
    }
}

fn malformed(what: &str) -> impl Fn(Malformed) -> anyhow::Error + '_ {
    move |_| anyhow!("{NAME}: x509: failed to parse {what}")
}

/// Go's `x509.ParsePKCS1PrivateKey`.
fn pkcs1(der: &[u8]) -> Result<RsaPrivateKey> {
    let what = "RSA private key";
    let mut outer = Der::new(der);
    let mut key = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    if !outer.is_empty() {
        bail!("{NAME}: x509: trailing data after the RSA private key");
    }
    let version = key.int64().map_err(malformed(what))?;
    let mut number = || unsigned(&mut key);
    let (n, e, d, p, q) = (number()?, number()?, number()?, number()?, number()?);
    if version > 1 {
        bail!("{NAME}: x509: unsupported private key version");
    }
    if [&n, &d, &p, &q].iter().any(|v| **v == BigUint::default()) {
        bail!("{NAME}: x509: private key contains zero or negative value");
    }
    // The CRT values, when present, must be the ones the primes give (Go checks them); more
    // than two primes Go refuses.
    let mut crt = Vec::new();
    for _ in 0..3 {
        if key.peek(tag::INTEGER) {
            crt.push(unsigned(&mut key)?);
        }
    }
    if !key.is_empty() {
        bail!("{NAME}: x509: multi-prime RSA keys are not supported");
    }
    let key = RsaPrivateKey::from_components(n, e, d, vec![p, q])
        .map_err(|err| anyhow!("{NAME}: crypto/rsa: {err}"))?;
    key.validate()
        .map_err(|err| anyhow!("{NAME}: crypto/rsa: {err}"))?;
    let computed = [key.dp().cloned(), key.dq().cloned(), qinv(&key)];
    if crt
        .iter()
        .zip(&computed)
        .any(|(encoded, computed)| Some(encoded) != computed.as_ref())
    {
        bail!("{NAME}: crypto/rsa: invalid CRT values");
    }
    Ok(key)
}

/// A non-negative INTEGER of an RSA key.
fn unsigned(der: &mut Der<'_>) -> Result<BigUint> {
    let bytes = der.integer_bytes().map_err(malformed("RSA private key"))?;
    match bytes.first() {
        Some(b) if b & 0x80 != 0 => {
            bail!("{NAME}: x509: private key contains zero or negative value")
        }
        _ => Ok(BigUint::from_bytes_be(bytes)),
    }
}

/// Go's `x509.ParsePKCS8PrivateKey`, as a JWK.
fn pkcs8(der: &[u8]) -> Result<Value> {
    let what = "PKCS #8 private key";
    let mut outer = Der::new(der);
    let mut info = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    info.int64().map_err(malformed(what))?;
    let mut algorithm = info.read(tag::SEQUENCE).map_err(malformed(what))?;
    let oid = algorithm.oid().map_err(malformed(what))?;
    let private = info.read(tag::OCTET_STRING).map_err(malformed(what))?;
    let private = private.remaining();
    match oid.as_slice() {
        RSA_ENCRYPTION => Ok(rsa_jwk(&pkcs1(private)?)),
        EC_PUBLIC_KEY => {
            let named = algorithm.oid().map_err(malformed(what))?;
            ec_jwk(private, Some(&named))
        }
        ED25519 | X25519 => {
            if !algorithm.is_empty() {
                bail!("{NAME}: x509: invalid curve25519 private key parameters");
            }
            let seed = Der::new(private)
                .read(tag::OCTET_STRING)
                .map_err(malformed("curve25519 private key"))?;
            let seed: [u8; 32] = seed
                .remaining()
                .try_into()
                .map_err(|_| anyhow!("{NAME}: x509: invalid curve25519 private key length"))?;
            okp_jwk(oid.as_slice() == ED25519, seed)
        }
        _ => bail!("{NAME}: x509: PKCS#8 wrapping contained private key with unknown algorithm"),
    }
}

/// Base64url, unpadded, of `bytes` without leading zeros.
fn b64(bytes: &[u8]) -> Value {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let trimmed = bytes.get(start..).unwrap_or_default();
    Value::from(base64url_encode(trimmed))
}

/// The key's CRT coefficient (q⁻¹ mod p), as an unsigned number.
fn qinv(key: &RsaPrivateKey) -> Option<BigUint> {
    key.qinv().and_then(|qi| qi.to_biguint())
}

fn rsa_jwk(key: &RsaPrivateKey) -> Value {
    let number = |v: Option<&BigUint>| b64(&v.map(BigUint::to_bytes_be).unwrap_or_default());
    Fields::new()
        .with("kty", "RSA")
        .with("n", number(Some(key.n())))
        .with("e", number(Some(key.e())))
        .with("d", number(Some(key.d())))
        .with("p", number(key.primes().first()))
        .with("q", number(key.primes().get(1)))
        .with("dp", number(key.dp()))
        .with("dq", number(key.dq()))
        .with("qi", number(qinv(key).as_ref()))
        .build()
}

/// Go's `parseECPrivateKey` (SEC 1), on the PKCS #8 algorithm's curve or else its own, as a
/// JWK.
fn ec_jwk(der: &[u8], named_curve: Option<&[u64]>) -> Result<Value> {
    let what = "EC private key";
    let mut outer = Der::new(der);
    let mut key = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    if key.int64().map_err(malformed(what))? != 1 {
        bail!("{NAME}: x509: unknown EC private key version");
    }
    let scalar = key.read(tag::OCTET_STRING).map_err(malformed(what))?;
    let own_curve = match key.optional(tag::context_constructed(0)) {
        Ok(Some(mut parameters)) => parameters.oid().ok(),
        _ => None,
    };
    let curve = named_curve
        .map(<[u64]>::to_vec)
        .or(own_curve)
        .and_then(|oid| curve(&oid))
        .ok_or_else(|| anyhow!("{NAME}: x509: unknown elliptic curve"))?;
    let size = curve.coordinate_len();
    // Go allows leading zero padding beyond the curve's size.
    let mut scalar = scalar.remaining();
    while scalar.len() > size && scalar.first() == Some(&0) {
        scalar = scalar.get(1..).unwrap_or_default();
    }
    if scalar.len() > size {
        bail!("{NAME}: x509: invalid private key length");
    }
    let mut d = vec![0u8; size - scalar.len()];
    d.extend_from_slice(scalar);
    let (name, x, y) = public_point(curve, &d)?;
    let fixed = |bytes: &[u8]| Value::from(base64url_encode(bytes));
    Ok(Fields::new()
        .with("kty", "EC")
        .with("crv", name)
        .with("x", fixed(&x))
        .with("y", fixed(&y))
        .with("d", fixed(&d))
        .build())
}

/// The curve's JWK name and the public point of scalar `d` (fixed length, big-endian).
fn public_point(curve: Curve, d: &[u8]) -> Result<(&'static str, Vec<u8>, Vec<u8>)> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let invalid = || anyhow!("{NAME}: x509: invalid elliptic curve private key value");
    let coordinates = |x: Option<&[u8]>, y: Option<&[u8]>| Some((x?.to_vec(), y?.to_vec()));
    let (name, point) = match curve {
        Curve::P256 => {
            let key = p256::SecretKey::from_slice(d).map_err(|_| invalid())?;
            let point = key.public_key().to_encoded_point(false);
            let x = point.x().map(|x| x.as_slice());
            ("P-256", coordinates(x, point.y().map(|y| y.as_slice())))
        }
        Curve::P384 => {
            let key = p384::SecretKey::from_slice(d).map_err(|_| invalid())?;
            let point = key.public_key().to_encoded_point(false);
            let x = point.x().map(|x| x.as_slice());
            ("P-384", coordinates(x, point.y().map(|y| y.as_slice())))
        }
        #[cfg(feature = "jwt-es512")]
        Curve::P521 => {
            let key = p521::SecretKey::from_slice(d).map_err(|_| invalid())?;
            let point = key.public_key().to_encoded_point(false);
            let x = point.x().map(|x| x.as_slice());
            ("P-521", coordinates(x, point.y().map(|y| y.as_slice())))
        }
        _ => bail!("{NAME}: a key on this curve needs a build with it (P-521: jwt-es512)"),
    };
    let (x, y) = point.ok_or_else(invalid)?;
    Ok((name, x, y))
}

/// An Ed25519 (`signing`) or X25519 key from its 32-byte seed or scalar: `x` is its public key.
#[cfg(feature = "jwt-eddsa")]
fn okp_jwk(signing: bool, seed: [u8; 32]) -> Result<Value> {
    let (curve, public) = match signing {
        true => (
            "Ed25519",
            ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes(),
        ),
        false => (
            "X25519",
            curve25519_dalek::MontgomeryPoint::mul_base_clamped(seed).to_bytes(),
        ),
    };
    Ok(Fields::new()
        .with("kty", "OKP")
        .with("crv", curve)
        .with("x", Value::from(base64url_encode(&public)))
        .with("d", Value::from(base64url_encode(&seed)))
        .build())
}

#[cfg(not(feature = "jwt-eddsa"))]
fn okp_jwk(_signing: bool, _seed: [u8; 32]) -> Result<Value> {
    bail!("{NAME}: an Ed25519 or X25519 key needs a build with the jwt-eddsa feature")
}
