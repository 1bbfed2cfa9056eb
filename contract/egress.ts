/**
 * What a job's result says of its network: one record per connection its program asked the
 * egress proxy for. The reasons are written once here, for the proxy that gives them, the
 * wire's schema that carries them, and the metrics that count them.
 */
import type { FromSchema } from 'json-schema-to-ts';

/**
 * How an attempt ended: refused, and why (`not-allowed` by the rules, `private-address` for a
 * name that resolved to a range the rules do not name, `unresolved`, `host-mismatch` between a
 * plain request's URI and its Host, `not-a-proxy-request`, `max-connections`), or connected and
 * then `closed` by either side, failed to connect (`connect-failed`), or cut: for a cap
 * (`max-bytes-out`, `max-bytes-in`, `max-connection-ms`) or because the job ended (`job-ended`).
 */
export const EGRESS_REASONS = Object.freeze([
  'closed',
  'not-allowed',
  'private-address',
  'unresolved',
  'connect-failed',
  'host-mismatch',
  'not-a-proxy-request',
  'max-connections',
  'max-bytes-out',
  'max-bytes-in',
  'max-connection-ms',
  'job-ended',
] as const);
export type EgressReason = (typeof EGRESS_REASONS)[number];

/** An EgressRecord as JSON Schema: what the wire's RunResult carries (the two are checked alike below). */
export const egressRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port', 'address', 'allowed', 'reason', 'bytesOut', 'bytesIn', 'ms'],
  properties: {
    host: { type: 'string' },
    port: { type: 'integer' },
    address: { type: ['string', 'null'] },
    allowed: { type: 'boolean' },
    reason: { type: 'string', enum: EGRESS_REASONS },
    bytesOut: { type: 'integer' },
    bytesIn: { type: 'integer' },
    ms: { type: 'number' },
  },
} as const;

/** One connection a job's program asked the proxy for. */
export interface EgressRecord {
  /** The name or address the program asked for. */
  readonly host: string;
  readonly port: number;
  /** The address it was resolved to (and connected to, if allowed); null if it never was. */
  readonly address: string | null;
  /** Whether the proxy connected it. */
  readonly allowed: boolean;
  /** Why it was refused, or how it ended once connected. */
  readonly reason: EgressReason;
  /** Bytes from the program to the host (a tunnel's stream, or a plain request's body). */
  readonly bytesOut: number;
  /** Bytes from the host to the program. */
  readonly bytesIn: number;
  /** From the request to the end of the connection. */
  readonly ms: number;
}

// The schema and the interface describe one record: each must be the other.
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
true satisfies Mutable<EgressRecord> extends FromSchema<typeof egressRecordSchema> ? (FromSchema<typeof egressRecordSchema> extends Mutable<EgressRecord> ? true : false) : false;
