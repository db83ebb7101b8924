//! Workspace-level tests. The test binaries are in `envoy/` (real Envoy end to end); this
//! library is empty on purpose.
