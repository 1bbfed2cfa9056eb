/**
 * The container's layout: who the program is and where everything lives, the one place each
 * of these facts is written. The agent and the pool import them; the image takes them as
 * build arguments (image/build-image.ts passes LAYOUT_BUILD_ARGS to Dockerfile.agent), and the
 * Python runner from the agent, as JSON in its argv[1] (runnerLayout). test/unit/layout.test.ts
 * fails if a copy appears anywhere else.
 */

import { REPORT_LINES, RUNNER_ERROR_TYPES } from './report.js';

/** The program's own uid and gid in the container: it owns nothing but the working directory. */
export const PROGRAM_UID = 10002;

/** The program's working directory (a tmpfs), and its HOME. */
export const WORK_DIR = '/work';

/** Debian's interpreter in the image: the one that runs the program. */
export const PYTHON_PATH = '/usr/bin/python3';

/**
 * agent/runner.py, where Dockerfile.agent puts it: with RUNNER_CODE_PATH, the only agent files
 * the program may read.
 */
export const RUNNER_PATH = '/opt/warmbox/runner/runner.py';

/**
 * RUNNER_PATH compiled to bytecode at image build, which python3 runs: a script given as
 * source is compiled again at every start (4 ms of CPU for runner.py, in every container).
 */
export const RUNNER_CODE_PATH = `${RUNNER_PATH}c`;


/**
 * The agent's share of a container's memory before the agent has measured it, added on top
 * of the program's limit so that `memoryLimitMb` is the program's alone: the share the first
 * container of a pool is created with, and the share under gVisor, whose kernel shows the
 * agent no cgroup to measure. Measured in a warm container (Node 20, cgroup v1): Node holds
 * 10.7 MiB anonymous memory, docker-init 0.05 MiB, the kernel 1.3 MiB for them: 12.2 MiB.
 * Under runc, each container then has the share its agent measured when ready
 * (AgentHealth.agentMemoryBytes), and the next is created with it.
 */
export const AGENT_MEMORY_MB = 13;

/**
 * What the agent may grow by while a job runs, on top of its measured share: its heap as it
 * sends the program's output on (up to 2 MiB was measured for 1 MiB printed at once, or
 * 20,000 lines). The program's limit has this much slack above it, and the program may lose
 * as much of it to the agent: MEMORY_TOLERANCE_MB in limits.ts is what a program can count on.
 */
export const AGENT_MEMORY_MARGIN_MB = 2;

/**
 * Tasks the agent side holds for the container's whole life: docker-init, and Node's main
 * thread, one V8 worker, V8's delayed-task thread, the SIGUSR1 watcher and one libuv worker
 * (the image sets `--v8-pool-size=1` and `UV_THREADPOOL_SIZE=1`, and the agent starts the
 * libuv pool as it boots, so the count never changes while a program runs).
 */
export const AGENT_TASKS = 6;

/** The file name of the agent's socket inside the directory the host bind-mounts. */
export const AGENT_SOCKET_NAME = 'agent.sock';

/** Written by an agent that cannot start, so the host can say why (the container keeps no logs). */
export const AGENT_ERROR_FILE_NAME = 'agent.error';

/**
 * A job's egress proxy, in the same directory: the host listens on it while a job that has
 * network runs, and the agent relays the program's proxy port to it.
 */
export const EGRESS_SOCKET_NAME = 'egress.sock';

/** The port on the container's loopback that a job with network has its proxy at. */
export const EGRESS_PROXY_PORT = 3128;

/**
 * Where the agent writes a job's trust when its sandbox holds secrets: the image's own CA
 * bundle and the sandbox's egress CA, root's and read-only, in the program's /tmp.
 */
export const EGRESS_CA_PATH = '/tmp/warmbox-egress-ca.pem';

/** The image's own bundle of CA certificates, where Debian's ca-certificates puts it (if the image has it). */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * The variables that send a job's HTTP, HTTPS and other clients through its proxy, upper and
 * lower case as clients read them; with `trust`, those that make OpenSSL, requests, pip and
 * curl trust EGRESS_CA_PATH.
 */
export function egressProxyEnv(trust = false): Readonly<Record<string, string>> {
  const proxy = `http://127.0.0.1:${EGRESS_PROXY_PORT}`;
  const proxies = { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, ALL_PROXY: proxy, NO_PROXY: '', http_proxy: proxy, https_proxy: proxy, all_proxy: proxy, no_proxy: '' };
  const bundle = EGRESS_CA_PATH;
  return Object.freeze(trust ? { ...proxies, SSL_CERT_FILE: bundle, REQUESTS_CA_BUNDLE: bundle, PIP_CERT: bundle, CURL_CA_BUNDLE: bundle } : proxies);
}

/** Where that directory is mounted inside the container; its parent is 0700 root, out of the program's reach. */
export const AGENT_IO_DIR = '/run/warmbox/io';

/** Where in that directory the agent copies the files a job returns. */
export const RETURNED_FILES_DIR = 'files';

/**
 * The agent's configuration (AgentConfig), a file the host writes in the io directory before
 * the container starts: not the container's environment, which under gVisor any process of the
 * program can read from /proc/<agent>/environ (gVisor's /proc shows it to every uid).
 */
export const AGENT_CONFIG_FILE_NAME = 'agent.json';

/** The file the code is written to, in WORK_DIR: a job's `files` cannot use its name. */
export const MAIN_FILE_NAME = 'main.py';
/** Where the agent's code is in the image (0700 root): boot.cjs and the bundle. */
export const AGENT_DIR = '/opt/warmbox/agent';
/** matplotlib's font list, built once at image build where matplotlib is installed; the runner copies it into the program's HOME. */
export const MATPLOTLIB_CACHE_DIR = '/opt/warmbox/matplotlib';
/** The runner's file descriptors, as the agent sets them up: the job in, the result out, the program's stderr. */
export const RUNNER_FDS = Object.freeze({ job: 3, result: 4, stderr: 5 });
/** What the runner writes on its result channel once it waits for a job. */
export const RUNNER_READY_LINE = 'ready\n';

/** The runner's layout and framing, as JSON: its argv[1]. */
export function runnerLayout(): string {
  return JSON.stringify({
    mainFileName: MAIN_FILE_NAME,
    matplotlibCacheDir: MATPLOTLIB_CACHE_DIR,
    jobFd: RUNNER_FDS.job,
    resultFd: RUNNER_FDS.result,
    stderrFd: RUNNER_FDS.stderr,
    readyLine: RUNNER_READY_LINE,
    reportLines: REPORT_LINES,
    errorTypes: RUNNER_ERROR_TYPES,
  });
}

/** Dockerfile.agent's build arguments: the layout, as the image must be made for it. */
export const LAYOUT_BUILD_ARGS: Readonly<Record<string, string>> = Object.freeze({
  PROGRAM_UID: String(PROGRAM_UID),
  WORK_DIR,
  RUNNER_PATH,
  RUNNER_CODE_PATH,
  AGENT_DIR,
  AGENT_IO_DIR,
  MATPLOTLIB_CACHE_DIR,
});
