/**
 * Network on purpose: the sandbox's `network` option sets the ceiling of what any job may
 * reach, and a job's own `network` asks for part of it. A job that asks for nothing gets
 * nothing; one that asks past the ceiling is an InvalidArgumentError naming the rule. What a
 * job is granted becomes the policy of its egress proxy (egress-proxy.ts).
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../contract/errors.js';
import { MIB } from '../contract/limits.js';
import { firstOutside, parseRules, type EgressRule } from './egress-rules.js';
import type { EgressLimits, EgressPolicy } from './egress-proxy.js';

/** The sandbox's `network` option: the ceiling, the operator's pinned names, the caps. */
export interface NetworkOptions {
  /**
   * What jobs may ask to reach: host names, `*.domain` wildcards, addresses and CIDR ranges,
   * each with an optional `:port` (443 and 80 without one). A job reaches none of it unless its
   * own `network.allow` asks.
   */
  readonly allow: readonly string[];
  /**
   * Names pinned to addresses, as curl's `--resolve`: not looked up in DNS, and, being the
   * operator's explicit choice, not refused for a private or loopback range.
   * @default {}
   */
  readonly resolve?: Readonly<Record<string, string>>;
  /** Connections a job may open through the proxy. @default 64 */
  readonly maxConnections?: number;
  /** Bytes a job may send, each connection. @default 64 MiB */
  readonly maxBytesOut?: number;
  /** Bytes a job may receive, each connection. @default 256 MiB */
  readonly maxBytesIn?: number;
  /** How long a connection may stay open. @default the job's timeoutMs */
  readonly maxConnectionMs?: number;
}

/** A job's (or a session's) `network`: the part of the sandbox's ceiling it asks for. */
export interface JobNetwork {
  /** Entries as the ceiling's; each must lie within one of the ceiling's. */
  readonly allow: readonly string[];
}

/** The ceiling, checked once at construction. */
export interface ResolvedNetwork {
  readonly allow: readonly EgressRule[];
  readonly resolve: ReadonlyMap<string, string>;
  readonly maxConnections: number;
  readonly maxBytesOut: number;
  readonly maxBytesIn: number;
  readonly maxConnectionMs: number | undefined;
}

const NETWORK_FIELDS = new Set(['allow', 'resolve', 'maxConnections', 'maxBytesOut', 'maxBytesIn', 'maxConnectionMs']);
const NETWORK_DEFAULTS = Object.freeze({ maxConnections: 64, maxBytesOut: 64 * MIB, maxBytesIn: 256 * MIB });

/** Checks the sandbox's `network`; undefined (no network for any job) when it is not given. */
export function resolveNetwork(network: unknown): ResolvedNetwork | undefined {
  if (network === undefined) return undefined;
  if (typeof network !== 'object' || network === null || Array.isArray(network)) throw new InvalidArgumentError('network', 'must be an object such as { allow: ["pypi.example.com"] }');
  for (const key of Object.keys(network)) {
    if (!NETWORK_FIELDS.has(key)) throw new InvalidArgumentError(`network.${key}`, 'is not an option of network');
  }
  const options = network as NetworkOptions;
  const allow = parseRules(options.allow, 'network.allow');
  const resolve = new Map<string, string>();
  if (options.resolve !== undefined) {
    if (typeof options.resolve !== 'object' || options.resolve === null || Array.isArray(options.resolve)) throw new InvalidArgumentError('network.resolve', 'must map host names to addresses');
    for (const [name, address] of Object.entries(options.resolve)) {
      if (typeof address !== 'string' || isIP(address) === 0) throw new InvalidArgumentError(`network.resolve.${name}`, `must be an IPv4 or IPv6 address, got ${JSON.stringify(address)}`);
      resolve.set(name.toLowerCase().replace(/\.$/, ''), address);
    }
  }
  const positive = (key: 'maxConnections' | 'maxBytesOut' | 'maxBytesIn' | 'maxConnectionMs', fallback: number | undefined) => {
    const value = options[key];
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`network.${key}`, `must be a positive integer, got ${JSON.stringify(value)}`);
    return value;
  };
  return Object.freeze({
    allow,
    resolve,
    maxConnections: positive('maxConnections', NETWORK_DEFAULTS.maxConnections)!,
    maxBytesOut: positive('maxBytesOut', NETWORK_DEFAULTS.maxBytesOut)!,
    maxBytesIn: positive('maxBytesIn', NETWORK_DEFAULTS.maxBytesIn)!,
    maxConnectionMs: positive('maxConnectionMs', undefined),
  });
}

/**
 * The egress policy of a job that asks for `network` within `ceiling`, or undefined for a job
 * that asks for none. `field` names the job's (`job.network`) or the session's field.
 */
export function grantNetwork(network: unknown, ceiling: ResolvedNetwork | undefined, timeoutMs: number, field: string): EgressPolicy | undefined {
  if (network === undefined) return undefined;
  if (typeof network !== 'object' || network === null || Array.isArray(network)) throw new InvalidArgumentError(field, 'must be an object such as { allow: ["pypi.example.com"] }');
  for (const key of Object.keys(network)) {
    if (key !== 'allow') throw new InvalidArgumentError(`${field}.${key}`, `is not a field of ${field}`);
  }
  const allow = parseRules((network as JobNetwork).allow, `${field}.allow`);
  if (allow.length === 0) return undefined;
  if (ceiling === undefined) throw new InvalidArgumentError(`${field}.allow`, 'asks for network, and this sandbox allows none (its option network)');
  const outside = firstOutside(allow, ceiling.allow);
  if (outside !== undefined) {
    throw new InvalidArgumentError(`${field}.allow[${allow.indexOf(outside)}]`, `${JSON.stringify(outside.text)} lies outside what the sandbox allows (its option network.allow)`);
  }
  const limits: EgressLimits = {
    maxConnections: ceiling.maxConnections,
    maxBytesOut: ceiling.maxBytesOut,
    maxBytesIn: ceiling.maxBytesIn,
    maxConnectionMs: ceiling.maxConnectionMs ?? timeoutMs,
  };
  return { allow, resolve: ceiling.resolve, limits };
}
