# OPA unit tests for policy.rego: `palisade test` runs them through the filter's own engine, and
# `opa test .` runs them in OPA.
package envoy.authz_test

import rego.v1

import data.envoy.authz

request(method, headers) := {"attributes": {"request": {"http": {
	"method": method,
	"path": "/items/1",
	"headers": headers,
}}}}

test_anyone_may_read if {
	authz.allow.allowed with input as request("GET", {})
}

test_a_writer_may_delete_and_is_named_upstream if {
	decision := authz.allow with input as request("DELETE", {"x-user": "alice"})
	decision.allowed
	decision.headers["x-writer"] == "alice"
}

test_others_may_not_write if {
	not authz.allow.allowed with input as request("POST", {"x-user": "mallory"})
}

test_writers_come_from_the_data if {
	authz.allow.allowed with input as request("PUT", {"x-user": "bob"})
		with data.writers as ["bob"]
}
