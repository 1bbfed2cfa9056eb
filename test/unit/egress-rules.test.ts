/** The egress rules as pure logic: what parses, what matches what a client asked for, what lies within a ceiling. */
import test from 'ava';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../contract/errors.js';
import { firstOutside, parseRule, parseRules, ruleFor, specialRange } from '../../pool/egress/rules.js';
import { grantNetwork, resolveNetwork } from '../../pool/egress/policy.js';

const rules = (...texts: string[]) => parseRules(texts, 'allow');

test('entries parse: names, wildcards, ports, addresses, ranges, bracketed IPv6', (t) => {
  t.like(parseRule('API.Example.com', 'f'), { kind: 'name', name: 'api.example.com', wildcard: false, ports: [443, 80] });
  t.like(parseRule('*.example.com:8443', 'f'), { kind: 'name', name: 'example.com', wildcard: true, ports: [8443] });
  t.like(parseRule('203.0.113.7', 'f'), { kind: 'address', ports: [443, 80] });
  t.like(parseRule('10.0.0.0/8:5432', 'f'), { kind: 'address', ports: [5432] });
  t.like(parseRule('[2001:db8::1]:443', 'f'), { kind: 'address', ports: [443] });
  t.like(parseRule('2001:db8::/32', 'f'), { kind: 'address' });
});

test('wrong entries -> InvalidArgumentError naming the entry', (t) => {
  for (const text of ['', 'exa mple.com', '*.com', 'a.com:0', 'a.com:70000', '10.0.0.0/33', '-a.com', 'a..com', 5]) {
    const error = t.throws(() => parseRules(['ok.example', text], 'network.allow'), { instanceOf: InvalidArgumentError }, String(text));
    t.is(error?.field, 'network.allow[1]');
  }
  t.throws(() => parseRules('a.com', 'network.allow'), { instanceOf: InvalidArgumentError, message: /^network\.allow must be an array/ });
});

test('what the client asked for: a name matches its rule and port; a wildcard its subdomains only; a literal only a range', (t) => {
  const allow = rules('api.example.com', '*.cdn.example:8443', '10.1.0.0/16:5432');
  t.truthy(ruleFor(allow, 'API.example.com', 443));
  t.truthy(ruleFor(allow, 'api.example.com.', 80));
  t.falsy(ruleFor(allow, 'api.example.com', 8080));
  t.falsy(ruleFor(allow, 'evil-api.example.com', 443));
  t.truthy(ruleFor(allow, 'a.b.cdn.example', 8443));
  t.falsy(ruleFor(allow, 'cdn.example', 8443));
  t.falsy(ruleFor(allow, 'xcdn.example', 8443));
  t.truthy(ruleFor(allow, '10.1.2.3', 5432));
  t.falsy(ruleFor(allow, '10.2.0.1', 5432));
  // A name that looks like a range's address is still a name.
  t.falsy(ruleFor(rules('10.1.0.0/16'), '10.1.2.3.nip.io', 443));
});

test('special ranges: private, loopback, link-local (cloud metadata), unique-local; public is none', (t) => {
  for (const address of ['10.0.0.1', '172.16.0.1', '192.168.1.1', '127.0.0.1', '169.254.169.254', 'fd00:ec2::254', '::1', '0.0.0.0', '100.64.0.1', '::ffff:127.0.0.1']) {
    t.not(specialRange(address), undefined, address);
  }
  t.is(specialRange('8.8.8.8'), undefined);
  t.truthy(ruleFor(rules('169.254.0.0/16'), '169.254.169.254', 443));
  t.falsy(ruleFor(rules('169.254.169.254.example'), '169.254.169.254', 443));
});

test('within the ceiling: narrower names, ports and ranges pass; anything wider, or a name for a range, does not', (t) => {
  const ceiling = rules('*.example.com', 'pypi.internal:443', '10.0.0.0/8');
  t.is(firstOutside(rules('api.example.com', '*.b.example.com:443', 'pypi.internal:443', '10.1.0.0/16:80'), ceiling), undefined);
  for (const wider of ['example.com', '*.com.example', 'pypi.internal', 'pypi.internal:8443', '10.0.0.0/7', '10.0.0.1:22', '11.0.0.1']) {
    t.truthy(firstOutside(rules(wider), ceiling), wider);
  }
});

test('every rule lies within itself, and within a wildcard over its domain (generated names)', (t) => {
  const label = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(label, { minLength: 3, maxLength: 5 }), fc.integer({ min: 1, max: 65_535 }), (labels, port) => {
        const name = labels.join('.');
        const own = rules(`${name}:${port}`);
        return firstOutside(own, own) === undefined && firstOutside(own, rules(`*.${labels.slice(1).join('.')}:${port}`)) === undefined && ruleFor(own, name, port) !== undefined;
      }),
    ),
  );
});

test('the sandbox\'s network -> defaults filled; a job asks within it or gets an error naming its field', (t) => {
  const ceiling = resolveNetwork({ allow: ['api.test:8080'], resolve: { 'api.test': '127.0.0.1' } })!;
  t.like(ceiling, { maxConnections: 64, maxConnectionMs: undefined });
  t.is(ceiling.resolve.get('api.test'), '127.0.0.1');
  t.is(resolveNetwork(undefined), undefined);
  t.is(grantNetwork(undefined, ceiling, 1000, 'job.network'), undefined);
  t.is(grantNetwork({ allow: [] }, ceiling, 1000, 'job.network'), undefined);
  t.like(grantNetwork({ allow: ['api.test:8080'] }, ceiling, 1000, 'job.network'), { limits: { maxConnectionMs: 1000 } });
  t.throws(() => resolveNetwork({ allow: [], resolve: { 'a.test': 'localhost' } }), { instanceOf: InvalidArgumentError, message: /^network\.resolve\.a\.test/ });
  t.throws(() => resolveNetwork({ allow: [], proxy: 'x' }), { instanceOf: InvalidArgumentError, message: /^network\.proxy/ });
  t.throws(() => resolveNetwork({ allow: [], maxConnections: 0 }), { instanceOf: InvalidArgumentError, message: /^network\.maxConnections/ });
  t.throws(() => grantNetwork({ allow: ['api.test:8080'], extra: 1 }, ceiling, 1000, 'job.network'), { instanceOf: InvalidArgumentError, message: /^job\.network\.extra/ });
  t.throws(() => grantNetwork({ allow: ['api.test'] }, ceiling, 1000, 'job.network'), { instanceOf: InvalidArgumentError, message: /^job\.network\.allow\[0\] "api\.test" lies outside/ });
});
