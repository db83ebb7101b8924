# OPA unit tests for policy.rego: `opa test .` and `palisade test` both run them (palisade through
# the rego-authz module, so with the filter's engine and builtins).
package envoy.authz_test

import rego.v1

import data.envoy.authz

request(method, path, role) := {"attributes": {"request": {"http": {
	"method": method,
	"path": path,
	"headers": {"x-role": role},
}}}}

test_public_pages_are_readable_by_anyone if {
	authz.allow.allowed with input as request("GET", "/public/pricing", "")
}

test_a_clerk_may_not_delete_an_order if {
	not authz.allow.allowed with input as request("DELETE", "/orders/7", "clerk")
}

test_the_role_is_passed_upstream if {
	decision := authz.allow with input as request("DELETE", "/orders/7", "admin")
	decision.headers["x-user-role"] == "admin"
}

test_grants_come_from_the_data if {
	authz.allow.allowed with input as request("PUT", "/orders/7", "auditor")
		with data.roles as {"auditor": [{"prefix": "/orders", "methods": ["PUT"]}]}
}
