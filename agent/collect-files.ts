/**
 * Copies the files a job asked back (`returnFiles`) out of the program's working directory
 * into the directory the host bind-mounts, where the host reads them as the bytes they are.
 *
 * It runs once the program and every process of it have ended, as root, in a directory the
 * program shaped as it liked. So it trusts nothing it finds: symlinks are never followed (a
 * file is opened with O_NOFOLLOW and checked again on its descriptor), only regular files on
 * the working directory's own file system are read (no FIFO, socket or device, which could
 * block or reach outside), names that are not UTF-8 are skipped, and the walk and the copy
 * are bounded in entries, depth, files, bytes and time. A file is read for at most the size
 * it had when it was opened, so a file that grows cannot make the copy run on.
 */
import * as fs from 'node:fs';
import { constants, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import picomatch from 'picomatch';
import type { AgentFile, ReturnedFileEntry, ReturnFilesRequest } from '../contract/protocol.js';

/** Directory entries looked at, whatever they are: a tree of millions ends here. */
const MAX_ENTRIES = 100_000;
/** Directories below the working directory: deeper trees are not walked into. */
const MAX_DEPTH = 32;
const COPY_CHUNK_BYTES = 1024 * 1024;

/**
 * SHA-256, from node:crypto loaded on first use: a job that returns files needs it, and
 * loading it at every container start would cost each start for jobs that do not.
 */
function sha256(): import('node:crypto').Hash {
  return process.getBuiltinModule('node:crypto').createHash('sha256');
}
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

// node:fs/promises is not used in the agent: loading it (with the internal readline and
// stream modules behind it) costs every container start some 4.5 ms of CPU, for a job that
// may return no files at all.
const open = promisify(fs.open);
const close = promisify(fs.close);
const fstat = promisify(fs.fstat);
const read = promisify(fs.read);
const write = promisify(fs.write);
const stat = promisify(fs.stat);
const mkdir = promisify(fs.mkdir);
const readdir = promisify(fs.readdir);
const rm = promisify(fs.rm);

export interface CollectedFiles {
  readonly files: ReturnedFileEntry[];
  /** A matching file was left out: see ReturnedFileEntry and AgentRunResponse. */
  readonly truncated: boolean;
}

/** What the job put in the working directory before the code ran: path -> SHA-256 of the bytes. */
export type InputDigests = ReadonlyMap<string, string>;

/**
 * The digests of the job's own files and of the code's file (MAIN_FILE_NAME), as the runner
 * writes them, so that collectFiles can tell what the program made or changed from what the
 * job brought. Only those a pattern matches without naming them exactly: no other is ever
 * compared, so no other is hashed on the job's way in.
 */
export function digestInputs(patterns: readonly string[], mainFileName: string, code: string, files: readonly AgentFile[]): InputDigests {
  const isMatch = picomatch(patterns as string[]);
  const named = new Set(patterns);
  const compared = (path: string) => isMatch(path) && !named.has(path);
  const digests = new Map<string, string>();
  // The runner writes the code without a leading byte-order mark.
  if (compared(mainFileName)) digests.set(mainFileName, sha256().update(code.replace(/^\uFEFF/, ''), 'utf8').digest('hex'));
  for (const file of files) if (compared(file.path)) digests.set(file.path, sha256().update(file.content, file.encoding).digest('hex'));
  return digests;
}

/**
 * The digests of the files already under `root` that the patterns match without naming them:
 * a session's cell, before it runs, so that its `returnFiles` bring back what the cell made or
 * changed, not what earlier cells left. Bounded as collectFiles is, by the request's time.
 */
export async function digestExisting(root: string, request: ReturnFilesRequest): Promise<InputDigests> {
  const digests = new Map<string, string>();
  if (request.patterns.length === 0) return digests;
  const deadline = performance.now() + request.timeoutMs;
  const rootDevice = (await stat(root)).dev;
  const named = new Set(request.patterns);
  const found = await findMatches(root, request.patterns, deadline);
  for (const path of found.paths) {
    if (named.has(path)) continue;
    const digest = await digestOf(join(root, path), rootDevice, deadline);
    if (digest !== undefined) digests.set(path, digest);
  }
  return digests;
}

/**
 * Finds the regular files under `root` that match, in path order, and copies them to
 * `outDir/<i>`: those the program made or changed. A file of `inputs` (the job's own, matched
 * but not named exactly: digestInputs) whose bytes are still the job's does not come back.
 */
export async function collectFiles(root: string, request: ReturnFilesRequest, outDir: string, inputs: InputDigests = new Map()): Promise<CollectedFiles> {
  if (request.patterns.length === 0) return { files: [], truncated: false };
  const deadline = performance.now() + request.timeoutMs;
  const rootDevice = (await stat(root)).dev;
  // Emptied first: a session's earlier cell may have left its files there (the host has read them).
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const found = await findMatches(root, request.patterns, deadline);
  let truncated = found.truncated;
  const files: ReturnedFileEntry[] = [];
  let bytesLeft = request.maxBytes;
  for (const path of found.paths.sort(byCodePoint)) {
    if (files.length === request.maxFiles || performance.now() > deadline) {
      truncated = true;
      break;
    }
    const input = inputs.get(path);
    if (input !== undefined && (await digestOf(join(root, path), rootDevice, deadline)) === input) continue;
    const copied = await copyOut(join(root, path), rootDevice, join(outDir, String(files.length)), bytesLeft, deadline);
    if (copied === undefined) {
      truncated = true;
      continue;
    }
    files.push({ path, size: copied });
    bytesLeft -= copied;
  }
  return { files, truncated };
}

interface Matches {
  readonly paths: string[];
  readonly truncated: boolean;
}

/** Walks the directories the patterns can reach, without following symlinks. */
async function findMatches(root: string, patterns: readonly string[], deadline: number): Promise<Matches> {
  const isMatch = picomatch(patterns as string[]);
  // Only the directories on the way to, or below, a pattern's fixed part ('out' of 'out/*.png').
  const bases = patterns.map((pattern) => picomatch.scan(pattern).base);
  const worthEntering = (dir: string) => bases.some((base) => base === '' || isWithin(dir, base) || isWithin(base, dir));
  const paths: string[] = [];
  let truncated = false;
  let entries = 0;
  const pending: Array<[dir: string, depth: number]> = [['', 0]];
  while (pending.length > 0) {
    const [dir, depth] = pending.pop()!;
    let listing: Dirent<Buffer>[];
    try {
      listing = await readdir(join(root, dir), { withFileTypes: true, encoding: 'buffer' });
    } catch {
      // Gone, or made unreadable: nothing of it can come back.
      truncated = true;
      continue;
    }
    for (const entry of listing) {
      if (++entries > MAX_ENTRIES || performance.now() > deadline) return { paths, truncated: true };
      const name = utf8Name(entry.name);
      if (name === undefined) {
        truncated = true;
        continue;
      }
      const path = dir === '' ? name : `${dir}/${name}`;
      if (entry.isDirectory()) {
        if (!worthEntering(path)) continue;
        if (depth + 1 > MAX_DEPTH) truncated = true;
        else pending.push([path, depth + 1]);
      } else if (isMatch(path)) {
        // Symlinks, FIFOs and sockets that match are left out: only regular files come back.
        if (entry.isFile()) paths.push(path);
        else truncated = true;
      }
    }
  }
  return { paths, truncated };
}

/**
 * Copies one file to `target`, reading at most the size it has once open. Undefined when it
 * cannot come back: not a regular file of the working directory's file system (a symlink
 * swapped in, a mount), larger than the bytes left, or the time ran out.
 */
async function copyOut(source: string, device: number, target: string, bytesLeft: number, deadline: number): Promise<number | undefined> {
  const copied = await withRegularFile(source, device, async (input, size) => {
    if (size > bytesLeft) return undefined;
    const output = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    try {
      return await readChunks(input, size, deadline, async (chunk) => {
        await write(output, chunk, 0, chunk.length);
      });
    } finally {
      await close(output);
    }
  });
  // A copy cut short leaves no file behind: the next one takes its name.
  if (copied === undefined) await rm(target, { force: true });
  return copied;
}

/** The SHA-256 of a file, read as copyOut reads it; undefined where copyOut would copy nothing. */
async function digestOf(source: string, device: number, deadline: number): Promise<string | undefined> {
  return withRegularFile(source, device, async (input, size) => {
    const hash = sha256();
    const bytes = await readChunks(input, size, deadline, (chunk) => void hash.update(chunk));
    return bytes === undefined ? undefined : hash.digest('hex');
  });
}

/**
 * Opens `source` without following a symlink or blocking, and hands it, with its size once
 * open, to `use` if it is a regular file on `device`. Undefined otherwise, or if `use` fails.
 */
async function withRegularFile<T>(source: string, device: number, use: (input: number, size: number) => Promise<T | undefined>): Promise<T | undefined> {
  let input: number;
  try {
    input = await open(source, OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const info = await fstat(input);
    if (!info.isFile() || info.dev !== device) return undefined;
    return await use(input, info.size);
  } catch {
    return undefined;
  } finally {
    await close(input);
  }
}

/** Reads at most `size` bytes of `input`, a chunk at a time; the bytes read, or undefined if the deadline came first. */
async function readChunks(input: number, size: number, deadline: number, onChunk: (chunk: Buffer) => Promise<void> | void): Promise<number | undefined> {
  const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(size, 1)));
  let done = 0;
  while (done < size) {
    if (performance.now() > deadline) return undefined;
    const { bytesRead } = await read(input, buffer, 0, Math.min(buffer.length, size - done), done);
    if (bytesRead === 0) break;
    await onChunk(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return done;
}

function utf8Name(raw: Buffer): string | undefined {
  const name = raw.toString('utf8');
  return Buffer.byteLength(name) === raw.length && Buffer.from(name, 'utf8').equals(raw) ? name : undefined;
}

/** `path` is `dir` or inside it; '' is the root, which holds everything. */
function isWithin(path: string, dir: string): boolean {
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
