/**
 * The service's routes and the WebSocket's token subprotocol: plain values, importing nothing,
 * so that a browser's page (examples/web-ide) takes them too.
 */

/** The service's routes. Those under /v1, /metrics and /openapi.json need the token, if any. */
export const ROUTES = {
  /** POST a WireJob, answered with its WireResult. */
  run: '/v1/run',
  /** WebSocket: one job per connection, its output live and its stdin as it comes (ClientMessage, ServerMessage). */
  ws: '/v1/ws',
  /** The Model Context Protocol, Streamable HTTP: the run_python tool. */
  mcp: '/mcp',
  metrics: '/metrics',
  openapi: '/openapi.json',
  /** The process is up. */
  healthz: '/healthz',
  /** A job would be taken now: a warm container, or room in the queue; 503 otherwise. */
  readyz: '/readyz',
} as const;

/** The WebSocket subprotocol that carries the token where a browser cannot set a header: `warmbox.bearer.<token>`. */
export const TOKEN_PROTOCOL_PREFIX = 'warmbox.bearer.';
