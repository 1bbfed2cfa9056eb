/**
 * The labels on every container warmbox creates: what its sweeps, `docker ps --filter` and an
 * operator's tools go by. A fact of the engine's view of warmbox, shared by the pool, the bench
 * and the tests.
 */
export const LABELS = {
  /** Present on every warmbox container. */
  managed: 'io.warmbox.managed',
  /** The Sandbox instance that made it. */
  pool: 'io.warmbox.pool',
  /** The process that made it: `host:pid:start-time`, so a reused pid is not mistaken for it. */
  owner: 'io.warmbox.owner',
  /** The pid namespace in which that pid and start time mean something: `pid:[inode]`. */
  ownerPidNamespace: 'io.warmbox.owner-pid-ns',
  /**
   * `id@started-at` of the container the owner ran in, when it ran in one on the same engine
   * (`warmbox serve` in its image): whether that container still runs, since it started
   * then, is the one thing a process in another pid namespace can tell about the owner.
   */
  ownerContainer: 'io.warmbox.owner-container',
  /** The host directory bind-mounted for its socket, removed with it. */
  ioDir: 'io.warmbox.io-dir',
} as const;

