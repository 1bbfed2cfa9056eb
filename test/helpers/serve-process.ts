import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

/**
 * Waits for a `warmbox serve` process to say where it listens. Resolves with the address and
 * what it printed on stderr so far and later; rejects if it exits first.
 */
export function listening(child: ChildProcess): Promise<{ readonly address: string; stderr(): string }> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve({ address: match[1]!, stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`warmbox serve exited with ${code}: ${stderr}`)));
  });
}

/** A port on 127.0.0.1 that nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
