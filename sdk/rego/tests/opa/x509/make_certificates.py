"""Test certificates for crypto.x509.* (Python `cryptography`): `python3 make_certificates.py certs.json`,
then `python3 make_arguments.py certs.json` (beside v1.pem, a version-1 certificate from
`openssl x509 -req -signkey`) prints the builtins.yaml entries. Keys are random: a new run gives
new certificates, equally good."""
import datetime, ipaddress, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID, ObjectIdentifier
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, ed25519

def name(*pairs):
    return x509.Name([x509.NameAttribute(oid, v) for oid, v in pairs])

def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()

def keypem(key, fmt=serialization.PrivateFormat.PKCS8):
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()

t = datetime.datetime
now_old = t(2024, 1, 1, tzinfo=datetime.timezone.utc)
far = t(2124, 1, 1, tzinfo=datetime.timezone.utc)

root_key = ec.generate_private_key(ec.SECP384R1())
root_name = name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Palisade Test"), (NameOID.COMMON_NAME, "Palisade Test Root CA"))
root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
    .public_key(root_key.public_key()).serial_number(1).not_valid_before(now_old).not_valid_after(far)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
    .sign(root_key, hashes.SHA384()))

inter_key = rsa.generate_private_key(65537, 2048)
inter_name = name((NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "California"), (NameOID.LOCALITY_NAME, "San Francisco"),
    (NameOID.ORGANIZATION_NAME, "Palisade Test"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Mesh"), (NameOID.COMMON_NAME, "Palisade Intermediate"))
inter = (x509.CertificateBuilder().subject_name(inter_name).issuer_name(root_name)
    .public_key(inter_key.public_key()).serial_number(0x1000).not_valid_before(now_old).not_valid_after(far)
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    .add_extension(x509.NameConstraints(permitted_subtrees=[x509.DNSName("svc"), x509.DNSName(".example.com"), x509.IPAddress(ipaddress.ip_network("10.0.0.0/8")), x509.IPAddress(ipaddress.ip_network("2001:db8::/32")), x509.UniformResourceIdentifier("cluster.local"), x509.RFC822Name("example.com")],
                                            excluded_subtrees=[x509.DNSName("bad.example.com")]), critical=False)
    .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier("http://crl.example.com/root.crl")], None, None, None)]), critical=False)
    .add_extension(x509.AuthorityInformationAccess([
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.example.com")),
        x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca.example.com/root.der"))]), critical=False)
    .add_extension(x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier("2.23.140.1.2.1"), None), x509.PolicyInformation(ObjectIdentifier("1.3.6.1.4.1.99999.1"), None)]), critical=False)
    .sign(root_key, hashes.SHA384()))

leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf_name = x509.Name([x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Palisade Test")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "frontend"), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "mesh")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "frontend.default.svc")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.SERIAL_NUMBER, "42")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.STREET_ADDRESS, "1 Main St")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.POSTAL_CODE, "94000")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example")])])
leaf = (x509.CertificateBuilder().subject_name(leaf_name).issuer_name(inter_name)
    .public_key(leaf_key.public_key()).serial_number(0x0123456789abcdef0123456789abcdef01)
    .not_valid_before(t(2024, 6, 1, 12, 30, 45, tzinfo=datetime.timezone.utc)).not_valid_after(t(2099, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc))
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, ObjectIdentifier("1.3.6.1.4.1.99999.7")]), critical=False)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()), critical=False)
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("frontend.default.svc"), x509.DNSName("api.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.1.2.3")), x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/frontend"),
        x509.UniformResourceIdentifier("https://user:pw@example.com:8443/a%20b/c?q=1&r=%2F#frag"),
        x509.RFC822Name("ops@example.com")]), critical=False)
    .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.42"), b"\x04\x03abc"), critical=False)
    .sign(inter_key, hashes.SHA256()))

expired_key = rsa.generate_private_key(3, 2048)
expired = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "expired.example.com"))).issuer_name(root_name)
    .public_key(expired_key.public_key()).serial_number(7).not_valid_before(t(2020,1,1,tzinfo=datetime.timezone.utc)).not_valid_after(t(2020,2,1,tzinfo=datetime.timezone.utc))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("expired.example.com")]), critical=False)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .sign(root_key, hashes.SHA384()))

future = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "future.example.com"))).issuer_name(inter_name)
    .public_key(leaf_key.public_key()).serial_number(8).not_valid_before(t(2090,1,1,tzinfo=datetime.timezone.utc)).not_valid_after(t(2100,2,1,tzinfo=datetime.timezone.utc))
    .add_extension(x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.43"), b"\x05\x00"), critical=True)
    .sign(inter_key, hashes.SHA512()))

ed_key = ed25519.Ed25519PrivateKey.generate()
ed = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "ed25519 self-signed"))).issuer_name(name((NameOID.COMMON_NAME, "ed25519 self-signed")))
    .public_key(ed_key.public_key()).serial_number(3).not_valid_before(now_old).not_valid_after(far)
    .sign(ed_key, None))

p521_key = ec.generate_private_key(ec.SECP521R1())
p521 = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "p521"))).issuer_name(name((NameOID.COMMON_NAME, "p521")))
    .public_key(p521_key.public_key()).serial_number(2**159 - 1).not_valid_before(now_old).not_valid_after(far)
    .sign(p521_key, hashes.SHA512()))

out = {k: pem(v) for k, v in dict(root=root, inter=inter, leaf=leaf, expired=expired, future=future, ed=ed, p521=p521).items()}
out["leaf_key_pkcs8"] = keypem(leaf_key)
out["leaf_key_sec1"] = keypem(leaf_key, serialization.PrivateFormat.TraditionalOpenSSL)
out["inter_key_pkcs1"] = keypem(inter_key, serialization.PrivateFormat.TraditionalOpenSSL)
out["inter_key_pkcs8"] = keypem(inter_key)
out["ed_key"] = keypem(ed_key)
csr = (x509.CertificateSigningRequestBuilder().subject_name(leaf_name)
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("frontend.default.svc"), x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/frontend"), x509.IPAddress(ipaddress.ip_address("10.1.2.3"))]), critical=False)
    .sign(leaf_key, hashes.SHA256()))
out["csr"] = csr.public_bytes(serialization.Encoding.PEM).decode()
json.dump(out, open(sys.argv[1], "w"), indent=1)

# ---- more: a chain without name constraints, odd key types, malformed inputs ----
from cryptography.hazmat.primitives.asymmetric import dsa, x25519, padding
inter2_key = rsa.generate_private_key(65537, 2048)
inter2_name = name((NameOID.ORGANIZATION_NAME, "Palisade Test"), (NameOID.COMMON_NAME, "Palisade Mesh CA"))
inter2 = (x509.CertificateBuilder().subject_name(inter2_name).issuer_name(root_name)
    .public_key(inter2_key.public_key()).serial_number(0x2000).not_valid_before(now_old).not_valid_after(far)
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter2_key.public_key()), critical=False)
    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    .sign(root_key, hashes.SHA384()))
def workload(cn, spiffe, ekus, key, issuer_key, issuer_name, serial, algo=hashes.SHA256()):
    b = (x509.CertificateBuilder().subject_name(name((NameOID.ORGANIZATION_NAME, "Palisade Test"), (NameOID.COMMON_NAME, cn))).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(serial).not_valid_before(now_old).not_valid_after(t(2099,1,1,tzinfo=datetime.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn), x509.UniformResourceIdentifier(spiffe)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if ekus:
        b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return b.sign(issuer_key, algo)
mesh_key = ec.generate_private_key(ec.SECP256R1())
mesh_leaf = workload("payments.prod.svc", "spiffe://cluster.local/ns/prod/sa/payments", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], mesh_key, inter2_key, inter2_name, 0x3001)
client_leaf = workload("client.prod.svc", "spiffe://cluster.local/ns/prod/sa/client", [ExtendedKeyUsageOID.CLIENT_AUTH], mesh_key, inter2_key, inter2_name, 0x3002)
direct_leaf = workload("direct.example.com", "spiffe://example.com/direct", None, ec.generate_private_key(ec.SECP384R1()), root_key, root_name, 0x3003, hashes.SHA384())
out["inter2"] = pem(inter2); out["mesh_leaf"] = pem(mesh_leaf); out["client_leaf"] = pem(client_leaf); out["direct_leaf"] = pem(direct_leaf)

p224_key = ec.generate_private_key(ec.SECP224R1())
p224 = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "p224"))).issuer_name(name((NameOID.COMMON_NAME, "p224")))
    .public_key(p224_key.public_key()).serial_number(9).not_valid_before(now_old).not_valid_after(far).sign(p224_key, hashes.SHA256()))
dsa_key = dsa.generate_private_key(2048)
dsa_cert = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "dsa"))).issuer_name(name((NameOID.COMMON_NAME, "dsa")))
    .public_key(dsa_key.public_key()).serial_number(10).not_valid_before(now_old).not_valid_after(far).sign(dsa_key, hashes.SHA256()))
pss_key = rsa.generate_private_key(65537, 2048)
pss = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "pss"))).issuer_name(name((NameOID.COMMON_NAME, "pss")))
    .public_key(pss_key.public_key()).serial_number(11).not_valid_before(now_old).not_valid_after(far)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(pss_key, hashes.SHA256(), rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)))
x_key = x25519.X25519PrivateKey.generate()
xcert = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "x25519"))).issuer_name(root_name)
    .public_key(x_key.public_key()).serial_number(12).not_valid_before(now_old).not_valid_after(far).sign(root_key, hashes.SHA384()))
odd_names = (x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bmp ünï", _type=x509.name._ASN1Type.BMPString),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "t61", _type=x509.name._ASN1Type.T61String),
                             x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "second cn"),
                             x509.NameAttribute(ObjectIdentifier("1.3.6.1.4.1.99999.5"), "custom")]))
    .issuer_name(root_name).public_key(mesh_key.public_key()).serial_number(13).not_valid_before(t(1999,1,1,tzinfo=datetime.timezone.utc)).not_valid_after(t(2060,1,1,tzinfo=datetime.timezone.utc))
    .add_extension(x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=2), critical=True)
    .add_extension(x509.InhibitAnyPolicy(1), critical=False)
    .add_extension(x509.SubjectAlternativeName([x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.99999.9"), b"\x0c\x01x"), x509.RegisteredID(ObjectIdentifier("1.2.3.4"))]), critical=True)
    .sign(root_key, hashes.SHA384()))
out["p224"] = pem(p224); out["dsa"] = pem(dsa_cert); out["pss"] = pem(pss); out["x25519"] = pem(xcert); out["odd_names"] = pem(odd_names)
json.dump(out, open(sys.argv[1], "w"), indent=1)

# SAN URIs as Go's net/url reads them (printed for builtins.yaml, one argument list a line).
for uri in ["spiffe://a:1:2/x", "http://[::1]:80/p", "http://[1.2.3.4]/", "urn:x:y", "spiffe://ns/a%2Fb",
            "http://h/?", "http://h/a#b%20c", "mailto:a@b", "http://u@h/", "//h/p", "/rel"]:
    c = (x509.CertificateBuilder().subject_name(name((NameOID.COMMON_NAME, "u"))).issuer_name(name((NameOID.COMMON_NAME, "u")))
        .public_key(mesh_key.public_key()).serial_number(1).not_valid_before(now_old).not_valid_after(far)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False).sign(mesh_key, hashes.SHA256()))
    print("  - " + json.dumps([pem(c)]))

# Certificate signing requests (printed for builtins.yaml).
from cryptography.x509.oid import AttributeOID
def csr_pem(builder, key, algo=hashes.SHA256()):
    return builder.sign(key, algo).public_bytes(serialization.Encoding.PEM).decode()
requests = [
    out["csr"],
    csr_pem(x509.CertificateSigningRequestBuilder().subject_name(name((NameOID.COMMON_NAME, "rsa request"), (NameOID.COUNTRY_NAME, "FR")))
        .add_attribute(AttributeOID.CHALLENGE_PASSWORD, b"secret")
        .add_attribute(AttributeOID.UNSTRUCTURED_NAME, b"unstructured")
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("a@example.com"), x509.IPAddress(ipaddress.ip_address("2001:db8::2"))]), critical=False),
        inter2_key),
    csr_pem(x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])), ed_key, None),
    csr_pem(x509.CertificateSigningRequestBuilder().subject_name(name((NameOID.COMMON_NAME, "p384"))), root_key, hashes.SHA384()),
]
import base64 as _b64
def _der(p):
    return _b64.b64decode("".join(l for l in p.strip().splitlines() if not l.startswith("-----")))
args = [[r] for r in requests]
args += [[_b64.b64encode(requests[0].encode()).decode()], [_b64.b64encode(_der(requests[1])).decode()],
         [out["leaf"]], [requests[0].replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")],
         [_b64.b64encode(_der(requests[0]) + b"\x00").decode()], [_b64.b64encode(_der(requests[0])[:-5]).decode()], ["not base64"]]
print("crypto.x509.parse_certificate_request:")
for a in args:
    print("  - " + json.dumps(a))
