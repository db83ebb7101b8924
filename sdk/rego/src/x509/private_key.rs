//! Private keys as Go's `crypto/x509` reads them (`ParsePKCS1PrivateKey`,
//! `ParsePKCS8PrivateKey`, `ParseECPrivateKey`), for the three builtins that read them:
//!
//! - `crypto.x509.parse_rsa_private_key(keys)`: the first key as the JWK OPA's JWK library
//!   (`jwk.New`) writes: `RSA` (n, e, d, p, q, dp, dq, qi: big-endian bytes without leading
//!   zeros, Go's `big.Int.Bytes`), `EC` (crv, x, y, d: the curve's size), `OKP` (Ed25519 or
//!   X25519: crv, x, d), each value base64url, unpadded. No key block (`PUBLIC KEY`,
//!   `CERTIFICATE` and others are skipped) gives `null`, as in OPA.
//! - `crypto.parse_private_keys(keys)`: every key, each as Go's JSON writes the key's struct.
//! - `crypto.x509.parse_keypair(cert, key)` (in [`super::key_pair`]): the key as Go's
//!   `tls.X509KeyPair` reads it.
//!
//! The first two read every block of the text (PEM, or base64 of PEM), so one bad key fails
//! the call.

use anyhow::{anyhow, bail, Result};
use regorus::Value;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};

use super::der::{tag, Der, Malformed};
use super::json::{self, Fields};
use super::pem::{self, Block};
use super::public_key::{curve, Curve};
use crate::jwt::encoding::base64url_encode;

const RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const ED25519: &[u64] = &[1, 3, 101, 112];
const X25519: &[u64] = &[1, 3, 101, 110];

/// A private key Go parses.
pub(crate) enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    /// The scalar and the public point, each at the curve's size (big-endian).
    Ec {
        curve: Curve,
        d: Vec<u8>,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// An Ed25519 (`signing`) or X25519 key's 32-byte seed or scalar.
    Okp {
        signing: bool,
        seed: [u8; 32],
    },
}

/// `crypto.x509.parse_rsa_private_key(keys)`: the first key, as a JWK; `null` when there is
/// none.
pub(crate) fn parse_rsa_private_key(args: &[Value]) -> Result<Value> {
    let name = "crypto.x509.parse_rsa_private_key";
    let input = super::text(name, args, 0)?;
    let text = match input.starts_with("-----BEGIN") {
        true => input.as_bytes().to_vec(),
        false => pem::decode_base64(input.as_bytes())
            .ok_or_else(|| anyhow!("{name}: illegal base64 data"))?,
    };
    if text.is_empty() {
        bail!("{name}: input PEM data was empty");
    }
    let keys = private_keys(&text).map_err(|err| anyhow!("{name}: {err}"))?;
    match keys.first() {
        Some(key) => key.jwk().map_err(|err| anyhow!("{name}: {err}")),
        None => Ok(Value::Null),
    }
}

/// `crypto.parse_private_keys(keys)`: every key, as Go's JSON writes it; `""` is `null`.
pub(crate) fn parse_private_keys(args: &[Value]) -> Result<Value> {
    let name = "crypto.parse_private_keys";
    let input = super::text(name, args, 0)?;
    if input.is_empty() {
        return Ok(Value::Null);
    }
    let keys = private_keys(input.as_bytes()).map_err(|err| anyhow!("{name}: {err}"))?;
    let values = keys.iter().map(PrivateKey::go_value);
    let values = values.collect::<Result<Vec<_>>>();
    Ok(Value::from(values.map_err(|err| anyhow!("{name}: {err}"))?))
}

/// OPA's `getPrivateKeysFromPEMData`: the text, or what it decodes to when it is base64, read
/// block by block; a key block Go reads by its type gives a key, other blocks are skipped, and
/// one bad key fails the whole.
fn private_keys(text: &[u8]) -> Result<Vec<PrivateKey>> {
    let decoded = pem::decode_base64(text);
    let mut keys = Vec::new();
    for block in pem::blocks(decoded.as_deref().unwrap_or(text)) {
        keys.extend(PrivateKey::from_block(&block)?);
    }
    Ok(keys)
}

impl PrivateKey {
    /// The key of a PEM block whose type names one Go reads by that type (`None` for other
    /// types).
    fn from_block(block: &Block) -> Result<Option<Self>> {
        match block.kind.as_str() {
            "RSA PRIVATE KEY" => Ok(Some(Self::Rsa(Box::new(pkcs1(&block.bytes)?)))),
            "PRIVATE KEY" => pkcs8(&block.bytes).map(Some),
            "EC PRIVATE KEY" => sec1(&block.bytes, None).map(Some),
            _ => Ok(None),
        }
    }

    /// Go's `tls.parsePrivateKey`: PKCS #1, else PKCS #8 (RSA, ECDSA or Ed25519), else SEC 1,
    /// whatever the block's type.
    pub(crate) fn for_tls(der: &[u8]) -> Result<Self> {
        if let Ok(key) = pkcs1(der) {
            return Ok(Self::Rsa(Box::new(key)));
        }
        if let Ok(key) = pkcs8(der) {
            return match key {
                Self::Okp { signing: false, .. } => {
                    bail!("tls: found unknown private key type in PKCS#8 wrapping")
                }
                key => Ok(key),
            };
        }
        sec1(der, None).map_err(|_| anyhow!("tls: failed to parse private key"))
    }

    /// The key's JWK, as OPA's JWK library writes it.
    fn jwk(&self) -> Result<Value> {
        match self {
            Self::Rsa(key) => Ok(rsa_jwk(key)),
            Self::Ec { curve, d, x, y } => {
                let name = match curve {
                    Curve::P256 => "P-256",
                    Curve::P384 => "P-384",
                    Curve::P521 => "P-521",
                    // OPA's JWK library has no P-224: its call fails.
                    Curve::P224 => bail!("unsupported curve P-224"),
                };
                let fixed = |bytes: &[u8]| Value::from(base64url_encode(bytes));
                Ok(Fields::new()
                    .with("kty", "EC")
                    .with("crv", name)
                    .with("x", fixed(x))
                    .with("y", fixed(y))
                    .with("d", fixed(d))
                    .build())
            }
            Self::Okp { signing, seed } => Ok(Fields::new()
                .with("kty", "OKP")
                .with("crv", if *signing { "Ed25519" } else { "X25519" })
                .with(
                    "x",
                    Value::from(base64url_encode(&okp_public(*signing, seed)?)),
                )
                .with("d", Value::from(base64url_encode(seed)))
                .build()),
        }
    }

    /// The key as Go's JSON writes its struct: `rsa.PrivateKey` (N, E, D, Primes, Precomputed),
    /// `ecdsa.PrivateKey` (Curve `{}`, X, Y, D), `ed25519.PrivateKey` (the seed and the public
    /// key, base64), `ecdh.PrivateKey` (no exported field: `{}`).
    pub(crate) fn go_value(&self) -> Result<Value> {
        let integer = |n: &BigUint| json::unsigned_integer(&n.to_bytes_be());
        match self {
            Self::Rsa(key) => {
                let optional = |n: Option<&BigUint>| n.map_or(Value::Null, integer);
                let precomputed = Fields::new()
                    .with("Dp", optional(key.dp()))
                    .with("Dq", optional(key.dq()))
                    .with("Qinv", optional(qinv(key).as_ref()))
                    .with("CRTValues", Value::from(Vec::<Value>::new()))
                    .build();
                Ok(Fields::new()
                    .with("N", integer(key.n()))
                    .with("E", integer(key.e()))
                    .with("D", integer(key.d()))
                    .with(
                        "Primes",
                        Value::from(key.primes().iter().map(integer).collect::<Vec<_>>()),
                    )
                    .with("Precomputed", precomputed)
                    .build())
            }
            Self::Ec { d, x, y, .. } => Ok(Fields::new()
                .with("Curve", Fields::new().build())
                .with("X", json::unsigned_integer(x))
                .with("Y", json::unsigned_integer(y))
                .with("D", json::unsigned_integer(d))
                .build()),
            Self::Okp {
                signing: true,
                seed,
            } => {
                let mut bytes = seed.to_vec();
                bytes.extend_from_slice(&okp_public(true, seed)?);
                Ok(json::bytes(Some(&bytes)))
            }
            Self::Okp { signing: false, .. } => Ok(Fields::new().build()),
        }
    }
}

fn malformed(what: &str) -> impl Fn(Malformed) -> anyhow::Error + '_ {
    move |_| anyhow!("x509: failed to parse {what}")
}

/// Go's `x509.ParsePKCS1PrivateKey`.
fn pkcs1(der: &[u8]) -> Result<RsaPrivateKey> {
    let what = "RSA private key";
    let mut outer = Der::new(der);
    let mut key = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    if !outer.is_empty() {
        bail!("x509: trailing data after the RSA private key");
    }
    let version = key.int64().map_err(malformed(what))?;
    let mut number = || unsigned(&mut key);
    let (n, e, d, p, q) = (number()?, number()?, number()?, number()?, number()?);
    if version > 1 {
        bail!("x509: unsupported private key version");
    }
    if [&n, &d, &p, &q].iter().any(|v| **v == BigUint::default()) {
        bail!("x509: private key contains zero or negative value");
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
        bail!("x509: multi-prime RSA keys are not supported");
    }
    let key = RsaPrivateKey::from_components(n, e, d, vec![p, q])
        .map_err(|err| anyhow!("crypto/rsa: {err}"))?;
    key.validate().map_err(|err| anyhow!("crypto/rsa: {err}"))?;
    let computed = [key.dp().cloned(), key.dq().cloned(), qinv(&key)];
    if crt
        .iter()
        .zip(&computed)
        .any(|(encoded, computed)| Some(encoded) != computed.as_ref())
    {
        bail!("crypto/rsa: invalid CRT values");
    }
    Ok(key)
}

/// A non-negative INTEGER of an RSA key.
fn unsigned(der: &mut Der<'_>) -> Result<BigUint> {
    let bytes = der.integer_bytes().map_err(malformed("RSA private key"))?;
    match bytes.first() {
        Some(b) if b & 0x80 != 0 => bail!("x509: private key contains zero or negative value"),
        _ => Ok(BigUint::from_bytes_be(bytes)),
    }
}

/// Go's `x509.ParsePKCS8PrivateKey`.
fn pkcs8(der: &[u8]) -> Result<PrivateKey> {
    let what = "PKCS #8 private key";
    let mut outer = Der::new(der);
    let mut info = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    info.int64().map_err(malformed(what))?;
    let mut algorithm = info.read(tag::SEQUENCE).map_err(malformed(what))?;
    let oid = algorithm.oid().map_err(malformed(what))?;
    let private = info.read(tag::OCTET_STRING).map_err(malformed(what))?;
    let private = private.remaining();
    match oid.as_slice() {
        RSA_ENCRYPTION => Ok(PrivateKey::Rsa(Box::new(pkcs1(private)?))),
        EC_PUBLIC_KEY => {
            // Parameters that are not a curve's OID leave the key's own curve to decide.
            let named = algorithm.oid().ok();
            sec1(private, named.as_deref())
        }
        ED25519 | X25519 => {
            if !algorithm.is_empty() {
                bail!("x509: invalid curve25519 private key parameters");
            }
            let seed = Der::new(private)
                .read(tag::OCTET_STRING)
                .map_err(malformed("curve25519 private key"))?;
            let seed: [u8; 32] = seed
                .remaining()
                .try_into()
                .map_err(|_| anyhow!("x509: invalid curve25519 private key length"))?;
            Ok(PrivateKey::Okp {
                signing: oid.as_slice() == ED25519,
                seed,
            })
        }
        _ => bail!("x509: PKCS#8 wrapping contained private key with unknown algorithm"),
    }
}

/// The key's CRT coefficient (q⁻¹ mod p), as an unsigned number.
fn qinv(key: &RsaPrivateKey) -> Option<BigUint> {
    key.qinv().and_then(|qi| qi.to_biguint())
}

fn rsa_jwk(key: &RsaPrivateKey) -> Value {
    // Base64url, unpadded, without leading zeros.
    let number = |v: Option<&BigUint>| {
        let bytes = v.map(BigUint::to_bytes_be).unwrap_or_default();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Value::from(base64url_encode(bytes.get(start..).unwrap_or_default()))
    };
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

/// Go's `parseECPrivateKey` (SEC 1), on the PKCS #8 algorithm's curve or else its own.
fn sec1(der: &[u8], named_curve: Option<&[u64]>) -> Result<PrivateKey> {
    let what = "EC private key";
    let mut outer = Der::new(der);
    let mut key = outer.read(tag::SEQUENCE).map_err(malformed(what))?;
    if key.int64().map_err(malformed(what))? != 1 {
        bail!("x509: unknown EC private key version");
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
        .ok_or_else(|| anyhow!("x509: unknown elliptic curve"))?;
    let size = curve.coordinate_len();
    // Go allows leading zero padding beyond the curve's size.
    let mut scalar = scalar.remaining();
    while scalar.len() > size && scalar.first() == Some(&0) {
        scalar = scalar.get(1..).unwrap_or_default();
    }
    if scalar.len() > size {
        bail!("x509: invalid private key length");
    }
    let mut d = vec![0u8; size - scalar.len()];
    d.extend_from_slice(scalar);
    let (x, y) = public_point(curve, &d)?;
    Ok(PrivateKey::Ec { curve, d, x, y })
}

/// The public point of scalar `d` (fixed length, big-endian).
fn public_point(curve: Curve, d: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let invalid = || anyhow!("x509: invalid elliptic curve private key value");
    macro_rules! point {
        ($crate_name:ident) => {{
            let key = $crate_name::SecretKey::from_slice(d).map_err(|_| invalid())?;
            let point = key.public_key().to_encoded_point(false);
            match (point.x(), point.y()) {
                (Some(x), Some(y)) => (x.to_vec(), y.to_vec()),
                _ => return Err(invalid()),
            }
        }};
    }
    Ok(match curve {
        Curve::P224 => point!(p224),
        Curve::P256 => point!(p256),
        Curve::P384 => point!(p384),
        #[cfg(feature = "jwt-es512")]
        Curve::P521 => point!(p521),
        #[cfg(not(feature = "jwt-es512"))]
        Curve::P521 => bail!("a P-521 key needs a build with the jwt-es512 feature"),
    })
}

/// The public key of an Ed25519 (`signing`) or X25519 seed.
#[cfg(feature = "jwt-eddsa")]
pub(super) fn okp_public(signing: bool, seed: &[u8; 32]) -> Result<[u8; 32]> {
    Ok(match signing {
        true => ed25519_dalek::SigningKey::from_bytes(seed)
            .verifying_key()
            .to_bytes(),
        false => curve25519_dalek::MontgomeryPoint::mul_base_clamped(*seed).to_bytes(),
    })
}

#[cfg(not(feature = "jwt-eddsa"))]
pub(super) fn okp_public(_signing: bool, _seed: &[u8; 32]) -> Result<[u8; 32]> {
    bail!("an Ed25519 or X25519 key needs a build with the jwt-eddsa feature")
}
