# {{NAME}}: who may do what, decided inside Envoy by rego-authz on OPA-Envoy's input document
# (the same policy runs in OPA-Envoy unchanged).
package envoy.authz

import rego.v1

http := input.attributes.request.http

# Denied unless a rule below allows; the denial says why.
default allow := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "text/plain"},
	"body": "forbidden\n",
}

# Anyone may read.
allow := {"allowed": true} if http.method in {"GET", "HEAD"}

# Writers (data.json) may change things; the upstream learns who it was. The user comes from a
# header here to keep the example short: in production take it from a verified token
# (io.jwt.decode_verify) or from Envoy's jwt_authn filter's metadata.
allow := {"allowed": true, "headers": {"x-writer": user}} if {
	http.method in {"POST", "PUT", "PATCH", "DELETE"}
	user := http.headers["x-user"]
	user in data.writers
}
