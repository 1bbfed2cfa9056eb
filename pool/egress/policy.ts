/**
 * Network on purpose: the sandbox's `network` option sets the ceiling of what any job may
 * reach, and a job's own `network` asks for part of it. A job that asks for nothing gets
 * nothing; one that asks past the ceiling is an InvalidArgumentError naming the rule. What a
 * job is granted becomes the policy of its egress proxy (proxy.ts).
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../contract/errors.js';
import { egressProxyEnv } from '../../contract/layout.js';
import { MIB } from '../../contract/limits.js';
import { DEFAULT_PORTS, firstOutside, parseRule, parseRules, ruleFor, type EgressRule } from './rules.js';
import type { EgressLimits, EgressPolicy } from './proxy.js';

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
  /**
   * Headers the proxy adds on the way to a host, which the program never sees: not in its
   * environment, not in its files. Keyed by an exact host name with an optional `:port` (443
   * by default) that `allow` holds, e.g. `{ 'api.example.com': { authorization: 'Bearer …' } }`.
   * The proxy ends the program's HTTPS to such a host with a certificate of the sandbox's own
   * CA, which every job with network trusts, and makes its own TLS connection to the host.
   * @default {}
   */
  readonly secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** CA certificates (PEM) the proxy trusts for the hosts of `secrets`, besides Node's own. */
  readonly ca?: string | readonly string[];
}

/** A job's (or a session's) `network`: the part of the sandbox's ceiling it asks for. */
export interface JobNetwork {
  /** Entries as the ceiling's; each must lie within one of the ceiling's. */
  readonly allow: readonly string[];
}

/** The ceiling, checked once at construction. */
export interface ResolvedNetwork {
  readonly allow: readonly EgressRule[];
  /** The headers of `secrets`, by `host:port`. */
  readonly secrets: ReadonlyMap<string, Readonly<Record<string, string>>>;
  readonly ca: readonly string[] | undefined;
  readonly resolve: ReadonlyMap<string, string>;
  readonly maxConnections: number;
  readonly maxBytesOut: number;
  readonly maxBytesIn: number;
  readonly maxConnectionMs: number | undefined;
}

const NETWORK_FIELDS = new Set(['allow', 'resolve', 'maxConnections', 'maxBytesOut', 'maxBytesIn', 'maxConnectionMs', 'secrets', 'ca']);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
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
  const secrets = new Map<string, Readonly<Record<string, string>>>();
  if (options.secrets !== undefined) {
    if (typeof options.secrets !== 'object' || options.secrets === null || Array.isArray(options.secrets)) throw new InvalidArgumentError('network.secrets', 'must map hosts to headers');
    for (const [target, headers] of Object.entries(options.secrets)) {
      const field = `network.secrets["${target}"]`;
      const rule = parseRule(target, field);
      if (rule.kind !== 'name' || rule.wildcard) throw new InvalidArgumentError(field, 'must name one host, with an optional :port');
      // A host without a port is its HTTPS one: the headers go where the proxy ends the TLS.
      const port = rule.ports === DEFAULT_PORTS ? 443 : rule.ports[0]!;
      if (ruleFor(allow, rule.name, port) === undefined) throw new InvalidArgumentError(field, `names a host that network.allow does not hold at port ${port}`);
      if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw new InvalidArgumentError(field, 'must be an object of headers');
      for (const [name, value] of Object.entries(headers)) {
        if (!HEADER_NAME.test(name) || typeof value !== 'string' || /[\r\n\0]/.test(value)) throw new InvalidArgumentError(`${field}.${name}`, 'must be a header name with a one-line string value');
      }
      secrets.set(`${rule.name}:${port}`, Object.freeze(Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))));
    }
  }
  const ca = options.ca === undefined ? undefined : typeof options.ca === 'string' ? [options.ca] : options.ca;
  if (ca !== undefined && (!Array.isArray(ca) || !ca.every((pem) => typeof pem === 'string' && pem.includes('BEGIN CERTIFICATE')))) {
    throw new InvalidArgumentError('network.ca', 'must be a PEM certificate, or an array of them');
  }
  return Object.freeze({
    allow,
    secrets,
    ca: ca === undefined ? undefined : Object.freeze([...ca]),
    resolve,
    maxConnections: positive('maxConnections', NETWORK_DEFAULTS.maxConnections)!,
    maxBytesOut: positive('maxBytesOut', NETWORK_DEFAULTS.maxBytesOut)!,
    maxBytesIn: positive('maxBytesIn', NETWORK_DEFAULTS.maxBytesIn)!,
    maxConnectionMs: positive('maxConnectionMs', undefined),
  });
}

/**
 * The variables a program with network gets: its proxy's, and where the sandbox holds secrets,
 * those that make its clients trust the sandbox's CA. Under the job's own env, which may name
 * others and still reaches nothing past the proxy.
 */
export function egressEnv(egress: EgressPolicy, env: Readonly<Record<string, string>>): Record<string, string> {
  return { ...egressProxyEnv(egress.secrets !== undefined && egress.secrets.size > 0), ...env };
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
  return { allow, resolve: ceiling.resolve, limits, secrets: ceiling.secrets, upstreamCa: ceiling.ca };
}
