# Role-based access for an orders API, in OPA-Envoy's form: anyone may read the public pages,
# roles from data.json grant methods on path prefixes, and a denial says why in its body.
package envoy.authz

import rego.v1

role := input.attributes.request.http.headers["x-role"]

method := input.attributes.request.http.method

path := input.attributes.request.http.path

public_read if {
	method == "GET"
	glob.match("/public/*", ["/"], path)
}

granted if {
	some grant in data.roles[role]
	method in grant.methods
	startswith(path, grant.prefix)
}

default allow := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "text/plain"},
	"body": "forbidden: no role grants this request\n",
}

allow := {"allowed": true} if public_read

# The upstream learns which role let the request through (a client's own x-user-role is replaced).
allow := {"allowed": true, "headers": {"x-user-role": role}} if {
	not public_read
	granted
}
