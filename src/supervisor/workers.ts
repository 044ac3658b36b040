// `courier run --workers N`: one supervisor process and N worker processes (node:cluster), each a
// full `courier run` in the same consumer groups — Kafka spreads the partitions, nothing
// home-made coordinates them. The supervisor restarts a worker that crashed, forwards SIGTERM and
// SIGINT for a graceful stop, and gives up (exit with the worker's code) when a worker cannot
// even start, which no restart would fix (missing topics, an unreachable dependency). It owns the
// configuration: a worker starts with the supervisor's (a restarted worker never picks up a file
// the supervisor refused), and a reload is validated once here and handed to every worker.

import cluster, { type Worker } from 'node:cluster';
import v8 from 'node:v8';
import type { CourierConfig } from '../config/schema.ts';
import type { ReloadResult } from '../reload/reloader.ts';
import type { Logger } from '../telemetry/logger.ts';

/** Messages a worker sends its supervisor. */
export type WorkerMessage =
  | { courier: 'started' }
  | { courier: 'config?' }
  | { courier: 'reloaded'; id: number; result: ReloadResult };

/** Messages the supervisor sends a worker. */
export type SupervisorMessage =
  | { courier: 'config'; config: CourierConfig }
  | { courier: 'reload'; id: number; config: CourierConfig }
  /** The supervisor refused a reload (or found the file invalid): the workers' metrics say so. */
  | { courier: 'reload-rejected'; problems: string[] };

/** In a worker: the configuration its supervisor runs, or undefined when none answers in time. */
export function configFromSupervisor(timeoutMs = 10_000): Promise<CourierConfig | undefined> {
  if (!cluster.isWorker || !process.send) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const onMessage = (m: SupervisorMessage) => {
      if (m?.courier === 'config') done(m.config);
    };
    const done = (config: CourierConfig | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(config);
    };
    process.on('message', onMessage);
    process.send?.({ courier: 'config?' } satisfies WorkerMessage);
  });
}

/**
 * In a worker: applies each reload its supervisor hands over, and answers with the result; hears
 * of the reloads the supervisor rejected before any worker saw them.
 */
export function onSupervisorReload(
  apply: (config: CourierConfig) => Promise<ReloadResult>,
  rejected: (problems: string[]) => void,
): void {
  if (!cluster.isWorker) return;
  process.on('message', (m: SupervisorMessage) => {
    if (m?.courier === 'reload-rejected') rejected(m.problems);
    if (m?.courier !== 'reload') return;
    void apply(m.config).then((result) => {
      if (process.connected)
        process.send?.({ courier: 'reloaded', id: m.id, result } satisfies WorkerMessage);
    });
  });
}

/**
 * The supervisor's side of reloads: the workers that have started, and one reload handed to all
 * of them at once, answered when each has applied it (or said why not).
 */
export class WorkerReloads {
  private readonly workers = new Set<Worker>();
  private nextId = 0;
  private readonly pending = new Map<number, { replies: Map<number, ReloadResult>; wake: () => void }>();

  add(worker: Worker): void {
    this.workers.add(worker);
  }

  delete(worker: Worker): void {
    this.workers.delete(worker);
    for (const p of this.pending.values()) p.wake();
  }

  /** Tells every started worker that a reload was rejected (their reload metrics go to 0). */
  rejected(problems: string[]): void {
    for (const w of this.workers)
      w.send({ courier: 'reload-rejected', problems } satisfies SupervisorMessage);
  }

  /** Called with every message a worker sends. */
  receive(worker: Worker, m: WorkerMessage): void {
    if (m?.courier !== 'reloaded') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    p.replies.set(worker.id, m.result);
    p.wake();
  }

  /**
   * Hands `config` to every started worker; resolves with each one's result (a worker that exits
   * meanwhile has none: it restarts with the supervisor's configuration anyway).
   */
  async broadcast(
    config: CourierConfig,
    timeoutMs: number,
  ): Promise<Array<{ worker: number; result: ReloadResult | undefined }>> {
    const id = ++this.nextId;
    const targets = [...this.workers];
    const replies = new Map<number, ReloadResult>();
    const deadline = Date.now() + timeoutMs;
    try {
      await new Promise<void>((resolve) => {
        const check = () => {
          const waiting = targets.filter((w) => this.workers.has(w) && !replies.has(w.id));
          if (waiting.length === 0 || Date.now() >= deadline) {
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(check, timeoutMs);
        this.pending.set(id, { replies, wake: check });
        for (const w of targets) w.send({ courier: 'reload', id, config } satisfies SupervisorMessage);
        check();
      });
    } finally {
      this.pending.delete(id);
    }
    return targets.map((w) => ({ worker: w.id, result: replies.get(w.id) }));
  }
}

export function isWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker: tells the supervisor that start-up is done. */
export function reportStarted(): void {
  if (cluster.isWorker) process.send?.({ courier: 'started' } satisfies WorkerMessage);
}

/** In a worker, once `run` is over: closes the channel to the supervisor so the process can exit. */
export function leaveSupervisor(): void {
  if (cluster.isWorker && process.connected) process.disconnect();
}

/** In a worker: calls `stop` when the supervisor is gone (killed), so no worker is orphaned. */
export function onSupervisorGone(stop: () => void): void {
  if (cluster.isWorker) process.once('disconnect', stop);
}

export interface SuperviseOptions {
  workers: number;
  /** Extra Node flags for the workers (heap sizing). */
  execArgv?: string[];
  logger: Logger;
  /** First delay before restarting a crashed worker; doubles while workers keep crashing. */
  restartDelayMs?: number;
  /** The configuration a starting worker runs (the supervisor's current one). */
  config?: () => CourierConfig;
  /** Where started workers are registered for reloads. */
  reloads?: WorkerReloads;
}

export function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const log = o.logger.child({ component: 'supervisor' });
  const baseDelay = o.restartDelayMs ?? 1000;
  let delay = baseDelay;
  let stopping = false;
  const started = new WeakSet<Worker>();
  /** The configuration each worker was started with. */
  const given = new WeakMap<Worker, CourierConfig>();
  const live = new Set<Worker>();

  return new Promise<number>((resolve) => {
    let exitCode = 0;
    /** Kills the workers still running a while after a stop began. */
    let bound: NodeJS.Timeout | undefined;
    const finishIfDone = () => {
      if (stopping && live.size === 0) {
        clearTimeout(bound);
        resolve(exitCode);
      }
    };
    const fork = () => {
      const worker = cluster.fork();
      live.add(worker);
      worker.on('message', (m: WorkerMessage) => {
        if (m?.courier === 'started') {
          started.add(worker);
          o.reloads?.add(worker);
          // A reload happened while it started: it runs what it was given; hand it the current one.
          const current = o.config?.();
          if (current && given.get(worker) !== current)
            worker.send({ courier: 'reload', id: 0, config: current } satisfies SupervisorMessage);
          delay = baseDelay;
          log.info({ worker: worker.id, pid: worker.process.pid }, 'worker started');
        } else if (m?.courier === 'config?' && o.config) {
          const config = o.config();
          given.set(worker, config);
          worker.send({ courier: 'config', config } satisfies SupervisorMessage);
        } else o.reloads?.receive(worker, m);
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        o.reloads?.delete(worker);
        if (stopping) return finishIfDone();
        if (!started.has(worker) && code !== null && code !== 0) {
          // It never started: a configuration or dependency problem that a restart will not fix.
          log.error({ worker: worker.id, code }, 'worker failed to start; stopping every worker');
          exitCode = code;
          stopAll('SIGTERM');
          return;
        }
        log.error({ worker: worker.id, code, signal, restartInMs: delay }, 'worker exited; restarting it');
        const wait = delay;
        delay = Math.min(delay * 2, 30_000);
        setTimeout(() => {
          if (!stopping) fork();
        }, wait);
      });
    };
    const stopAll = (signal: NodeJS.Signals) => {
      stopping = true;
      for (const w of live) w.process.kill(signal);
      // Each worker bounds its own stop by shutdownTimeoutMs; one that is still there a few
      // seconds after that is killed, so the supervisor always exits.
      if (signal !== 'SIGKILL' && !bound) {
        const graceMs = (o.config?.().shutdownTimeoutMs ?? 30_000) + 5_000;
        bound = setTimeout(() => {
          if (live.size === 0) return;
          log.error(
            { workers: [...live].map((w) => w.process.pid), graceMs },
            'workers still running after the stop bound: killing them',
          );
          exitCode = exitCode || 1;
          for (const w of live) w.process.kill('SIGKILL');
        }, graceMs);
        bound.unref();
      }
      finishIfDone();
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: killing every worker');
        exitCode = 1;
        stopAll('SIGKILL');
        return;
      }
      log.info({ signal, workers: live.size }, 'stopping: every worker finishes its in-flight work');
      stopAll('SIGTERM');
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
    cluster.setupPrimary({ execArgv: [...process.execArgv, ...(o.execArgv ?? [])] });
    log.info({ workers: o.workers, execArgv: o.execArgv ?? [] }, 'starting workers');
    for (let i = 0; i < o.workers; i++) fork();
  });
}

/** Whether Node flags (NODE_OPTIONS, argv) set V8's `flag`, spelt with dashes or underscores. */
function setsFlag(flag: string, ...sources: readonly string[]): boolean {
  return sources.some((source) => source.replaceAll('_', '-').includes(`--${flag}`));
}

/**
 * How much V8 lets the old generation grow past what survived its last full collection, in
 * percent. V8's own factor goes up to 4× when collections are cheap next to the program's work,
 * and most of what a busy worker allocates lives just long enough to be promoted (a message in
 * flight, an attempt record waiting ~50 ms for its batch): left to itself, the heap of one worker
 * draining a backlog grew to 3× its live data, resident until the next full collection. 50 %
 * bounds that (measured in docs/benchmarks.md, "Memory": a quarter to a third less resident
 * memory, at the same CPU per delivery within the bench's noise; 30 % saved little more and
 * cost an eighth more CPU).
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Sets the old generation's growing factor in this process (V8 reads it at every full
 * collection, so it applies after start, unlike the heap sizes). Not when NODE_OPTIONS or the
 * process's own flags set it: the operator's choice wins. Returns the flag applied, if any.
 */
export function applyHeapGrowing(
  nodeOptions = process.env.NODE_OPTIONS ?? '',
  execArgv: readonly string[] = process.execArgv,
): string | undefined {
  if (setsFlag('heap-growing-percent', nodeOptions, ...execArgv)) return undefined;
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
  v8.setFlagsFromString(flag);
  return flag;
}

/**
 * V8 heap flags for a worker, sized to what it may hold: a young generation of 8 MiB (V8's
 * default grows it far larger under a high allocation rate, which is most of a busy worker's
 * resident memory) and an old generation of 160 MiB plus 1.5 times every destination's window
 * bytes. Each only when NODE_OPTIONS does not set it already: the operator's choice wins.
 */
export function workerHeapFlags(
  windowBytes: readonly number[],
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const windowsMiB = windowBytes.reduce((sum, b) => sum + b, 0) / (1024 * 1024);
  return [
    ...(setsFlag('max-semi-space-size', nodeOptions) ? [] : ['--max-semi-space-size=8']),
    ...(setsFlag('max-old-space-size', nodeOptions)
      ? []
      : [`--max-old-space-size=${Math.ceil(160 + 1.5 * windowsMiB)}`]),
  ];
}
