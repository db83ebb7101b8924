// as-headers: a proxy-wasm HTTP filter written with the AssemblyScript SDK @solo-io/proxy-runtime,
// as a third-party filter for Palisade's scenario tests (tests/scenarios/as_headers.yaml). It marks
// every request and response with a configured header, and answers a request that carries the
// configured deny header with a local 403 instead of forwarding it.
//
// Configuration (the plugin's configuration string), one `key=value` per line:
//   request_header=x-as-request     header added to the request the upstream gets
//   response_header=x-as-response   header added to the response the client gets
//   value=from-as                   the value of both
//   deny_header=x-as-deny           a request with a non-empty value here is denied
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
  log,
  LogLevelValues,
  send_local_response,
  stream_context,
} from "@solo-io/proxy-runtime";

/** The parsed configuration, shared by every request of the plugin. */
class Settings {
  requestHeader: string = "";
  responseHeader: string = "";
  value: string = "";
  denyHeader: string = "";

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
      if (key == "request_header") {
        this.requestHeader = value;
      } else if (key == "response_header") {
        this.responseHeader = value;
      } else if (key == "value") {
        this.value = value;
      } else if (key == "deny_header") {
        this.denyHeader = value;
      } else {
        return "unknown key `" + key + "`";
      }
    }
    if (this.requestHeader.length == 0) return "`request_header` is missing";
    if (this.responseHeader.length == 0) return "`response_header` is missing";
    if (this.value.length == 0) return "`value` is missing";
    if (this.denyHeader.length == 0) return "`deny_header` is missing";
    return "";
  }
}

class HeadersRoot extends RootContext {
  settings: Settings = new Settings();

  createContext(context_id: u32): Context {
    return new HeadersFilter(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    // The SDK reads the configuration into getConfiguration().
    if (!super.onConfigure(configuration_size)) {
      return false;
    }
    const settings = new Settings();
    const error = settings.read(this.getConfiguration());
    if (error.length > 0) {
      log(LogLevelValues.error, "as-headers: bad configuration: " + error);
      return false;
    }
    this.settings = settings;
    log(LogLevelValues.info, "as-headers: configured, marking with " + settings.requestHeader +
      " and " + settings.responseHeader + ", denying on " + settings.denyHeader);
    return true;
  }
}

function pair(name: string, value: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(name), String.UTF8.encode(value));
}

class HeadersFilter extends Context {
  settings: Settings;

  constructor(context_id: u32, root_context: HeadersRoot) {
    super(context_id, root_context);
    this.settings = root_context.settings;
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const request = stream_context.headers.request;
    const path = request.get(":path");
    const deny = request.get(this.settings.denyHeader);
    if (deny.length > 0) {
      log(LogLevelValues.info, "as-headers: denying " + path + " (" + this.settings.denyHeader + ": " + deny + ")");
      const headers: Headers = [pair("x-as-denied", deny)];
      send_local_response(403, "as_headers_denied", String.UTF8.encode("denied by as-headers\n"),
        headers, GrpcStatusValues.InvalidCode);
      return FilterHeadersStatusValues.StopIteration;
    }
    request.add(this.settings.requestHeader, this.settings.value);
    log(LogLevelValues.info, "as-headers: request " + request.get(":method") + " " + path +
      " marked with " + this.settings.requestHeader);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const response = stream_context.headers.response;
    response.add(this.settings.responseHeader, this.settings.value);
    log(LogLevelValues.info, "as-headers: response " + response.get(":status") + " marked with " +
      this.settings.responseHeader);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32): RootContext => new HeadersRoot(context_id), "as_headers");
