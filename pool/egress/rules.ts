/**
 * The rules of who a job may reach: parsed from the strings users write, matched against
 * what a client asked the proxy for, and checked for lying within a ceiling. Pure logic;
 * the proxy (proxy.ts) applies it to connections.
 *
 *   api.example.com          that name, ports 443 and 80
 *   *.example.com:8443       any name under example.com (not example.com itself), port 8443
 *   203.0.113.7  10.0.0.0/8  an address, or a range (CIDR): the only way to reach a private one
 *   [2001:db8::1]:443  2001:db8::/32
 *
 * Addresses and ranges are parsed and compared by ipaddr.js rather than by hand.
 */
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../../contract/errors.js';

/** The ports a rule without one allows: HTTPS and HTTP. */
export const DEFAULT_PORTS: readonly number[] = Object.freeze([443, 80]);

/** A name, or a wildcard over the names under a domain. */
interface NameRule {
  readonly kind: 'name';
  /** Lower case, without a trailing dot; for a wildcard, the domain after `*.`. */
  readonly name: string;
  readonly wildcard: boolean;
  readonly ports: readonly number[];
  readonly text: string;
}

/** An address or a range of them. */
interface AddressRule {
  readonly kind: 'address';
  readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  readonly ports: readonly number[];
  readonly text: string;
}

export type EgressRule = NameRule | AddressRule;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Parses one allow entry; InvalidArgumentError naming `field` for one that is not a rule. */
export function parseRule(text: unknown, field: string): EgressRule {
  if (typeof text !== 'string' || text === '') throw new InvalidArgumentError(field, `must be a host name, *.domain, an address or a CIDR range, optionally with :port, got ${JSON.stringify(text)}`);
  const bad = (why: string) => new InvalidArgumentError(field, `${JSON.stringify(text)} ${why}`);
  let host = text.trim().toLowerCase();
  let ports: readonly number[] = DEFAULT_PORTS;
  // A port: after a bracketed IPv6 address, or after the one colon of anything else.
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (bracketed !== null) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) ports = [port(bracketed[2], bad)];
  } else if (host.split(':').length === 2) {
    const [name, given] = host.split(':') as [string, string];
    host = name;
    ports = [port(given, bad)];
  }
  if (host.includes('/')) {
    try {
      return { kind: 'address', range: ipaddr.parseCIDR(host), ports, text };
    } catch {
      throw bad('is not a CIDR range such as 10.0.0.0/8');
    }
  }
  if (ipaddr.isValid(host)) {
    const address = ipaddr.parse(host);
    return { kind: 'address', range: [address, address.kind() === 'ipv4' ? 32 : 128], ports, text };
  }
  const wildcard = host.startsWith('*.');
  const name = (wildcard ? host.slice(2) : host).replace(/\.$/, '');
  if (name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) throw bad('is not a host name, *.domain, an address or a range');
  if (wildcard && !name.includes('.')) throw bad('is a wildcard over a whole top-level domain');
  return { kind: 'name', name, wildcard, ports, text };
}

function port(text: string, bad: (why: string) => Error): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) throw bad('has a port outside 1 to 65535');
  return value;
}

/** Parses an allow list: InvalidArgumentError naming `${field}[i]` for its first wrong entry. */
export function parseRules(allow: unknown, field: string): readonly EgressRule[] {
  if (!Array.isArray(allow)) throw new InvalidArgumentError(field, `must be an array of hosts, *.domains, addresses or ranges, got ${JSON.stringify(allow)}`);
  return Object.freeze(allow.map((entry, i) => parseRule(entry, `${field}[${i}]`)));
}

/**
 * The rule of `rules` that lets a client ask for `host` (a name or an address literal) at
 * `port`, if any. For an address, only a rule naming its range matches: what the proxy asks
 * of an address a name resolved to, as of one the client gave.
 */
export function ruleFor(rules: readonly EgressRule[], host: string, port: number): EgressRule | undefined {
  const literal = ipaddr.isValid(host) ? ipaddr.process(host) : undefined;
  const name = host.toLowerCase().replace(/\.$/, '');
  return rules.find((rule) => {
    if (!rule.ports.includes(port)) return false;
    if (rule.kind === 'address') return literal !== undefined && inRange(literal, rule.range);
    if (literal !== undefined) return false;
    return rule.wildcard ? name.endsWith(`.${rule.name}`) : name === rule.name;
  });
}

/**
 * Why an address a name resolved to is refused unless the allow list names its range:
 * private, loopback, link-local (169.254.169.254, cloud metadata, among them), unique-local
 * (fd00:ec2::254), carrier-grade NAT, and the unspecified, broadcast, multicast and reserved
 * ones. Undefined for a public address.
 */
export function specialRange(address: string): string | undefined {
  const range = ipaddr.process(address).range();
  return range === 'unicast' ? undefined : range;
}

/** The first rule of `rules` that lies within none of `ceiling`'s (names, addresses and ports), if any. */
export function firstOutside(rules: readonly EgressRule[], ceiling: readonly EgressRule[]): EgressRule | undefined {
  return rules.find((rule) => !ceiling.some((bound) => within(rule, bound)));
}

function within(rule: EgressRule, bound: EgressRule): boolean {
  if (!rule.ports.every((p) => bound.ports.includes(p))) return false;
  if (rule.kind === 'address' || bound.kind === 'address') {
    if (rule.kind !== 'address' || bound.kind !== 'address') return false;
    const [network, bits] = rule.range;
    return network.kind() === bound.range[0].kind() && bits >= bound.range[1] && inRange(network, bound.range);
  }
  if (!bound.wildcard) return !rule.wildcard && rule.name === bound.name;
  return rule.name.endsWith(`.${bound.name}`) || (rule.wildcard && rule.name === bound.name);
}

function inRange(address: ipaddr.IPv4 | ipaddr.IPv6, range: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  return address.kind() === range[0].kind() && address.match(range as never);
}
