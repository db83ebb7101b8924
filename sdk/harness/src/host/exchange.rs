//! The front door: one request from a client, through the filter, to the upstream and back, with
//! the callouts it makes answered by their clusters, as one Envoy stream.

use std::time::Duration;

use crate::client::ClientRequest;
use crate::error::HarnessError;
use crate::headers::HeaderMap;
use crate::stream::StreamId;
use crate::upstream::{ClientResponse, Cluster, Exchange, ReceivedRequest, UpstreamResponse};

use super::Host;

/// Virtual time per step while a paused request or response waits to be resumed.
const WAIT_STEP: Duration = Duration::from_millis(10);
/// How long a paused request or response may wait to be resumed before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(2);
/// The route timeout Envoy's router announces to the upstream by default.
const ROUTE_TIMEOUT_MS: &str = "15000";

impl Host {
    /// Runs `request` as Envoy runs a client's request, on a new stream of the first plugin:
    /// the headers as the connection manager presents them ([`ClientRequest::presented_headers`]),
    /// the body as the HTTP/1 codec hands it over (each piece, then the end of the message as an
    /// empty piece with end of stream, or the trailers), callouts answered by the clusters the
    /// builder named ([`HostBuilder::cluster`](super::HostBuilder::cluster)), virtual time passing
    /// while the filter holds the request or the response (up to 2 s), the request forwarded to
    /// the upstream ([`HostBuilder::upstream`](super::HostBuilder::upstream)) once the filter lets
    /// it go, and the upstream's response back through the filter. The stream then ends
    /// (`proxy_on_log`, `proxy_on_done`, `proxy_on_delete`); callouts still in flight are answered
    /// after that, as their responses reach Envoy after the stream is gone.
    ///
    /// A filter that holds the request or the response for good is an error
    /// ([`HarnessError::Hung`]), as the client would wait for ever.
    pub fn client_request(&mut self, request: &ClientRequest) -> Result<Exchange, HarnessError> {
        let s = self.new_http_stream()?;
        for (path, value) in [
            ("source.address", "127.0.0.1:40000".into()),
            ("source.port", crate::PropertyValue::Int(40000)),
            ("destination.address", "127.0.0.1:10000".into()),
            ("destination.port", crate::PropertyValue::Int(10000)),
        ] {
            self.set_stream_property(s, path, value)?;
        }
        let request_id = format!("00000000-0000-4000-8000-{:012}", s.0);
        let headers = request.presented_headers(&request_id);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut forwarded = None;
        let ends_with_headers = request.body.is_empty() && request.trailers.is_empty();
        self.request_headers(s, &pairs, ends_with_headers)?;
        self.step(s, &mut forwarded)?;
        if !ends_with_headers {
            let end = request.trailers.is_empty().then_some(Vec::new());
            let pieces: Vec<&Vec<u8>> = request.body.iter().chain(end.as_ref()).collect();
            for (i, piece) in pieces.iter().enumerate() {
                let end_of_stream = end.is_some() && i + 1 == pieces.len();
                self.request_body(s, piece, end_of_stream)?;
                self.step(s, &mut forwarded)?;
            }
            if !request.trailers.is_empty() {
                let trailers: Vec<(&str, &str)> = request
                    .trailers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.request_trailers(s, &trailers)?;
                self.step(s, &mut forwarded)?;
            }
        }
        self.wait_while(s, |stream| stream.request_paused, &mut forwarded)?;
        let upstream = match forwarded {
            Some(headers) => Some(self.received(s, headers)?),
            None => None,
        };
        if let (Some(received), false) = (&upstream, self.stream(s)?.ended()) {
            let mut response = match self.config().upstream.clone() {
                Some(upstream) => upstream(received),
                None => UpstreamResponse::new(200),
            };
            // The response to a HEAD request has no body, whatever the upstream sends (its
            // length stays in `content-length`): Envoy's HTTP/1 codec ends the message with its
            // headers.
            if request.method.eq_ignore_ascii_case("HEAD") {
                let length: usize = response.body.iter().map(Vec::len).sum();
                if !response
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                {
                    response = response.header("content-length", &length.to_string());
                }
                response.body.clear();
            }
            self.respond(s, &response)?;
        }
        let response = self.client_response(s)?;
        self.finish_stream(s)?;
        self.answer_callouts()?;
        Ok(Exchange {
            stream: s,
            upstream,
            response,
        })
    }

    /// After an event: answers callouts, and notes the request headers the first time they leave
    /// the filter.
    fn step(&mut self, s: StreamId, forwarded: &mut Option<HeaderMap>) -> Result<(), HarnessError> {
        self.answer_callouts()?;
        let stream = self.stream(s)?;
        if forwarded.is_none() && !stream.ended() && !stream.request_paused {
            *forwarded = Some(stream.request_headers.clone());
        }
        Ok(())
    }

    /// Lets virtual time pass while `held` says the filter holds the stream (a tick or a callout
    /// may resume it); an error if it still does after [`PATIENCE`].
    fn wait_while(
        &mut self,
        s: StreamId,
        held: fn(&crate::HttpStream) -> bool,
        forwarded: &mut Option<HeaderMap>,
    ) -> Result<(), HarnessError> {
        let until = self.elapsed() + PATIENCE;
        while held(self.stream(s)?) && !self.stream(s)?.ended() && self.elapsed() < until {
            self.advance_time(WAIT_STEP)?;
            self.step(s, forwarded)?;
        }
        let stream = self.stream(s)?;
        if held(stream) && !stream.ended() {
            let waiting: Vec<String> = self
                .pending_http_callouts()
                .iter()
                .map(|c| format!("a callout to {}", c.upstream))
                .collect();
            return Err(HarnessError::Hung(match waiting.is_empty() {
                true => "nothing resumed it".to_string(),
                false => format!(
                    "it waits for {}, which no cluster answers",
                    waiting.join(", ")
                ),
            }));
        }
        Ok(())
    }

    /// The request as the upstream gets it: the headers as they left the filter, with what
    /// Envoy's router adds (to the stream's own map too, where `proxy_on_log` sees it), and the
    /// body and trailers that went on.
    fn received(
        &mut self,
        s: StreamId,
        mut headers: HeaderMap,
    ) -> Result<ReceivedRequest, HarnessError> {
        headers.add("x-envoy-expected-rq-timeout-ms", ROUTE_TIMEOUT_MS);
        self.stream_mut(s)?
            .request_headers
            .add("x-envoy-expected-rq-timeout-ms", ROUTE_TIMEOUT_MS);
        let stream = self.stream(s)?;
        Ok(ReceivedRequest {
            headers,
            body: stream.request_body.clone(),
            trailers: stream.request_trailers.clone(),
        })
    }

    /// The upstream's response through the filter: headers, each piece of body, then trailers or
    /// the end of the message as an empty piece; virtual time passes while the filter holds it.
    fn respond(&mut self, s: StreamId, response: &UpstreamResponse) -> Result<(), HarnessError> {
        let headers = response.presented_headers();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ends_with_headers = response.body.is_empty() && response.trailers.is_empty();
        let mut unused = Some(HeaderMap::new());
        self.response_headers(s, &pairs, ends_with_headers)?;
        self.step(s, &mut unused)?;
        for piece in &response.body {
            if self.stream(s)?.ended() {
                break;
            }
            self.response_body(s, piece, false)?;
            self.step(s, &mut unused)?;
        }
        if !ends_with_headers && !self.stream(s)?.ended() {
            if response.trailers.is_empty() {
                self.response_body(s, b"", true)?;
            } else {
                let trailers: Vec<(&str, &str)> = response
                    .trailers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.response_trailers(s, &trailers)?;
            }
            self.step(s, &mut unused)?;
        }
        self.wait_while(s, |stream| stream.response_paused, &mut unused)
    }

    /// What the client got: the local reply, or the response as it left the filter.
    fn client_response(&self, s: StreamId) -> Result<ClientResponse, HarnessError> {
        let stream = self.stream(s)?;
        if let Some(reply) = &stream.local_reply {
            return Ok(ClientResponse {
                status: u16::try_from(reply.status).unwrap_or(u16::MAX),
                headers: reply.headers.clone(),
                body: reply.body.clone(),
                trailers: HeaderMap::new(),
            });
        }
        let mut headers = HeaderMap::new();
        for (name, value) in stream.response_headers.pairs() {
            if !name.starts_with(':') {
                headers.add(name, value);
            }
        }
        Ok(ClientResponse {
            status: stream
                .response_headers
                .get(":status")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            headers,
            body: stream.response_body.clone(),
            trailers: stream.response_trailers.clone(),
        })
    }

    /// Answers the pending callouts whose clusters the builder named, as those clusters would. A
    /// callout of a stream that has ended but is not finished yet waits: in Envoy its response
    /// comes after the stream is gone. Callouts to other clusters stay pending for the test.
    pub fn answer_callouts(&mut self) -> Result<(), HarnessError> {
        let clusters = self.config().clusters.clone();
        for _ in 0..1000 {
            let next = self.pending_http_callouts().into_iter().find(|c| {
                let waits = self
                    .stream(StreamId(c.context_id))
                    .is_ok_and(|s| s.ended() && !s.deleted);
                !waits && clusters.contains_key(&c.upstream)
            });
            let Some(callout) = next.cloned() else {
                return Ok(());
            };
            match clusters.get(&callout.upstream) {
                Some(Cluster::Answers(answer)) => {
                    self.respond_http_callout(callout.token, answer(&callout))?;
                }
                Some(Cluster::Refuses) => self.refuse_http_callout(callout.token)?,
                Some(Cluster::NeverAnswers) if !callout.timeout.is_zero() => {
                    self.advance_time(callout.timeout)?;
                }
                Some(Cluster::NeverAnswers) => {
                    return Err(HarnessError::Hung(format!(
                        "a callout to {} has no timeout, and the cluster never answers",
                        callout.upstream
                    )))
                }
                // Dispatch fails for these: no callout is made.
                Some(Cluster::NoEndpoints) | None => return Ok(()),
            }
        }
        Err(HarnessError::Hung(
            "the filter kept dispatching callouts".to_string(),
        ))
    }
}
