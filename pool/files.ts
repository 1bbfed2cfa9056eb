/**
 * Files in and out of a job, on the host's side: the caller's `files` and `returnFiles`
 * checked before any container is used, and the returned files read from the directory the
 * agent copied them to.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { type AgentFile, type ReturnedFileEntry } from '../contract/protocol.js';
import { MAIN_FILE_NAME, RETURNED_FILES_DIR } from '../contract/layout.js';
import { AgentProtocolError, InvalidArgumentError } from '../contract/errors.js';
import { MAX_JOB_FILES, MAX_PATH_BYTES, MAX_RETURN_PATTERNS } from '../contract/limits.js';
import { describe } from './options.js';

/** A job's `files`: path relative to the working directory -> text (UTF-8) or bytes. */
export type JobFiles = Readonly<Record<string, string | Uint8Array>>;

/** A file a job returned. */
export interface ReturnedFile {
  /** Relative to the working directory, as the pattern matched it. */
  readonly path: string;
  readonly size: number;
  readonly data: Buffer;
}

// Linux's own limit on a name (on a path: MAX_PATH_BYTES).
const MAX_NAME_BYTES = 255;
// tmpfs gives every file whole pages.
const PAGE_BYTES = 4096;

/** Bytes a file of `size` takes in the working directory (a tmpfs): whole pages. */
export function bytesOnDisk(size: number): number {
  return Math.ceil(size / PAGE_BYTES) * PAGE_BYTES;
}

export interface CheckedFiles {
  readonly files: AgentFile[];
  /** Bytes the files take in the working directory, page-rounded. */
  readonly diskBytes: number;
  /** Bytes the files add to the job's size (MAX_JOB_BYTES). */
  readonly contentBytes: number;
}

/**
 * Checks a job's `files` and turns them into the agent's form. Paths are normalised; one that
 * is absolute, leaves the directory, is empty, holds NUL, repeats another, is the code's own
 * file, or is both a file and a directory is refused, naming it.
 */
export function checkFiles(files: unknown): CheckedFiles {
  if (files === undefined) return { files: [], diskBytes: 0, contentBytes: 0 };
  if (typeof files !== 'object' || files === null || Array.isArray(files) || files instanceof Uint8Array) {
    throw new InvalidArgumentError('job.files', `must be an object of path -> string or bytes, got ${describe(files)}`);
  }
  const entries = Object.entries(files as Record<string, unknown>);
  if (entries.length > MAX_JOB_FILES) throw new InvalidArgumentError('job.files', `holds ${entries.length} files; at most ${MAX_JOB_FILES} are accepted`);
  const checked: AgentFile[] = [];
  const paths = new Set<string>();
  let diskBytes = 0;
  let contentBytes = 0;
  for (const [given, content] of entries) {
    const field = `job.files[${JSON.stringify(given)}]`;
    const path = checkRelativePath(field, given);
    if (path === MAIN_FILE_NAME) throw new InvalidArgumentError(field, `is where the code is written: the code is ${MAIN_FILE_NAME}`);
    if (paths.has(path)) throw new InvalidArgumentError(field, `is the same file as another path once normalised (${path})`);
    paths.add(path);
    let file: AgentFile;
    let size: number;
    if (typeof content === 'string') {
      file = { path, content, encoding: 'utf8' };
      size = Buffer.byteLength(content);
    } else if (content instanceof Uint8Array) {
      file = { path, content: Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64'), encoding: 'base64' };
      size = content.byteLength;
    } else {
      throw new InvalidArgumentError(field, `must be a string or bytes (a Buffer or Uint8Array), got ${describe(content)}`);
    }
    checked.push(file);
    diskBytes += bytesOnDisk(size);
    contentBytes += size;
  }
  for (const path of paths) {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const dir = path.slice(0, slash);
      if (paths.has(dir)) throw new InvalidArgumentError(`job.files[${JSON.stringify(dir)}]`, `is both a file and a directory (of ${path})`);
    }
  }
  return { files: checked, diskBytes, contentBytes };
}

/** Checks `returnFiles`: glob patterns relative to the working directory. */
export function checkReturnFiles(patterns: unknown): string[] {
  if (patterns === undefined) return [];
  if (!Array.isArray(patterns)) throw new InvalidArgumentError('job.returnFiles', `must be an array of glob patterns, got ${describe(patterns)}`);
  if (patterns.length > MAX_RETURN_PATTERNS) {
    throw new InvalidArgumentError('job.returnFiles', `holds ${patterns.length} patterns; at most ${MAX_RETURN_PATTERNS} are accepted`);
  }
  return patterns.map((pattern: unknown, index) => {
    const field = `job.returnFiles[${index}]`;
    if (typeof pattern !== 'string') throw new InvalidArgumentError(field, `must be a glob pattern, got ${describe(pattern)}`);
    if (pattern === '' || pattern.includes('\0')) throw new InvalidArgumentError(field, 'must be a non-empty pattern without NUL');
    if (Buffer.byteLength(pattern) > MAX_PATH_BYTES) throw new InvalidArgumentError(field, `is longer than ${MAX_PATH_BYTES} bytes`);
    if (pattern.startsWith('/')) throw new InvalidArgumentError(field, 'must be relative to the working directory, not absolute');
    if (pattern.split('/').includes('..')) throw new InvalidArgumentError(field, 'must not leave the working directory (..)');
    return pattern;
  });
}

function checkRelativePath(field: string, given: string): string {
  if (given === '') throw new InvalidArgumentError(field, 'is an empty path');
  if (given.includes('\0')) throw new InvalidArgumentError(field, 'must not contain NUL');
  if (given.startsWith('/')) throw new InvalidArgumentError(field, 'must be relative to the working directory, not absolute');
  if (given.endsWith('/')) throw new InvalidArgumentError(field, 'names a directory, not a file');
  const path = posix.normalize(given);
  if (path === '..' || path.startsWith('../')) throw new InvalidArgumentError(field, 'leaves the working directory');
  if (path === '.' || path === '') throw new InvalidArgumentError(field, 'names the working directory itself, not a file');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new InvalidArgumentError(field, `is longer than ${MAX_PATH_BYTES} bytes`);
  if (path.split('/').some((name) => Buffer.byteLength(name) > MAX_NAME_BYTES)) {
    throw new InvalidArgumentError(field, `has a name longer than ${MAX_NAME_BYTES} bytes`);
  }
  return path;
}

/**
 * Reads the files the agent copied out, as its reply lists them. The agent is inside the
 * sandbox, so the host holds it to its word: each entry within the job's limits, and each file
 * a regular file (never a symlink it could have put there) of exactly the size it said.
 */
export async function readReturnedFiles(
  ioDir: string,
  entries: readonly ReturnedFileEntry[],
  limits: { readonly maxFiles: number; readonly maxBytes: number },
): Promise<ReturnedFile[]> {
  const total = entries.reduce((sum, entry) => sum + entry.size, 0);
  if (entries.length > limits.maxFiles || total > limits.maxBytes) {
    throw new AgentProtocolError(`the agent returned ${entries.length} files of ${total} bytes, past the job's limits`);
  }
  const files: ReturnedFile[] = [];
  for (const [index, { path, size }] of entries.entries()) {
    const handle = await open(posix.join(ioDir, RETURNED_FILES_DIR, String(index)), constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: Error) => {
      throw new AgentProtocolError(`the agent listed ${path} but its copy cannot be opened: ${error.message}`);
    });
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size !== size) throw new AgentProtocolError(`the agent's copy of ${path} is not the ${size}-byte file it listed`);
      const data = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(data, 0, size, 0);
      if (bytesRead !== size) throw new AgentProtocolError(`the agent's copy of ${path} ended after ${bytesRead} of ${size} bytes`);
      files.push({ path, size, data });
    } finally {
      await handle.close();
    }
  }
  return files;
}
