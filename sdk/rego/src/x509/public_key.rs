//! Public keys and algorithm identifiers as Go's `crypto/x509` reads them: the key types Go
//! parses (RSA, ECDSA on P-224/P-256/P-384/P-521, Ed25519, DSA) with its checks, Go's numbers
//! for signature and public-key algorithms and extended key usages, and the keys as Go's JSON
//! writes them.

use num_bigint::BigUint;
use regorus::Value;

use super::certificate::{algorithm_identifier, AlgorithmIdentifier, Refusal};
use super::der::{tag, Der, Malformed, Read};
use super::json::{self, Fields};

/// A named curve Go supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P224,
    P256,
    P384,
    P521,
}

/// A subject public key, as Go holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// An algorithm Go does not parse (`PublicKey` is nil).
    #[default]
    Unknown,
    /// The modulus (unsigned, big-endian) and the exponent.
    Rsa {
        n: Vec<u8>,
        e: i64,
    },
    /// The curve and the point's coordinates (unsigned, big-endian).
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    Ed25519(Vec<u8>),
    /// P, Q, G and Y, each an INTEGER's contents.
    Dsa {
        p: Vec<u8>,
        q: Vec<u8>,
        g: Vec<u8>,
        y: Vec<u8>,
    },
}

const RSA: [u64; 7] = [1, 2, 840, 113549, 1, 1, 1];
const DSA: [u64; 6] = [1, 2, 840, 10040, 4, 1];
const ECDSA: [u64; 6] = [1, 2, 840, 10045, 2, 1];
const ED25519: [u64; 4] = [1, 3, 101, 112];
const RSA_PSS: [u64; 7] = [1, 2, 840, 113549, 1, 1, 10];
const MGF1: [u64; 7] = [1, 2, 840, 113549, 1, 1, 8];
const SHA256: [u64; 9] = [2, 16, 840, 1, 101, 3, 4, 2, 1];
const SHA384: [u64; 9] = [2, 16, 840, 1, 101, 3, 4, 2, 2];
const SHA512: [u64; 9] = [2, 16, 840, 1, 101, 3, 4, 2, 3];
const NULL: [u8; 2] = [0x05, 0x00];

/// Go's `SignatureAlgorithm` numbers by OID (RSA-PSS is decided by its parameters).
const SIGNATURE_ALGORITHMS: &[(&[u64], u8)] = &[
    (&[1, 2, 840, 113549, 1, 1, 2], 1),
    (&[1, 2, 840, 113549, 1, 1, 4], 2),
    (&[1, 2, 840, 113549, 1, 1, 5], 3),
    (&[1, 3, 14, 3, 2, 29], 3),
    (&[1, 2, 840, 113549, 1, 1, 11], 4),
    (&[1, 2, 840, 113549, 1, 1, 12], 5),
    (&[1, 2, 840, 113549, 1, 1, 13], 6),
    (&[1, 2, 840, 10040, 4, 3], 7),
    (&[2, 16, 840, 1, 101, 3, 4, 3, 2], 8),
    (&[1, 2, 840, 10045, 4, 1], 9),
    (&[1, 2, 840, 10045, 4, 3, 2], 10),
    (&[1, 2, 840, 10045, 4, 3, 3], 11),
    (&[1, 2, 840, 10045, 4, 3, 4], 12),
    (&ED25519, 16),
];

pub(crate) const SHA256_WITH_RSA_PSS: u8 = 13;
pub(crate) const SHA384_WITH_RSA_PSS: u8 = 14;
pub(crate) const SHA512_WITH_RSA_PSS: u8 = 15;

/// Go's `getSignatureAlgorithmFromAI`.
pub(crate) fn signature_algorithm(ai: &AlgorithmIdentifier<'_>) -> u8 {
    if ai.oid == ED25519 && !ai.parameters.is_empty() {
        return 0;
    }
    if ai.oid != RSA_PSS {
        return SIGNATURE_ALGORITHMS
            .iter()
            .find(|(oid, _)| *oid == ai.oid.as_slice())
            .map_or(0, |(_, number)| *number);
    }
    pss_algorithm(ai.parameters).unwrap_or(0)
}

/// RSA-PSS parameters Go accepts: MGF1 with the same hash, the hash's length as salt, the
/// default trailer.
fn pss_algorithm(parameters: &[u8]) -> Option<u8> {
    let mut params = Der::new(parameters).read(tag::SEQUENCE).ok()?;
    let mut hash = params.read(tag::context_constructed(0)).ok()?;
    let hash = explicit_algorithm(&mut hash)?;
    let mut mgf = params.read(tag::context_constructed(1)).ok()?;
    let mgf = explicit_algorithm(&mut mgf)?;
    let mut salt = params.read(tag::context_constructed(2)).ok()?;
    let salt = salt.int64().ok()?;
    let trailer = match params.optional(tag::context_constructed(3)).ok()? {
        Some(mut trailer) => trailer.int64().ok()?,
        None => 1,
    };
    let mgf_hash = algorithm_identifier(Der::new(mgf.parameters).read(tag::SEQUENCE).ok()?).ok()?;
    let null_or_absent = |p: &[u8]| p.is_empty() || p == NULL;
    if !null_or_absent(hash.parameters)
        || mgf.oid != MGF1
        || mgf_hash.oid != hash.oid
        || !null_or_absent(mgf_hash.parameters)
        || trailer != 1
    {
        return None;
    }
    match (hash.oid.as_slice(), salt) {
        (h, 32) if h == SHA256 => Some(SHA256_WITH_RSA_PSS),
        (h, 48) if h == SHA384 => Some(SHA384_WITH_RSA_PSS),
        (h, 64) if h == SHA512 => Some(SHA512_WITH_RSA_PSS),
        _ => None,
    }
}

fn explicit_algorithm<'a>(der: &mut Der<'a>) -> Option<AlgorithmIdentifier<'a>> {
    algorithm_identifier(der.read(tag::SEQUENCE).ok()?).ok()
}

/// Go's `ExtKeyUsage` number of an extended key usage OID.
pub(crate) fn ext_key_usage(oid: &[u64]) -> Option<u64> {
    const PKIX: [u64; 8] = [1, 3, 6, 1, 5, 5, 7, 3];
    match oid {
        [2, 5, 29, 37, 0] => Some(0),
        [1, 3, 6, 1, 5, 5, 7, 3, n @ 1..=9] if oid.get(..8) == Some(&PKIX[..]) => Some(*n),
        [1, 3, 6, 1, 4, 1, 311, 10, 3, 3] => Some(10),
        [2, 16, 840, 1, 113730, 4, 1] => Some(11),
        [1, 3, 6, 1, 4, 1, 311, 2, 1, 22] => Some(12),
        [1, 3, 6, 1, 4, 1, 311, 61, 1, 1] => Some(13),
        _ => None,
    }
}

/// Go's `PublicKeyAlgorithm` number and the parsed key of a SubjectPublicKeyInfo (whole).
pub(crate) fn parse_spki(whole: &[u8]) -> Result<(u8, PublicKey), Refusal> {
    let malformed = |_: Malformed| "x509: malformed spki";
    let mut spki = Der::new(whole).read(tag::SEQUENCE).map_err(malformed)?;
    let algorithm = spki
        .read(tag::SEQUENCE)
        .map_err(|_| "x509: malformed public key algorithm identifier")?;
    let algorithm = algorithm_identifier(algorithm)?;
    let number = match algorithm.oid.as_slice() {
        oid if oid == RSA => 1,
        oid if oid == DSA => 2,
        oid if oid == ECDSA => 3,
        oid if oid == ED25519 => 4,
        _ => 0,
    };
    let bits = spki
        .bit_string()
        .map_err(|_| "x509: malformed subjectPublicKey")?;
    let data = bits.right_aligned();
    let key = match number {
        1 => rsa(algorithm.parameters, &data)?,
        2 => dsa(algorithm.parameters, &data)?,
        3 => ec(algorithm.parameters, &data)?,
        4 => {
            if !algorithm.parameters.is_empty() {
                return Err("x509: Ed25519 key encoded with illegal parameters");
            }
            if data.len() != 32 {
                return Err("x509: wrong Ed25519 public key size");
            }
            PublicKey::Ed25519(data)
        }
        _ => PublicKey::Unknown,
    };
    Ok((number, key))
}

fn rsa(parameters: &[u8], data: &[u8]) -> Result<PublicKey, Refusal> {
    if parameters != NULL {
        return Err("x509: RSA key missing NULL parameters");
    }
    let invalid = "x509: invalid RSA public key";
    let mut key = Der::new(data).read(tag::SEQUENCE).map_err(|_| invalid)?;
    let n = key
        .integer_bytes()
        .map_err(|_| "x509: invalid RSA modulus")?;
    let e = key
        .int64()
        .map_err(|_| "x509: invalid RSA public exponent")?;
    if n.first().is_some_and(|b| b & 0x80 != 0) || n.iter().all(|b| *b == 0) {
        return Err("x509: RSA modulus is not a positive number");
    }
    if e <= 0 {
        return Err("x509: RSA public exponent is not a positive number");
    }
    let n = n.strip_prefix(&[0]).unwrap_or(n).to_vec();
    Ok(PublicKey::Rsa { n, e })
}

fn dsa(parameters: &[u8], data: &[u8]) -> Result<PublicKey, Refusal> {
    let y = Der::new(data)
        .integer_bytes()
        .map_err(|_| "x509: invalid DSA public key")?;
    let invalid = "x509: invalid DSA parameters";
    let read = || -> Read<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let mut params = Der::new(parameters).read(tag::SEQUENCE)?;
        let p = params.integer_bytes()?.to_vec();
        let q = params.integer_bytes()?.to_vec();
        let g = params.integer_bytes()?.to_vec();
        Ok((p, q, g))
    };
    let (p, q, g) = read().map_err(|_| invalid)?;
    let positive = |n: &[u8]| n.first().is_some_and(|b| b & 0x80 == 0) && n.iter().any(|b| *b != 0);
    if ![y, &p, &q, &g].iter().all(|n| positive(n)) {
        return Err("x509: zero or negative DSA parameter");
    }
    Ok(PublicKey::Dsa {
        p,
        q,
        g,
        y: y.to_vec(),
    })
}

/// The curve named by an OID.
pub(crate) fn curve(oid: &[u64]) -> Option<Curve> {
    match oid {
        [1, 3, 132, 0, 33] => Some(Curve::P224),
        [1, 2, 840, 10045, 3, 1, 7] => Some(Curve::P256),
        [1, 3, 132, 0, 34] => Some(Curve::P384),
        [1, 3, 132, 0, 35] => Some(Curve::P521),
        _ => None,
    }
}

fn ec(parameters: &[u8], data: &[u8]) -> Result<PublicKey, Refusal> {
    let oid = Der::new(parameters)
        .oid()
        .map_err(|_| "x509: invalid ECDSA parameters")?;
    let curve = curve(&oid).ok_or("x509: unsupported elliptic curve")?;
    let (x, y) = uncompressed_point(curve, data).ok_or("x509: invalid elliptic curve point")?;
    Ok(PublicKey::Ec { curve, x, y })
}

impl Curve {
    /// The field prime and the curve's `b` (all these curves have `a = -3`), in hex.
    fn parameters(self) -> (&'static str, &'static str) {
        match self {
            Curve::P224 => (
                "ffffffffffffffffffffffffffffffff000000000000000000000001",
                "b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4",
            ),
            Curve::P256 => (
                "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
                "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
            ),
            Curve::P384 => (
                "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
                "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
            ),
            Curve::P521 => (
                "1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
            ),
        }
    }

    /// Bytes of one coordinate.
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            Curve::P224 => 28,
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// Go's `ecdsa.ParseUncompressedPublicKey`: `04 || X || Y`, a point on the curve.
pub(crate) fn uncompressed_point(curve: Curve, data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let len = curve.coordinate_len();
    let (&format, coordinates) = data.split_first()?;
    if format != 4 || coordinates.len() != 2 * len {
        return None;
    }
    let (x_bytes, y_bytes) = coordinates.split_at(len);
    let (p, b) = curve.parameters();
    let p = BigUint::parse_bytes(p.as_bytes(), 16)?;
    let b = BigUint::parse_bytes(b.as_bytes(), 16)?;
    let x = BigUint::from_bytes_be(x_bytes);
    let y = BigUint::from_bytes_be(y_bytes);
    if x >= p || y >= p {
        return None;
    }
    let three_x = (&x * 3u8) % &p;
    let right = ((&x * &x % &p) * &x + &b + &p - three_x) % &p;
    let left = &y * &y % &p;
    (left == right).then(|| (x_bytes.to_vec(), y_bytes.to_vec()))
}

impl PublicKey {
    /// The key as Go's JSON writes it.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            PublicKey::Unknown => Value::Null,
            PublicKey::Rsa { n, e } => Fields::new()
                .with("N", json::unsigned_integer(n))
                .with("E", Value::from(*e))
                .build(),
            // Go's curves keep their parameters in unexported fields: `{}`.
            PublicKey::Ec { x, y, .. } => Fields::new()
                .with("Curve", Fields::new().build())
                .with("X", json::unsigned_integer(x))
                .with("Y", json::unsigned_integer(y))
                .build(),
            PublicKey::Ed25519(key) => json::bytes(Some(key)),
            PublicKey::Dsa { p, q, g, y } => Fields::new()
                .with("P", json::signed_integer(p))
                .with("Q", json::signed_integer(q))
                .with("G", json::signed_integer(g))
                .with("Y", json::signed_integer(y))
                .build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_off_the_curve_are_refused() {
        // The P-256 generator.
        let gx = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
        let gy = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
        let mut point = vec![4u8];
        for hex in [gx, gy] {
            point.extend(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()),
            );
        }
        assert!(uncompressed_point(Curve::P256, &point).is_some());
        let last = point.len() - 1;
        point[last] ^= 1;
        assert!(uncompressed_point(Curve::P256, &point).is_none());
        assert!(uncompressed_point(Curve::P256, &point[..10]).is_none());
    }

    #[test]
    fn extended_key_usages() {
        assert_eq!(ext_key_usage(&[1, 3, 6, 1, 5, 5, 7, 3, 1]), Some(1));
        assert_eq!(ext_key_usage(&[1, 3, 6, 1, 5, 5, 7, 3, 10]), None);
        assert_eq!(ext_key_usage(&[2, 5, 29, 37, 0]), Some(0));
    }
}
