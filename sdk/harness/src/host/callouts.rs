//! Answering what the plugin dispatched: HTTP callouts, gRPC calls and streams; and calling the plugin's
//! `proxy_on_foreign_function`.

use crate::callout::{CalloutState, GrpcCall, HttpCallout, HttpResponse};
use crate::error::HarnessError;
use crate::headers::HeaderMap;
use crate::state::CallbackScope;
use crate::vm::{Trapped, Vm};

use super::Host;

/// gRPC status `DEADLINE_EXCEEDED`, what Envoy reports when a call times out.
pub(super) const GRPC_DEADLINE_EXCEEDED: u32 = 4;

impl Host {
    /// Every HTTP callout the plugin made, in dispatch order.
    pub fn http_callouts(&self) -> Vec<&HttpCallout> {
        self.vm.state().http_callouts.values().collect()
    }

    /// The HTTP callouts still waiting for an answer.
    pub fn pending_http_callouts(&self) -> Vec<&HttpCallout> {
        self.vm
            .state()
            .http_callouts
            .values()
            .filter(|c| c.state == CalloutState::Pending)
            .collect()
    }

    /// The HTTP callout with this token.
    pub fn http_callout(&self, token: u32) -> Option<&HttpCallout> {
        self.vm.state().http_callouts.get(&token)
    }

    /// Answers an HTTP callout: `proxy_on_http_call_response` with the response's headers, body, trailers.
    pub fn respond_http_callout(
        &mut self,
        token: u32,
        response: HttpResponse,
    ) -> Result<(), HarnessError> {
        self.deliver_http_response(token, Some(response), CalloutState::Answered)
    }

    /// Answers every HTTP callout pending now with `response`, in dispatch order, and returns them
    /// as they were sent. Callouts the plugin makes while being answered stay pending.
    pub fn respond_pending_http_callouts(
        &mut self,
        response: &HttpResponse,
    ) -> Result<Vec<HttpCallout>, HarnessError> {
        let pending: Vec<HttpCallout> = self.pending_http_callouts().into_iter().cloned().collect();
        for callout in &pending {
            self.respond_http_callout(callout.token, response.clone())?;
        }
        Ok(pending)
    }

    /// Fails an HTTP callout as Envoy does when its stream is reset (or the response exceeds the
    /// buffer limit): `proxy_on_http_call_response` with 0 headers and no body. A refused
    /// connection is no failure in Envoy: see [`Host::refuse_http_callout`].
    pub fn fail_http_callout(&mut self, token: u32) -> Result<(), HarnessError> {
        self.deliver_http_response(token, None, CalloutState::Failed)
    }

    /// Answers an HTTP callout as Envoy does when the cluster's endpoint refuses the connection:
    /// its router's local reply, a 503 with a text body ([`HttpResponse::connection_refused`]).
    pub fn refuse_http_callout(&mut self, token: u32) -> Result<(), HarnessError> {
        self.deliver_http_response(
            token,
            Some(HttpResponse::connection_refused()),
            CalloutState::Answered,
        )
    }

    pub(super) fn deliver_http_response(
        &mut self,
        token: u32,
        response: Option<HttpResponse>,
        new_state: CalloutState,
    ) -> Result<(), HarnessError> {
        let callout = self
            .vm
            .state_mut()
            .http_callouts
            .get_mut(&token)
            .ok_or(HarnessError::UnknownCallout(token))?;
        if callout.state != CalloutState::Pending {
            return Err(HarnessError::CalloutNotPending(token));
        }
        callout.state = new_state;
        let ctx = callout.root_context_id;
        let status = match &response {
            Some(r) => (
                r.headers
                    .get(":status")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                Vec::new(),
            ),
            None => (0, b"callout failed".to_vec()),
        };
        let response = response.unwrap_or_default();
        let counts = (
            response.headers.len() as i32,
            response.body.len() as i32,
            response.trailers.len() as i32,
        );
        let scope = CallbackScope {
            http_response: Some(response),
            status: Some(status),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_http_call_response.clone();
        self.callback_in_scope(ctx, scope, move |vm| {
            vm.call(
                f,
                ctx,
                (ctx as i32, token as i32, counts.0, counts.1, counts.2),
            )
            .map(|_| ())
        });
        Ok(())
    }

    /// Runs a callback for `ctx` with scoped data readable, unless the context is gone or the VM failed;
    /// a trap applies the failure policy to the context the plugin was acting for (the stream an SDK
    /// made effective to handle a root context's callout response).
    fn callback_in_scope(
        &mut self,
        ctx: u32,
        scope: CallbackScope,
        invoke: impl FnOnce(&mut Vm) -> Result<(), Trapped>,
    ) {
        let live = !self.vm.failed && self.context_generation(ctx) == Some(self.generation);
        if !live {
            return;
        }
        self.vm.state_mut().scope = scope;
        let result = invoke(&mut self.vm);
        let acting_for = self.vm.state().effective_context;
        self.vm.state_mut().scope = CallbackScope::default();
        self.run_deferred();
        if result.is_err() {
            self.apply_trap(acting_for);
        }
    }

    /// Every gRPC call and stream the plugin opened, in order.
    pub fn grpc_calls(&self) -> Vec<&GrpcCall> {
        self.vm.state().grpc_calls.values().collect()
    }

    /// The gRPC call or stream with this token.
    pub fn grpc_call(&self, token: u32) -> Option<&GrpcCall> {
        self.vm.state().grpc_calls.get(&token)
    }

    fn open_grpc(&self, token: u32) -> Result<u32, HarnessError> {
        let call = self
            .vm
            .state()
            .grpc_calls
            .get(&token)
            .ok_or(HarnessError::UnknownGrpcCall(token))?;
        if call.state != CalloutState::Pending {
            return Err(HarnessError::GrpcCallNotOpen(token));
        }
        Ok(call.root_context_id)
    }

    /// Sends initial metadata: `proxy_on_grpc_receive_initial_metadata`.
    pub fn grpc_initial_metadata(
        &mut self,
        token: u32,
        metadata: &[(&str, &str)],
    ) -> Result<(), HarnessError> {
        let ctx = self.open_grpc(token)?;
        let metadata = HeaderMap::from_pairs(metadata);
        let n = metadata.len() as i32;
        let scope = CallbackScope {
            grpc_initial_metadata: Some(metadata),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_grpc_receive_initial_metadata.clone();
        self.callback_in_scope(ctx, scope, move |vm| {
            vm.call(f, ctx, (ctx as i32, token as i32, n)).map(|_| ())
        });
        Ok(())
    }

    /// Sends a response message: `proxy_on_grpc_receive`.
    pub fn grpc_message(&mut self, token: u32, message: &[u8]) -> Result<(), HarnessError> {
        let ctx = self.open_grpc(token)?;
        let n = message.len() as i32;
        let scope = CallbackScope {
            grpc_message: Some(message.to_vec()),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_grpc_receive.clone();
        self.callback_in_scope(ctx, scope, move |vm| {
            vm.call(f, ctx, (ctx as i32, token as i32, n)).map(|_| ())
        });
        Ok(())
    }

    /// Sends trailing metadata: `proxy_on_grpc_receive_trailing_metadata`.
    pub fn grpc_trailing_metadata(
        &mut self,
        token: u32,
        metadata: &[(&str, &str)],
    ) -> Result<(), HarnessError> {
        let ctx = self.open_grpc(token)?;
        let metadata = HeaderMap::from_pairs(metadata);
        let n = metadata.len() as i32;
        let scope = CallbackScope {
            grpc_trailing_metadata: Some(metadata),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_grpc_receive_trailing_metadata.clone();
        self.callback_in_scope(ctx, scope, move |vm| {
            vm.call(f, ctx, (ctx as i32, token as i32, n)).map(|_| ())
        });
        Ok(())
    }

    /// Closes the call or stream with a gRPC status: `proxy_on_grpc_close` (the message is what
    /// `proxy_get_status` returns).
    pub fn grpc_close(
        &mut self,
        token: u32,
        status: u32,
        message: &str,
    ) -> Result<(), HarnessError> {
        let ctx = self.open_grpc(token)?;
        self.close_grpc(token, ctx, status, message, CalloutState::Answered);
        Ok(())
    }

    pub(super) fn close_grpc(
        &mut self,
        token: u32,
        ctx: u32,
        status: u32,
        message: &str,
        new_state: CalloutState,
    ) {
        if let Some(call) = self.vm.state_mut().grpc_calls.get_mut(&token) {
            call.state = new_state;
        }
        let scope = CallbackScope {
            status: Some((status, message.as_bytes().to_vec())),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_grpc_close.clone();
        self.callback_in_scope(ctx, scope, move |vm| {
            vm.call(f, ctx, (ctx as i32, token as i32, status as i32))
                .map(|_| ())
        });
    }

    /// Calls the plugin's `proxy_on_foreign_function` on its root context, with `arguments` readable as
    /// `FOREIGN_FUNCTION_ARGUMENTS`.
    pub fn call_plugin_foreign_function(
        &mut self,
        root_id: &str,
        function_id: u32,
        arguments: &[u8],
    ) -> Result<(), HarnessError> {
        let root = self.root_context_of(root_id)?;
        let n = arguments.len() as i32;
        let scope = CallbackScope {
            foreign_arguments: Some(arguments.to_vec()),
            ..CallbackScope::default()
        };
        let f = self.vm.callbacks.on_foreign_function.clone();
        self.callback_in_scope(root, scope, move |vm| {
            vm.call(f, root, (root as i32, function_id as i32, n))
                .map(|_| ())
        });
        Ok(())
    }
}
