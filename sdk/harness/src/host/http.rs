//! Driving HTTP streams: headers, body chunks and trailers in both directions, with Envoy's buffering,
//! local-reply and failure-policy behaviour.

use crate::error::HarnessError;
use crate::headers::HeaderMap;
use crate::properties::{parse_dotted_path, PropertyValue};
use crate::state::ContextKind;
use crate::stream::{Action, HttpStream, RequestKind, StreamId};
use crate::vm::{Trapped, Vm};

use super::Host;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

enum Gate {
    Deliver,
    Skip,
    Ended,
}

type Invoke = Box<dyn FnOnce(&mut Vm, i32) -> Result<Option<i32>, Trapped>>;

fn forward(stream: &mut HttpStream, direction: Direction) {
    match direction {
        Direction::Request => {
            stream.request_paused = false;
            stream.request_headers_sent = true;
            let buffered = std::mem::take(&mut stream.request_body_buffered);
            stream.request_body.extend_from_slice(&buffered);
        }
        Direction::Response => {
            stream.response_paused = false;
            let buffered = std::mem::take(&mut stream.response_body_buffered);
            stream.response_body.extend_from_slice(&buffered);
        }
    }
}

impl Host {
    /// Opens an HTTP stream on the first plugin (`proxy_on_context_create`).
    pub fn new_http_stream(&mut self) -> Result<StreamId, HarnessError> {
        self.open_http_stream(0)
    }

    /// Opens an HTTP stream on the plugin with this root id.
    pub fn new_http_stream_for(&mut self, root_id: &str) -> Result<StreamId, HarnessError> {
        let index = self.plugin_index(root_id)?;
        self.open_http_stream(index)
    }

    fn open_http_stream(&mut self, index: usize) -> Result<StreamId, HarnessError> {
        let (context_id, root) = self.new_context(index)?;
        let generation = self.generation;
        let state = self.vm.state_mut();
        let allow_on_headers_stop_iteration = state
            .config
            .plugins
            .get(index)
            .is_some_and(|p| p.allow_on_headers_stop_iteration);
        let created_at = state.clock.now();
        state
            .contexts
            .insert(context_id, ContextKind::Http { root });
        state.streams.insert(
            context_id,
            HttpStream {
                context_id,
                root_context_id: root,
                request_headers: HeaderMap::new(),
                request_body: Vec::new(),
                request_body_buffered: Vec::new(),
                request_trailers: HeaderMap::new(),
                response_headers: HeaderMap::new(),
                response_body: Vec::new(),
                response_body_buffered: Vec::new(),
                response_trailers: HeaderMap::new(),
                local_reply: None,
                request_kind: RequestKind::default(),
                route_cache_cleared: 0,
                access_log_phase: false,
                request_paused: false,
                response_paused: false,
                request_resumed: 0,
                response_resumed: 0,
                request_headers_sent: false,
                request_stopped_all: false,
                reset: false,
                skipped: false,
                done: false,
                deleted: false,
                filter_state: Vec::new(),
                vm_generation: generation,
                created_at,
                allow_on_headers_stop_iteration,
                request_end_held: false,
                request_trailers_held: false,
                done_pending: false,
                properties: Vec::new(),
            },
        );
        if self.vm.failed {
            self.apply_failure(context_id);
        } else {
            let create = self.vm.callbacks.on_context_create.clone();
            let result = self
                .vm
                .call(create, context_id, (context_id as i32, root as i32));
            self.run_deferred();
            if result.is_err() {
                self.apply_trap(context_id);
            }
        }
        Ok(StreamId(context_id))
    }

    pub(super) fn stream_mut(&mut self, id: StreamId) -> Result<&mut HttpStream, HarnessError> {
        self.vm
            .state_mut()
            .streams
            .get_mut(&id.0)
            .ok_or(HarnessError::UnknownStream(id.0))
    }

    /// Sets a property only this stream sees, by its path's segments (a segment may hold dots:
    /// `&["filter_state", "my.key"]`), overriding host properties.
    pub fn set_stream_property_path(
        &mut self,
        id: StreamId,
        path: &[&str],
        value: impl Into<PropertyValue>,
    ) -> Result<(), HarnessError> {
        let path = path.iter().map(|s| s.to_string()).collect();
        self.stream_mut(id)?.properties.push((path, value.into()));
        Ok(())
    }

    /// Sets a property only this stream sees (e.g. `source.address`), overriding host properties.
    pub fn set_stream_property(
        &mut self,
        id: StreamId,
        path: &str,
        value: impl Into<PropertyValue>,
    ) -> Result<(), HarnessError> {
        self.stream_mut(id)?
            .properties
            .push((parse_dotted_path(path), value.into()));
        Ok(())
    }

    fn gate(&mut self, id: StreamId) -> Result<Gate, HarnessError> {
        let failed = self.vm.failed;
        let generation = self.generation;
        let stream = self.stream_mut(id)?;
        if stream.ended() || stream.deleted {
            return Ok(Gate::Ended);
        }
        if stream.skipped {
            return Ok(Gate::Skip);
        }
        if failed || stream.vm_generation != generation {
            self.apply_failure(id.0);
            let skipped = self.stream_mut(id)?.skipped;
            return Ok(if skipped { Gate::Skip } else { Gate::Ended });
        }
        Ok(Gate::Deliver)
    }

    /// One event: `prepare` stores the incoming data and returns the callback's size argument; `invoke`
    /// calls the plugin. Then the returned action decides whether buffered data goes on.
    fn http_event(
        &mut self,
        id: StreamId,
        direction: Direction,
        prepare: impl FnOnce(&mut HttpStream) -> i32,
        invoke: Invoke,
    ) -> Result<Action, HarnessError> {
        let gate = self.gate(id)?;
        if let Gate::Ended = gate {
            return Ok(Action::Ended);
        }
        let stream = self.stream_mut(id)?;
        let size = prepare(stream);
        if let Gate::Skip = gate {
            forward(stream, direction);
            return Ok(Action::Continue);
        }
        let result = invoke(&mut self.vm, size);
        self.run_deferred();
        let Ok(code) = result else {
            self.apply_trap(id.0);
            return Ok(Action::Ended);
        };
        let action = code.map_or(Action::Continue, Action::from_code);
        let stream = self.stream_mut(id)?;
        if !stream.ended() {
            match action {
                Action::Continue => forward(stream, direction),
                Action::Pause => match direction {
                    Direction::Request => stream.request_paused = true,
                    Direction::Response => stream.response_paused = true,
                },
                Action::Ended => {}
            }
        }
        Ok(action)
    }

    /// Delivers request headers (names lower-cased; include pseudo-headers such as `:method`, `:path`,
    /// `:authority`, `:scheme`) to `proxy_on_request_headers`.
    pub fn request_headers(
        &mut self,
        id: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        let map = HeaderMap::from_pairs(headers);
        let f = self.vm.callbacks.on_request_headers.clone();
        let ctx = id.0 as i32;
        let action = self.http_event(
            id,
            Direction::Request,
            move |s| {
                s.request_kind = RequestKind::of(&map);
                s.request_headers = map;
                s.request_headers.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n, i32::from(end_of_stream)))),
        )?;
        let stream = self.stream_mut(id)?;
        if action == Action::Pause && stream.request_paused && !stream.ended() {
            // Envoy's StopAllIterationAndWatermark, unless the plugin may stop the headers alone.
            stream.request_stopped_all = !stream.allow_on_headers_stop_iteration;
        }
        Ok(action)
    }

    /// Holds what arrives for a request stopped for all (body chunks, the end of the stream,
    /// trailers) instead of delivering it; `None` when the request is not stopped that way.
    fn hold_if_stopped_all(
        &mut self,
        id: StreamId,
        hold: impl FnOnce(&mut HttpStream),
    ) -> Result<Option<Action>, HarnessError> {
        let stream = self.stream_mut(id)?;
        if !stream.request_stopped_all || stream.ended() || stream.deleted {
            return Ok(None);
        }
        hold(stream);
        Ok(Some(Action::Pause))
    }

    /// Delivers a request body chunk to `proxy_on_request_body`. While the plugin pauses, chunks accumulate
    /// and each call sees the whole buffered body (Envoy's `StopIterationAndBuffer`).
    pub fn request_body(
        &mut self,
        id: StreamId,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        let held = self.hold_if_stopped_all(id, |s| {
            s.request_body_buffered.extend_from_slice(chunk);
            s.request_end_held = end_of_stream;
        })?;
        if let Some(action) = held {
            return Ok(action);
        }
        let f = self.vm.callbacks.on_request_body.clone();
        let ctx = id.0 as i32;
        self.http_event(
            id,
            Direction::Request,
            |s| {
                s.request_body_buffered.extend_from_slice(chunk);
                s.request_body_buffered.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n, i32::from(end_of_stream)))),
        )
    }

    /// Delivers request trailers to `proxy_on_request_trailers`.
    pub fn request_trailers(
        &mut self,
        id: StreamId,
        trailers: &[(&str, &str)],
    ) -> Result<Action, HarnessError> {
        let map = HeaderMap::from_pairs(trailers);
        let held = self.hold_if_stopped_all(id, |s| {
            s.request_trailers = map.clone();
            s.request_trailers_held = true;
        })?;
        if let Some(action) = held {
            return Ok(action);
        }
        let f = self.vm.callbacks.on_request_trailers.clone();
        let ctx = id.0 as i32;
        self.http_event(
            id,
            Direction::Request,
            move |s| {
                s.request_trailers = map;
                s.request_trailers.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n))),
        )
    }

    /// Delivers response headers (include `:status`) to `proxy_on_response_headers`. After a local reply
    /// the plugin does not see the upstream response: the result is [`Action::Ended`].
    pub fn response_headers(
        &mut self,
        id: StreamId,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        let map = HeaderMap::from_pairs(headers);
        let f = self.vm.callbacks.on_response_headers.clone();
        let ctx = id.0 as i32;
        self.http_event(
            id,
            Direction::Response,
            move |s| {
                s.response_headers = map;
                s.response_headers.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n, i32::from(end_of_stream)))),
        )
    }

    /// Delivers a response body chunk to `proxy_on_response_body` (buffered while paused, like requests).
    pub fn response_body(
        &mut self,
        id: StreamId,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<Action, HarnessError> {
        let f = self.vm.callbacks.on_response_body.clone();
        let ctx = id.0 as i32;
        self.http_event(
            id,
            Direction::Response,
            |s| {
                s.response_body_buffered.extend_from_slice(chunk);
                s.response_body_buffered.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n, i32::from(end_of_stream)))),
        )
    }

    /// Delivers response trailers to `proxy_on_response_trailers`.
    pub fn response_trailers(
        &mut self,
        id: StreamId,
        trailers: &[(&str, &str)],
    ) -> Result<Action, HarnessError> {
        let map = HeaderMap::from_pairs(trailers);
        let f = self.vm.callbacks.on_response_trailers.clone();
        let ctx = id.0 as i32;
        self.http_event(
            id,
            Direction::Response,
            move |s| {
                s.response_trailers = map;
                s.response_trailers.len() as i32
            },
            Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n))),
        )
    }

    /// Delivers what a request stopped for all held, once the plugin resumed it: the buffered body in
    /// one `proxy_on_request_body` (end of stream when the request ended without trailers), then the
    /// trailers, as Envoy's filter manager does when a filter continues after StopAllIteration.
    pub(crate) fn deliver_held_request(&mut self, context_id: u32) {
        let id = StreamId(context_id);
        let Ok(stream) = self.stream_mut(id) else {
            return;
        };
        let (body, end, trailers) = (
            !stream.request_body_buffered.is_empty(),
            stream.request_end_held,
            stream.request_trailers_held,
        );
        stream.request_end_held = false;
        stream.request_trailers_held = false;
        if body {
            let f = self.vm.callbacks.on_request_body.clone();
            let ctx = id.0 as i32;
            let end_of_stream = end && !trailers;
            let delivered = self.http_event(
                id,
                Direction::Request,
                |s| s.request_body_buffered.len() as i32,
                Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n, i32::from(end_of_stream)))),
            );
            if !matches!(delivered, Ok(Action::Continue)) {
                return;
            }
        }
        if trailers {
            let f = self.vm.callbacks.on_request_trailers.clone();
            let ctx = id.0 as i32;
            let _ = self.http_event(
                id,
                Direction::Request,
                |s| s.request_trailers.len() as i32,
                Box::new(move |vm, n| vm.call(f, ctx as u32, (ctx, n))),
            );
        }
    }

    /// Ends the stream as Envoy does: `proxy_on_log`, `proxy_on_done`, then `proxy_on_delete` (at once, or
    /// when the plugin calls `proxy_done` if `proxy_on_done` returned false).
    pub fn finish_stream(&mut self, id: StreamId) -> Result<(), HarnessError> {
        if self.stream_mut(id)?.deleted {
            return Ok(());
        }
        self.finish_context(id.0);
        Ok(())
    }

    /// The stream's current state.
    pub fn stream(&self, id: StreamId) -> Result<&HttpStream, HarnessError> {
        self.vm
            .state()
            .streams
            .get(&id.0)
            .ok_or(HarnessError::UnknownStream(id.0))
    }
}
