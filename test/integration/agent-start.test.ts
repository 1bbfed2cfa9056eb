/**
 * The agent's start in the real image: what it loads before its socket appears. Every
 * container pays for each module loaded here, on the machine's CPU, before it counts as warm.
 */
import { Writable } from 'node:stream';
import { posix } from 'node:path';
import test from 'ava';
import { AGENT_IO_DIR, AGENT_SOCKET_NAME } from '../../contract/layout.js';
import { agentImageTag } from '../../pool/image.js';
import { docker } from '../helpers/sandbox.js';

/**
 * Node's built-in modules that an agent serving plain HTTP on a Unix socket never uses, with
 * what they load behind them. Fastify requires the first three as it loads; the bundle holds
 * stand-ins that load them on first use (image/bundle-agent.mjs). `fs/promises` brings the
 * internal readline with it; the agent uses callback `fs`.
 */
const NEVER_AT_START = ['https', 'http2', 'dns', 'tls', 'crypto', 'fs/promises'];

test('the agent starts, as the image runs it, without loading HTTPS, HTTP/2, DNS, TLS, crypto or fs/promises', async (t) => {
  const image = agentImageTag()!;
  const { Config } = await docker.getImage(image).inspect();
  const [node, entry] = Config.Entrypoint as string[];
  // The entry point names boot.cjs in the image's working directory.
  const boot = posix.resolve(Config.WorkingDir, entry!);
  // The image's own entry point, with a watch on the socket's directory that prints the
  // modules loaded so far once the socket appears, which is when the host counts it warm.
  const probe = `
    const { existsSync, watch } = require('node:fs');
    const socket = ${JSON.stringify(`${AGENT_IO_DIR}/${AGENT_SOCKET_NAME}`)};
    watch(${JSON.stringify(AGENT_IO_DIR)}, () => {
      if (!existsSync(socket)) return;
      process.stdout.write(JSON.stringify(process.moduleLoadList), () => process.exit(0));
    });
    require(${JSON.stringify(boot)});`;
  let output = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      output += chunk.toString('utf8');
      done();
    },
  });
  const [{ StatusCode }] = (await docker.run(image, [], stdout, {
    Entrypoint: [node!, '-e', probe],
    Labels: { 'io.warmbox.test': 'agent-start' },
    HostConfig: { NetworkMode: 'none', AutoRemove: true },
  })) as [{ StatusCode: number }];
  t.is(StatusCode, 0, output);

  const builtins = (JSON.parse(output) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  // What a start does load: the probe is not looking in the wrong place.
  t.true(builtins.includes('http') && builtins.includes('child_process'), builtins.join(' '));
  t.deepEqual(NEVER_AT_START.filter((name) => builtins.includes(name)), []);
});
