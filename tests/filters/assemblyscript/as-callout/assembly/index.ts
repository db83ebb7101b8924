// as-callout: a proxy-wasm HTTP filter written with the AssemblyScript SDK @solo-io/proxy-runtime,
// as a third-party filter for Palisade's scenario tests (tests/scenarios/as_callout.yaml). On request
// headers it asks an authorisation cluster about the request with an HTTP callout and pauses the
// request; the callout's callback lets the request through on a 200 (copying the answer into request
// headers) and answers 403 otherwise. A callout that cannot be dispatched gets a local 503.
//
// Configuration (the plugin's configuration string), one `key=value` per line:
//   cluster=auth_cluster        the cluster asked
//   path=/check                 the callout's :path
//   authority=auth              the callout's :authority
//   timeout_ms=500              the callout's timeout
//   forward_headers=x-user,x-b  optional: request headers passed on to the callout
//   cluster_header=x-cluster    optional: a request header that names another cluster to ask
//                               (lets one plugin be tested against several clusters)
// A missing or unknown key fails the configuration, naming the key.

// The SDK's exports (proxy_on_*, malloc) that Envoy calls.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext,
  Context,
  registerRootContext,
  FilterHeadersStatusValues,
  GrpcStatusValues,
  HeaderPair,
  Headers,
  WasmResultValues,
  continue_request,
  log,
  LogLevelValues,
  send_local_response,
  stream_context,
} from "@solo-io/proxy-runtime";
// Reading the callout's response body is not re-exported by the SDK's index.
import { get_buffer_bytes, BufferTypeValues } from "@solo-io/proxy-runtime/runtime";

/** The parsed configuration, shared by every request of the plugin. */
class Settings {
  cluster: string = "";
  path: string = "";
  authority: string = "";
  timeoutMs: u32 = 0;
  forwardHeaders: string[] = [];
  clusterHeader: string = "";

  /** Reads `key=value` lines; returns an error naming the bad key, or "" when all is well. */
  read(text: string): string {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line.length == 0) {
        continue;
      }
      const eq = line.indexOf("=");
      if (eq < 0) {
        return "line `" + line + "` is not key=value";
      }
      const key = line.substring(0, eq).trim();
      const value = line.substring(eq + 1).trim();
      if (key == "cluster") {
        this.cluster = value;
      } else if (key == "path") {
        this.path = value;
      } else if (key == "authority") {
        this.authority = value;
      } else if (key == "timeout_ms") {
        const ms = I32.parseInt(value);
        if (ms <= 0) {
          return "`timeout_ms` must be a positive number of milliseconds, not `" + value + "`";
        }
        this.timeoutMs = ms as u32;
      } else if (key == "forward_headers") {
        const names = value.split(",");
        for (let n = 0; n < names.length; n++) {
          const name = names[n].trim();
          if (name.length == 0) {
            return "`forward_headers` has an empty name";
          }
          this.forwardHeaders.push(name);
        }
      } else if (key == "cluster_header") {
        this.clusterHeader = value;
      } else {
        return "unknown key `" + key + "`";
      }
    }
    if (this.cluster.length == 0) return "`cluster` is missing";
    if (this.path.length == 0) return "`path` is missing";
    if (this.authority.length == 0) return "`authority` is missing";
    if (this.timeoutMs == 0) return "`timeout_ms` is missing";
    return "";
  }
}

class CalloutRoot extends RootContext {
  settings: Settings = new Settings();

  createContext(context_id: u32): Context {
    return new CalloutFilter(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    // The SDK reads the configuration into getConfiguration().
    if (!super.onConfigure(configuration_size)) {
      return false;
    }
    const settings = new Settings();
    const error = settings.read(this.getConfiguration());
    if (error.length > 0) {
      log(LogLevelValues.error, "as-callout: bad configuration: " + error);
      return false;
    }
    this.settings = settings;
    log(LogLevelValues.info, "as-callout: configured, asking " + settings.cluster + " at " + settings.path);
    return true;
  }
}

function pair(name: string, value: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(name), String.UTF8.encode(value));
}

function deny(status: u32, details: string, body: string, header: string, value: string): void {
  const headers: Headers = [pair(header, value)];
  send_local_response(status, details, String.UTF8.encode(body), headers, GrpcStatusValues.InvalidCode);
}

/**
 * The callout's callback. The SDK calls it from the root context with the request's context made
 * effective again, so `stream_context.headers.request` is the paused request. `headers` is the
 * number of response headers (0 when the callout failed without a response).
 */
function onAuthResponse(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  const filter = origin as CalloutFilter;
  const status = headers == 0 ? "" : stream_context.headers.http_callback.get(":status");
  if (status == "200") {
    const body = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.HttpCallResponseBody, 0, body_size as u32));
    const request = stream_context.headers.request;
    request.add("x-as-auth-status", status);
    request.add("x-as-auth", body);
    log(LogLevelValues.info, "as-callout: " + filter.cluster + " allowed the request (" +
      body_size.toString() + " bytes of answer)");
    continue_request();
    return;
  }
  const shown = status.length > 0 ? status : "none";
  log(LogLevelValues.info, "as-callout: " + filter.cluster + " answered " + shown + ", denying");
  deny(403, "as_callout_denied", "denied by as-callout\n", "x-as-callout-status", shown);
}

class CalloutFilter extends Context {
  settings: Settings;
  /** The cluster this request's callout went to. */
  cluster: string = "";

  constructor(context_id: u32, root_context: CalloutRoot) {
    super(context_id, root_context);
    this.settings = root_context.settings;
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const settings = this.settings;
    const request = stream_context.headers.request;
    const path = request.get(":path");
    this.cluster = settings.cluster;
    if (settings.clusterHeader.length > 0) {
      const chosen = request.get(settings.clusterHeader);
      if (chosen.length > 0) {
        this.cluster = chosen;
      }
    }
    const callout: Headers = [
      pair(":method", "GET"),
      pair(":path", settings.path),
      pair(":authority", settings.authority),
      pair("x-as-original-path", path),
    ];
    for (let i = 0; i < settings.forwardHeaders.length; i++) {
      const name = settings.forwardHeaders[i];
      const forwarded = request.get(name);
      if (forwarded.length > 0) {
        callout.push(pair(name, forwarded));
      }
    }
    const result = this.root_context.httpCall(this.cluster, callout, new ArrayBuffer(0), [],
      settings.timeoutMs, this, onAuthResponse);
    if (result != WasmResultValues.Ok) {
      log(LogLevelValues.warn, "as-callout: no callout to " + this.cluster + " (result " + result.toString() + ")");
      deny(503, "as_callout_failed", "as-callout could not ask\n", "x-as-callout-error", result.toString());
      return FilterHeadersStatusValues.StopIteration;
    }
    log(LogLevelValues.info, "as-callout: asked " + this.cluster + " about " + path);
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((context_id: u32): RootContext => new CalloutRoot(context_id), "as_callout");
