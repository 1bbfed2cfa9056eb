/**
 * The agent inside the container, started by boot.cjs: starts the Python runner, then listens
 * on the Unix socket in the directory the host bind-mounts. The socket appears only once the
 * runner is ready, so its appearance is the host's readiness event.
 */
import { access, chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppOptions, JobRunner } from './app.js';
import { containerCgroup } from './cgroup.js';
import { AGENT_ROUTES, MAX_REQUEST_BYTES, RUN_CONTENT_TYPE, decodeRunAnswer, encodeRunRequest, type AgentConfig, type AgentRunRequest } from '../contract/protocol.js';
import { AGENT_CONFIG_FILE_NAME, AGENT_ERROR_FILE_NAME, AGENT_IO_DIR, AGENT_SOCKET_NAME, PROGRAM_UID, PYTHON_PATH, RETURNED_FILES_DIR, RUNNER_CODE_PATH, WORK_DIR } from '../contract/layout.js';
import { PythonRunner } from './python-runner.js';

/** Starts the agent; on failure, leaves the reason where the host looks and exits. */
export async function main(): Promise<void> {
  try {
    // Python starts first and imports its modules in its own process while this one loads
    // Fastify, which is imported only now for that reason.
    const runnerReady = startRunner();
    runnerReady.catch(() => {});
    // A file-system call starts libuv's worker thread now, not during some later job, when a
    // program may have used every task the pids limit leaves (AGENT_TASKS counts it).
    await new Promise((resolve) => access(AGENT_IO_DIR, resolve));
    const app = await loadApp(runnerReady);
    // The socket file appears at bind(), before listen(): a host that connected then would
    // be refused. It is bound under another name and renamed once it accepts connections
    // and Python is ready.
    const bindPath = join(AGENT_IO_DIR, `${AGENT_SOCKET_NAME}.binding`);
    await app.listen({ path: bindPath });
    // The host may run as any user; the program cannot reach the socket whatever its mode,
    // because the directory above it is 0700 root.
    chmodSync(bindPath, 0o666);
    await runnerReady;
    renameSync(bindPath, join(AGENT_IO_DIR, AGENT_SOCKET_NAME));
  } catch (error) {
    // The container keeps no logs: this file is how the host learns why it did not start.
    // Written whole under another name, then renamed: the host reads it as soon as it appears.
    const errorPath = join(AGENT_IO_DIR, AGENT_ERROR_FILE_NAME);
    writeFileSync(`${errorPath}.writing`, error instanceof Error ? (error.stack ?? error.message) : String(error));
    renameSync(`${errorPath}.writing`, errorPath);
    process.exit(1);
  }
}

/**
 * Runs, once at image build, what every start and every job will run: a real job through
 * the app, as the program's user. V8's code cache written after it (boot.cjs) then holds all
 * those functions compiled, so a container neither compiles them as it starts nor as it
 * runs its one job. No socket is opened.
 */
export async function warmUpForCodeCache(): Promise<void> {
  const app = await loadApp(startRunner());
  await app.ready();
  await app.inject({ method: 'GET', url: AGENT_ROUTES.health });
  await app.inject({ method: 'POST', url: AGENT_ROUTES.run, payload: { code: 1 } });
  const job: AgentRunRequest = {
    code: 'print("warm")\nresult = {"total": sum(data["xs"])}',
    stdin: '',
    env: { WARM: 'up' },
    timeoutMs: 10_000,
    cpuTimeMs: 10_000,
    maxOutputBytes: 1024,
    stopOnOutputLimit: true,
    stdinOpen: false,
    files: [{ path: 'in/warm.txt', content: 'd2FybQ==', encoding: 'base64' }],
    returnFiles: { patterns: ['in/*.txt'], maxFiles: 1, maxBytes: 1024, timeoutMs: 1000 },
    rlimits: { fileSizeBytes: 1 << 20, openFiles: 64, stackBytes: 8 << 20 },
  };
  const payload = Buffer.concat(encodeRunRequest(job, '{"xs": [1, 2, 3]}'));
  const answer = await app.inject({ method: 'POST', url: AGENT_ROUTES.run, headers: { 'content-type': RUN_CONTENT_TYPE }, payload });
  if (answer.statusCode !== 200 || decodeRunAnswer(answer.rawPayload).response.status !== 'ok') throw new Error(`the warm-up job failed: ${answer.body}`);
  await app.close();
}

function startRunner(): Promise<PythonRunner> {
  return PythonRunner.start({
    pythonPath: PYTHON_PATH,
    runnerPath: RUNNER_CODE_PATH,
    cwd: WORK_DIR,
    uid: PROGRAM_UID,
    gid: PROGRAM_UID,
    cgroup: containerCgroup,
    preload: readConfig().preload,
    returnedFilesDir: join(AGENT_IO_DIR, RETURNED_FILES_DIR),
  });
}

/**
 * The host's configuration, read once and closed: nothing of it stays in the agent's
 * environment or among its open files, which gVisor's /proc shows to the program. The image's
 * warm-up runs without one.
 */
function readConfig(): AgentConfig {
  try {
    return JSON.parse(readFileSync(join(AGENT_IO_DIR, AGENT_CONFIG_FILE_NAME), 'utf8')) as AgentConfig;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { preload: [] };
    throw error;
  }
}

async function loadApp(runner: Promise<JobRunner>) {
  const [{ buildApp }, { precompiled }, { default: compiled }] = await Promise.all([
    import('./app.js'),
    import('./compiled-schemas.js'),
    import('warmbox:compiled-schemas'),
  ]);
  const options: AppOptions = { bodyLimitBytes: MAX_REQUEST_BYTES, compilers: precompiled(compiled) };
  return buildApp(runner, options);
}
