import { readFileSync } from 'node:fs';
import test from 'ava';
import * as warmbox from '../../pool/index.js';
import { httpStatusOf } from '../../wire/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('every error code is in README, and README lists no other', (t) => {
  const documented = [...readme.matchAll(/^\| `(WARMBOX_ERR_[A-Z_]+)` \| `(\w+)` \|/gm)].map((m) => [m[1], m[2]]);
  t.deepEqual(documented.map(([code]) => code), [...warmbox.ERROR_CODES]);
  for (const [, className] of documented) {
    const ErrorClass = (warmbox as Record<string, unknown>)[className!] as { prototype: warmbox.WarmboxError };
    t.truthy(ErrorClass, `${className} is exported`);
    t.true(ErrorClass.prototype instanceof warmbox.WarmboxError);
  }
});

test('every error class carries its own code, name and message', (t) => {
  const errors: warmbox.WarmboxError[] = [
    new warmbox.InvalidArgumentError('job.code', 'must be a string'),
    new warmbox.NotInitializedError(),
    new warmbox.PoolClosedError(),
    new warmbox.QueueFullError(3),
    new warmbox.QueueTimeoutError(10),
    new warmbox.AbortError('why'),
    new warmbox.DockerUnavailableError('x'),
    new warmbox.ImageNotFoundError('img', true),
    new warmbox.ContainerStartError('x'),
    new warmbox.RuntimeNotFoundError('runsc', ['runc']),
    new warmbox.RuntimeMisconfiguredError('runsc', '--network=none', 'why', 'fix'),
    new warmbox.DockerError('x'),
    new warmbox.AgentProtocolError('x'),
    new warmbox.RemoteError('x', 401),
    new warmbox.SessionEndedError('idle'),
    new warmbox.UnauthorizedError(),
    new warmbox.SessionNotFoundError('abc'),
    new warmbox.HostNotAllowedError('evil.example'),
    new warmbox.OriginNotAllowedError('http://evil.example'),
  ];
  t.deepEqual(errors.map((e) => e.code), [...warmbox.ERROR_CODES]);
  for (const error of errors) {
    t.true(error instanceof Error);
    t.is(error.name, error.constructor.name);
    t.not(error.message, '');
  }
});

test("README's errors table gives each code the HTTP status the service answers it with", (t) => {
  const rows = [...readme.matchAll(/^\| `(WARMBOX_ERR_[A-Z_]+)` \| `\w+` \| (\d{3}) \|/gm)];
  t.deepEqual(rows.map(([, code]) => code), [...warmbox.ERROR_CODES]);
  for (const [, code, status] of rows) t.is(httpStatusOf(code!), Number(status), code);
  t.is(httpStatusOf('WARMBOX_ERR_INTERNAL'), 500);
  t.regex(readme, /500 `WARMBOX_ERR_INTERNAL`/);
});

test('errorFromCode -> the class the code names, with the message given; an unknown code is a RemoteError', (t) => {
  for (const code of warmbox.ERROR_CODES) {
    const error = warmbox.errorFromCode(code, 'as the service said', 'job.x');
    t.is(error.code, code);
    t.is(error.message, 'as the service said');
  }
  t.is((warmbox.errorFromCode('WARMBOX_ERR_INVALID_ARGUMENT', 'm', 'job.files') as warmbox.InvalidArgumentError).field, 'job.files');
  t.true(warmbox.errorFromCode('WARMBOX_ERR_QUEUE_FULL', 'm') instanceof warmbox.QueueFullError);
  t.is(warmbox.errorFromCode('SOMETHING_ELSE', 'm').code, 'WARMBOX_ERR_REMOTE');
  // Made without the class's constructor, yet named and stacked as one made here.
  const revived = warmbox.errorFromCode('WARMBOX_ERR_QUEUE_TIMEOUT', 'waited too long');
  t.is(revived.name, 'QueueTimeoutError');
  t.regex(revived.stack!, /^QueueTimeoutError: waited too long/);
  t.deepEqual({ ...revived }, { code: 'WARMBOX_ERR_QUEUE_TIMEOUT' });
});

test('every option in DEFAULTS is in README with the same default', (t) => {
  for (const [name, value] of Object.entries(warmbox.DEFAULTS)) {
    t.regex(readme, new RegExp(`^\\| \`${name}\` \\| \`${value}\` \\|`, 'm'), name);
  }
});
