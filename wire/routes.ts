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
  /** POST SessionOptions, answered with `{ id }`: a session holds one container for many cells. */
  sessions: '/v1/sessions',
  /** POST a Cell, answered with its result (a WireResult with `value` and `sessionEnded`). */
  sessionRun: '/v1/sessions/:id/run',
  /** POST: raises KeyboardInterrupt in the session's running cell. */
  sessionInterrupt: '/v1/sessions/:id/interrupt',
  /** DELETE: closes the session. */
  session: '/v1/sessions/:id',
  /** WebSocket: the session's cells, each `{"type":"run","cell":{...}}`, with live output (ServerMessage), and `{"type":"interrupt"}`. */
  sessionWs: '/v1/sessions/:id/ws',
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

/** A session route with its id filled in. */
export function sessionRoute(route: string, id: string): string {
  return route.replace(':id', encodeURIComponent(id));
}
