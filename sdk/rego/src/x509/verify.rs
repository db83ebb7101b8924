//! Chain verification for `crypto.x509.parse_and_verify_certificates*`, after Go 1.26's
//! `Certificate.Verify` as OPA calls it: the first certificate is the only root, the last is
//! the leaf, those between are intermediates; chains are built from the leaf by issuer name
//! (candidates ordered by key identifier as Go orders them), each link's signature checked,
//! each certificate valid at the current time, intermediates CA certificates, path lengths
//! respected, no unhandled critical extension, and the leaf's chain allowing the requested
//! extended key usages (server authentication by default).
//!
//! What Go does that this does not, so the answer is `[false, []]` (never `[true, ...]`):
//! name constraints on a CA of the chain, the policy extensions (policy constraints, policy
//! mappings, inhibit any policy), signatures by Ed25519 or DSA keys or on P-224/P-521, RSA keys
//! under 1024 bits or with unusual exponents, and host names other than exact or single-label
//! wildcard matches.

use anyhow::bail;
use regorus::Value;
use sha2::Digest;

use super::certificate::{domain_name_valid, Certificate};
use super::public_key::{self, Curve, PublicKey};

/// Go's `ExtKeyUsageAny` and `ExtKeyUsageServerAuth`.
const ANY: u64 = 0;
const SERVER_AUTH: u64 = 1;
/// Go's `KeyUsageCertSign`.
const CERT_SIGN: u64 = 1 << 5;
/// Go's `maxChainSignatureChecks`.
const MAX_SIGNATURE_CHECKS: usize = 100;

/// OPA's verification options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    dns_name: String,
    now_ns: i64,
    key_usages: Vec<u64>,
}

/// OPA's names of the extended key usages an option may ask for.
const KEY_USAGES: &[(&str, u64)] = &[
    ("KeyUsageAny", 0),
    ("KeyUsageServerAuth", 1),
    ("KeyUsageClientAuth", 2),
    ("KeyUsageCodeSigning", 3),
    ("KeyUsageEmailProtection", 4),
    ("KeyUsageIPSECEndSystem", 5),
    ("KeyUsageIPSECTunnel", 6),
    ("KeyUsageIPSECUser", 7),
    ("KeyUsageTimeStamping", 8),
    ("KeyUsageOCSPSigning", 9),
    ("KeyUsageMicrosoftServerGatedCrypto", 10),
    ("KeyUsageNetscapeServerGatedCrypto", 11),
    ("KeyUsageMicrosoftCommercialCodeSigning", 12),
    ("KeyUsageMicrosoftKernelCodeSigning", 13),
];

impl Options {
    pub(crate) fn default_at(now_ns: i64) -> Self {
        Self {
            dns_name: String::new(),
            now_ns,
            key_usages: Vec::new(),
        }
    }

    /// OPA's `extractVerifyOpts`: `DNSName`, `CurrentTime` (ns), `MaxConstraintComparisons`,
    /// `KeyUsages`; any other key fails the call.
    pub(crate) fn from_value(
        options: &regorus::value::Object,
        now_ns: i64,
    ) -> anyhow::Result<Self> {
        let mut out = Self::default_at(now_ns);
        for (key, value) in options.iter() {
            let Value::String(key) = key else {
                continue;
            };
            match (key.as_ref(), value) {
                ("DNSName", Value::String(name)) => out.dns_name = name.trim_matches('"').into(),
                ("DNSName", _) => bail!("'DNSName' should be a string"),
                ("CurrentTime", Value::Number(n)) => match n.as_i64() {
                    Some(ns) => out.now_ns = ns,
                    None => bail!("'CurrentTime' should be a valid int64 number"),
                },
                ("CurrentTime", _) => bail!("'CurrentTime' should be a number"),
                ("MaxConstraintComparisons", Value::Number(n)) => {
                    if n.as_i64().is_none() {
                        bail!("'MaxConstraintComparisons' should be a valid number");
                    }
                }
                ("MaxConstraintComparisons", _) => {
                    bail!("'MaxConstraintComparisons' should be a number")
                }
                ("KeyUsages", Value::Array(items)) => out.key_usages(items.iter())?,
                ("KeyUsages", Value::Set(items)) => out.key_usages(items.iter())?,
                ("KeyUsages", _) => bail!("'KeyUsages' should be an Array or Set"),
                _ => bail!("invalid key option"),
            }
        }
        Ok(out)
    }

    fn key_usages<'v>(&mut self, items: impl Iterator<Item = &'v Value>) -> anyhow::Result<()> {
        let mut invalid = Vec::new();
        for item in items {
            let Value::String(name) = item else {
                continue;
            };
            let name = name.trim_matches('"');
            match KEY_USAGES.iter().find(|(n, _)| *n == name) {
                Some((_, usage)) => self.key_usages.push(*usage),
                None => invalid.push(name.to_string()),
            }
        }
        if !invalid.is_empty() {
            bail!("invalid entries for 'KeyUsages' found: {invalid:?}");
        }
        Ok(())
    }
}

/// OPA's `verifyX509CertificateChain`: the chain Go would return first, leaf to root.
pub(crate) fn verify<'c>(
    certificates: &'c [Certificate],
    options: &Options,
) -> Result<Vec<&'c Certificate>, &'static str> {
    let [root, middle @ .., leaf] = certificates else {
        return Err("must supply at least two certificates to be able to verify");
    };
    let mut intermediates: Vec<&Certificate> = Vec::new();
    for c in middle {
        if !intermediates.iter().any(|i| i.raw == c.raw) {
            intermediates.push(c);
        }
    }
    let pools = Pools {
        root,
        intermediates,
        options,
    };
    pools.is_valid(leaf, Kind::Leaf, &[])?;
    if !options.dns_name.is_empty() && !host_matches(leaf, &options.dns_name) {
        return Err("certificate is not valid for the host name");
    }
    let chains = match leaf.raw == root.raw {
        true => vec![vec![leaf]],
        false => {
            let mut checks = 0;
            pools.build_chains(vec![leaf], &mut checks)?
        }
    };
    let mut valid = Vec::new();
    for chain in chains {
        if !policies_supported(&chain) {
            return Err("certificate policy extensions are not supported");
        }
        valid.push(chain);
    }
    if options.key_usages.contains(&ANY) {
        return valid.into_iter().next().ok_or("no valid chains");
    }
    let usages = match options.key_usages.is_empty() {
        true => vec![SERVER_AUTH],
        false => options.key_usages.clone(),
    };
    valid
        .into_iter()
        .find(|chain| chain_allows(chain, &usages))
        .ok_or("incompatible key usage")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Leaf,
    Intermediate,
    Root,
}

struct Pools<'c, 'o> {
    root: &'c Certificate,
    intermediates: Vec<&'c Certificate>,
    options: &'o Options,
}

impl<'c> Pools<'c, '_> {
    /// Go's `isValid`, with what is not supported refused.
    fn is_valid(
        &self,
        cert: &Certificate,
        kind: Kind,
        chain: &[&Certificate],
    ) -> Result<(), &'static str> {
        if cert
            .unhandled_critical
            .as_ref()
            .is_some_and(|u| !u.is_empty())
        {
            return Err("unhandled critical extension");
        }
        if let Some(child) = chain.last() {
            if child.raw_issuer != cert.raw_subject {
                return Err("name mismatch");
            }
        }
        let (Some(not_before), Some(not_after)) = (cert.not_before, cert.not_after) else {
            return Err("no validity");
        };
        let now = i128::from(self.options.now_ns);
        if now < i128::from(not_before.unix()) * 1_000_000_000
            || now > i128::from(not_after.unix()) * 1_000_000_000
        {
            return Err("certificate has expired or is not yet valid");
        }
        if kind != Kind::Leaf && has_name_constraints(cert) {
            return Err("name constraints are not supported");
        }
        if kind == Kind::Intermediate && (!cert.basic_constraints_valid || !cert.is_ca) {
            return Err("not authorized to sign other certificates");
        }
        if cert.basic_constraints_valid && cert.max_path_len >= 0 {
            let intermediates = i64::try_from(chain.len()).unwrap_or(i64::MAX) - 1;
            if intermediates > cert.max_path_len {
                return Err("too many intermediates for path length constraint");
            }
        }
        Ok(())
    }

    /// Go's `findPotentialParents`: same subject as the issuer, key identifiers matching first.
    fn parents(&self, pool: &[&'c Certificate], child: &Certificate) -> Vec<&'c Certificate> {
        let named = pool.iter().filter(|c| c.raw_subject == child.raw_issuer);
        let (mut matching, mut one, mut mismatch) = (Vec::new(), Vec::new(), Vec::new());
        for candidate in named {
            let ski = candidate.subject_key_id.as_deref().unwrap_or_default();
            let aki = child.authority_key_id.as_deref().unwrap_or_default();
            if ski == aki {
                matching.push(*candidate);
            } else if ski.is_empty() != aki.is_empty() {
                one.push(*candidate);
            } else {
                mismatch.push(*candidate);
            }
        }
        matching.extend(one);
        matching.extend(mismatch);
        matching
    }

    /// Go's `buildChains`.
    fn build_chains(
        &self,
        chain: Vec<&'c Certificate>,
        checks: &mut usize,
    ) -> Result<Vec<Vec<&'c Certificate>>, &'static str> {
        let Some(&child) = chain.last() else {
            return Err("empty chain");
        };
        let mut chains = Vec::new();
        let mut failure: Option<&'static str> = None;
        let candidates = self
            .parents(&[self.root], child)
            .into_iter()
            .map(|c| (Kind::Root, c))
            .chain(
                self.parents(&self.intermediates, child)
                    .into_iter()
                    .map(|c| (Kind::Intermediate, c)),
            );
        for (kind, candidate) in candidates {
            if candidate.public_key == PublicKey::Unknown || already_in_chain(candidate, &chain) {
                continue;
            }
            *checks += 1;
            if *checks > MAX_SIGNATURE_CHECKS {
                failure = Some("signature check attempts limit reached");
                break;
            }
            if let Err(reason) = check_signature_from(child, candidate) {
                failure.get_or_insert(reason);
                continue;
            }
            if let Err(reason) = self.is_valid(candidate, kind, &chain) {
                failure.get_or_insert(reason);
                continue;
            }
            let mut longer = chain.clone();
            longer.push(candidate);
            match kind {
                Kind::Root => chains.push(longer),
                _ => match self.build_chains(longer, checks) {
                    Ok(found) => chains.extend(found),
                    Err(reason) => {
                        failure.get_or_insert(reason);
                    }
                },
            }
        }
        match chains.is_empty() {
            true => Err(failure.unwrap_or("certificate signed by unknown authority")),
            false => Ok(chains),
        }
    }
}

fn has_name_constraints(cert: &Certificate) -> bool {
    [
        cert.permitted_dns_domains.is_some(),
        cert.excluded_dns_domains.is_some(),
        cert.permitted_ip_ranges.is_some(),
        cert.excluded_ip_ranges.is_some(),
        cert.permitted_email_addresses.is_some(),
        cert.excluded_email_addresses.is_some(),
        cert.permitted_uri_domains.is_some(),
        cert.excluded_uri_domains.is_some(),
    ]
    .contains(&true)
}

fn subject_alt_name(cert: &Certificate) -> Option<&[u8]> {
    cert.extensions
        .iter()
        .flatten()
        .find(|e| e.id == [2, 5, 29, 17])
        .map(|e| e.value.as_slice())
}

/// Go's `alreadyInChain`.
fn already_in_chain(candidate: &Certificate, chain: &[&Certificate]) -> bool {
    let candidate_san = subject_alt_name(candidate);
    chain.iter().any(|c| {
        c.raw_subject == candidate.raw_subject
            && c.raw_spki == candidate.raw_spki
            && subject_alt_name(c) == candidate_san
    })
}

/// Whether none of the chain's certificates carries a policy extension Go's policy validation
/// would act on (with no policies asked for, it then always passes).
fn policies_supported(chain: &[&Certificate]) -> bool {
    chain.len() == 1
        || chain.iter().all(|c| {
            !c.extensions
                .iter()
                .flatten()
                .any(|e| matches!(e.id.as_slice(), [2, 5, 29, 33 | 36 | 54]))
        })
}

/// Go's `checkChainForKeyUsage`.
fn chain_allows(chain: &[&Certificate], requested: &[u64]) -> bool {
    let mut remaining: Vec<Option<u64>> = requested.iter().copied().map(Some).collect();
    for cert in chain.iter().rev() {
        let known = cert.ext_key_usage.as_deref().unwrap_or_default();
        let unknown = cert.unknown_ext_key_usage.as_deref().unwrap_or_default();
        if (known.is_empty() && unknown.is_empty()) || known.contains(&ANY) {
            continue;
        }
        for usage in remaining.iter_mut() {
            if usage.is_some_and(|u| !known.contains(&u)) {
                *usage = None;
            }
        }
        if remaining.iter().all(Option::is_none) {
            return false;
        }
    }
    true
}

/// Go's `CheckSignatureFrom` (SHA-1 and MD5 signatures refused, as Go refuses them).
fn check_signature_from(child: &Certificate, parent: &Certificate) -> Result<(), &'static str> {
    if (parent.version == 3 && !parent.basic_constraints_valid)
        || (parent.basic_constraints_valid && !parent.is_ca)
    {
        return Err("parent is not a CA");
    }
    if parent.key_usage != 0 && parent.key_usage & CERT_SIGN == 0 {
        return Err("parent may not sign certificates");
    }
    let message = child.raw_tbs.as_slice();
    let signature = child.signature.as_slice();
    let verified = match (&parent.public_key, child.signature_algorithm) {
        (PublicKey::Rsa { n, e }, algorithm) => rsa_verifies(n, *e, algorithm, message, signature)?,
        (PublicKey::Ec { curve, x, y }, algorithm) => {
            ecdsa_verifies(*curve, x, y, algorithm, message, signature)?
        }
        _ => return Err("signature algorithm not supported"),
    };
    match verified {
        true => Ok(()),
        false => Err("signature verification failure"),
    }
}

fn rsa_verifies(
    n: &[u8],
    e: i64,
    algorithm: u8,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, &'static str> {
    use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
    use sha2::{Sha256, Sha384, Sha512};
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < 1024 || e < 3 || e % 2 == 0 || e > i64::from(i32::MAX) {
        return Err("RSA key not supported");
    }
    let key = RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(n),
        BigUint::from(u64::try_from(e).map_err(|_| "RSA exponent")?),
        16384,
    )
    .map_err(|_| "RSA key not supported")?;
    let result = match algorithm {
        4 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        5 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        6 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        public_key::SHA256_WITH_RSA_PSS => {
            key.verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature)
        }
        public_key::SHA384_WITH_RSA_PSS => {
            key.verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature)
        }
        public_key::SHA512_WITH_RSA_PSS => {
            key.verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature)
        }
        _ => return Err("signature algorithm not supported for an RSA key"),
    };
    Ok(result.is_ok())
}

fn ecdsa_verifies(
    curve: Curve,
    x: &[u8],
    y: &[u8],
    algorithm: u8,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, &'static str> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let digest = match algorithm {
        10 => sha2::Sha256::digest(message).to_vec(),
        11 => sha2::Sha384::digest(message).to_vec(),
        12 => sha2::Sha512::digest(message).to_vec(),
        _ => return Err("signature algorithm not supported for an ECDSA key"),
    };
    let mut point = vec![4u8];
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(match curve {
        Curve::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| "key")?;
            p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify_prehash(&digest, &s).is_ok())
        }
        Curve::P384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| "key")?;
            p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify_prehash(&digest, &s).is_ok())
        }
        Curve::P224 | Curve::P521 => return Err("curve not supported for verification"),
    })
}

/// Whether the leaf is valid for `host`: an IP address among its IP SANs, or a DNS SAN equal
/// to the name (ASCII case aside) or a `*.` wildcard standing for its first label.
fn host_matches(leaf: &Certificate, host: &str) -> bool {
    let ip_text = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = ip_text.parse::<std::net::IpAddr>() {
        let octets = match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => v6.octets(),
        };
        return leaf.ip_addresses.iter().flatten().any(|candidate| {
            let candidate = match <[u8; 4]>::try_from(candidate.as_slice()) {
                Ok(v4) => std::net::Ipv4Addr::from(v4)
                    .to_ipv6_mapped()
                    .octets()
                    .to_vec(),
                Err(_) => candidate.clone(),
            };
            candidate == octets
        });
    }
    let host = host.to_ascii_lowercase();
    if host.is_empty() || host.ends_with('.') || !domain_name_valid(&host, false) {
        return false;
    }
    leaf.dns_names.iter().flatten().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        if pattern == host {
            return true;
        }
        match (pattern.strip_prefix("*."), host.split_once('.')) {
            (Some(rest), Some((first, host_rest))) => {
                !first.is_empty() && !rest.is_empty() && !rest.contains('*') && rest == host_rest
            }
            _ => false,
        }
    })
}

/// Go's `parseRFC2821Mailbox` as name constraints use it: whether `text` is a mailbox (a
/// dot-atom or quoted local part, `@`, a domain).
pub(crate) fn mailbox(text: &str) -> Option<()> {
    let domain = match text.strip_prefix('"') {
        Some(quoted) => {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in quoted.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, c) if !c.is_ascii() || c.is_ascii_control() => return None,
                    _ => {}
                }
            }
            let end = end?;
            quoted.get(end + 1..)?.strip_prefix('@')?
        }
        None => {
            let at = text.find(|c: char| {
                !(c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            })?;
            let local = text.get(..at)?;
            let bad_dots = local.starts_with('.') || local.ends_with('.') || local.contains("..");
            if local.is_empty() || bad_dots {
                return None;
            }
            text.get(at..)?.strip_prefix('@')?
        }
    };
    (!domain.is_empty() && domain_name_valid(domain, false)).then_some(())
}
