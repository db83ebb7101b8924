"""Writes the crypto.x509.* arguments of builtins.yaml from certs.json (gen.py's output)."""
import base64, json, sys
d = json.load(open(sys.argv[1]))
d["v1"] = open("v1.pem").read()

def der(p):
    body = "".join(l for l in p.strip().splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)

def b64(b):
    return base64.b64encode(b).decode()

order = ["root", "inter", "leaf", "expired", "future", "ed", "p521", "p224", "dsa", "pss", "x25519",
         "odd_names", "inter2", "mesh_leaf", "client_leaf", "direct_leaf", "v1"]
lines = []
def anchor(k):
    return f"pem-{k.replace('_', '-')}"
lines.append("# crypto.x509.*: PEM written by tests/opa/x509/make_certificates.py (see its header).")
lines.append("crypto.x509.parse_certificates:")
for k in order:
    text = d[k]
    lines.append(f"  - - |\n" + "\n".join("      " + l for l in text.rstrip("\n").splitlines()))
parse = []
leaf_chain = d["root"] + d["inter"] + d["leaf"]
parse += [
    [leaf_chain],
    [b64(leaf_chain.encode())],
    [b64(der(d["leaf"]))],
    [b64(der(d["inter"]) + der(d["leaf"]))],
    [b64(der(d["leaf"]) + b"\x00")],
    [b64(der(d["leaf"])[:-10])],
    ["junk before\n" + d["leaf"]],
    [d["leaf"] + "junk after"],
    [d["leaf"].replace("\n", "\r\n")],
    ["-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"],
    ["-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"],
    ["-----BEGIN garbage"],
    [d["leaf_key_pkcs8"]],
    [d["leaf"] + d["leaf_key_pkcs8"]],
    [d["csr"]],
    [b64(der(d["leaf"])).replace("A", "B", 1)],
]
# A certificate whose signature algorithms differ, and one with a flipped byte in the middle.
raw = bytearray(der(d["expired"]))
pos = raw.find(bytes.fromhex("2a864886f70d01010c"))
raw[pos + 8] = 0x0b
parse.append([b64(bytes(raw))])
raw = bytearray(der(d["leaf"])); raw[len(raw)//2] ^= 0xff
parse.append([b64(bytes(raw))])
for args in parse:
    lines.append("  - " + json.dumps(args))

def chain(*ks):
    return "".join(d[k] for k in ks)
verify = [
    chain("root", "inter2", "mesh_leaf"),
    chain("root", "inter2", "client_leaf"),
    chain("root", "direct_leaf"),
    chain("root", "inter", "leaf"),
    chain("root", "expired"),
    chain("root", "future"),
    chain("mesh_leaf", "inter2", "root"),
    chain("root", "inter2", "inter", "mesh_leaf"),
    chain("root", "inter", "inter2", "mesh_leaf"),
    chain("inter2", "mesh_leaf"),
    chain("root", "mesh_leaf"),
    chain("root"),
    chain("ed", "ed"),
    chain("pss", "pss"),
    chain("root", "root"),
    chain("root", "x25519"),
    chain("root", "odd_names"),
    b64(chain("root", "inter2", "mesh_leaf").encode()),
    b64(der(d["root"]) + der(d["inter2"]) + der(d["mesh_leaf"])),
    "not a chain",
]
lines.append("crypto.x509.parse_and_verify_certificates:")
for v in verify:
    lines.append("  - " + json.dumps([v]))
lines.append("crypto.x509.parse_and_verify_certificates_with_options:")
jan2020 = 1579046400 * 10**9
options = [
    (chain("root", "inter2", "mesh_leaf"), {}),
    (chain("root", "inter2", "mesh_leaf"), {"DNSName": "payments.prod.svc"}),
    (chain("root", "inter2", "mesh_leaf"), {"DNSName": "PAYMENTS.prod.svc"}),
    (chain("root", "inter2", "mesh_leaf"), {"DNSName": "other.prod.svc"}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": ["KeyUsageClientAuth"]}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": ["KeyUsageServerAuth"]}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": ["KeyUsageAny"]}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": ["KeyUsageCodeSigning", "KeyUsageClientAuth"]}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": ["Bogus"]}),
    (chain("root", "inter2", "client_leaf"), {"KeyUsages": "KeyUsageAny"}),
    (chain("root", "expired"), {"CurrentTime": jan2020}),
    (chain("root", "expired"), {"CurrentTime": jan2020, "KeyUsages": ["KeyUsageServerAuth"], "DNSName": "expired.example.com"}),
    (chain("root", "expired"), {"CurrentTime": 0}),
    (chain("root", "inter2", "mesh_leaf"), {"CurrentTime": "now"}),
    (chain("root", "inter2", "mesh_leaf"), {"MaxConstraintComparisons": 10}),
    (chain("root", "inter2", "mesh_leaf"), {"Unknown": 1}),
    ("not a chain", {"Unknown": 1}),
    (chain("root", "direct_leaf"), {"DNSName": "*.example.com"}),
]
for c, o in options:
    lines.append("  - " + json.dumps([c, o]))
print("\n".join(lines))
