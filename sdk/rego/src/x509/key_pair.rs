//! `crypto.x509.parse_keypair(cert, key)`: a certificate chain and its private key, as OPA
//! returns Go's `tls.X509KeyPair` of them: a `tls.Certificate` in Go's JSON (`Certificate`, the
//! chain's DER in base64; `PrivateKey`, the key's struct; `Leaf`, the first certificate; and
//! three fields `tls.X509KeyPair` leaves nil). The key must be the first certificate's.

use anyhow::{anyhow, bail, Result};
use regorus::Value;

use super::certificate;
use super::json::{self, Fields};
use super::pem;
use super::private_key::{okp_public, PrivateKey};
use super::public_key::PublicKey;
use rsa::traits::PublicKeyParts;

const NAME: &str = "crypto.x509.parse_keypair";

/// `crypto.x509.parse_keypair(cert, key)`.
pub(crate) fn parse_keypair(args: &[Value]) -> Result<Value> {
    let chain = super::text(NAME, args, 0)?;
    let key = super::text(NAME, args, 1)?;
    key_pair(chain.as_bytes(), key.as_bytes()).map_err(|err| anyhow!("{NAME}: {err}"))
}

/// OPA's `getTLSx509KeyPairFromString`: each side is PEM, or base64 of PEM, or base64 of DER
/// (a certificate; a key).
fn key_pair(chain: &[u8], key: &[u8]) -> Result<Value> {
    let decode = |text: &[u8]| match text.starts_with(b"-----BEGIN ") {
        true => Ok(text.to_vec()),
        false => pem::decode_base64(text).ok_or_else(|| anyhow!("illegal base64 data")),
    };
    let (chain, key) = (decode(chain)?, decode(key)?);
    let certificates = match chain.starts_with(b"-----BEGIN ") {
        true => pem::blocks(&chain)
            .into_iter()
            .filter(|block| block.kind == "CERTIFICATE")
            .map(|block| block.bytes)
            .collect(),
        false => vec![chain],
    };
    let key_der = match key.starts_with(b"-----BEGIN") {
        true => pem::blocks(&key)
            .into_iter()
            .find(|block| block.kind == "PRIVATE KEY" || block.kind.ends_with(" PRIVATE KEY"))
            .map(|block| block.bytes)
            .ok_or_else(|| anyhow!("tls: failed to find any PEM data in key input"))?,
        false => key,
    };
    let Some(first) = certificates.first() else {
        bail!("tls: failed to find any PEM data in certificate input");
    };
    let leaf = certificate::parse(first).map_err(|refusal| anyhow!(refusal))?;
    if leaf.raw.len() != first.len() {
        bail!("x509: trailing data");
    }
    let private_key = PrivateKey::for_tls(&key_der)?;
    check_match(&leaf.public_key, &private_key)?;
    Ok(Fields::new()
        .with(
            "Certificate",
            Value::from(
                certificates
                    .iter()
                    .map(|der| json::bytes(Some(der)))
                    .collect::<Vec<_>>(),
            ),
        )
        .with("PrivateKey", private_key.go_value()?)
        .with("Leaf", super::to_value(&leaf, false)?)
        .with("SupportedSignatureAlgorithms", Value::Null)
        .with("OCSPStaple", Value::Null)
        .with("SignedCertificateTimestamps", Value::Null)
        .build())
}

/// `tls.X509KeyPair`'s check that the private key is the certificate's: the same RSA modulus,
/// the same EC point, the same Ed25519 public key.
fn check_match(public: &PublicKey, private: &PrivateKey) -> Result<()> {
    let matches = match (public, private) {
        (PublicKey::Rsa { n, .. }, PrivateKey::Rsa(key)) => {
            rsa::BigUint::from_bytes_be(n) == *key.n()
        }
        (PublicKey::Ec { x, y, .. }, PrivateKey::Ec { x: px, y: py, .. }) => {
            same_number(x, px) && same_number(y, py)
        }
        (
            PublicKey::Ed25519(public),
            PrivateKey::Okp {
                signing: true,
                seed,
            },
        ) => public.as_slice() == okp_public(true, seed)?.as_slice(),
        (PublicKey::Rsa { .. } | PublicKey::Ec { .. } | PublicKey::Ed25519(_), _) => {
            bail!("tls: private key type does not match public key type")
        }
        _ => bail!("tls: unknown public key algorithm"),
    };
    match matches {
        true => Ok(()),
        false => bail!("tls: private key does not match public key"),
    }
}

/// Two unsigned big-endian numbers are equal (leading zeros aside).
fn same_number(a: &[u8], b: &[u8]) -> bool {
    let trim = |n: &[u8]| {
        let start = n.iter().position(|b| *b != 0).unwrap_or(n.len());
        n.get(start..).unwrap_or_default().to_vec()
    };
    trim(a) == trim(b)
}
