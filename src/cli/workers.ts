// `courier run --workers N`: one supervisor process and N worker processes (node:cluster), each a
// full `courier run` in the same consumer groups — Kafka spreads the partitions, nothing
// home-made coordinates them. The supervisor restarts a worker that crashed, forwards SIGTERM and
// SIGINT for a graceful stop, and gives up (exit with the worker's code) when a worker cannot
// even start, which no restart would fix (missing topics, an unreachable dependency).
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../telemetry/logger.ts';

/** Messages a worker sends its supervisor. */
export type WorkerMessage = { courier: 'started' };

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
}

export function superviseWorkers(o: SuperviseOptions): Promise<number> {
  const log = o.logger.child({ component: 'supervisor' });
  const baseDelay = o.restartDelayMs ?? 1000;
  let delay = baseDelay;
  let stopping = false;
  const started = new WeakSet<Worker>();
  const live = new Set<Worker>();

  return new Promise<number>((resolve) => {
    let exitCode = 0;
    const finishIfDone = () => {
      if (stopping && live.size === 0) resolve(exitCode);
    };
    const fork = () => {
      const worker = cluster.fork();
      live.add(worker);
      worker.on('message', (m: WorkerMessage) => {
        if (m?.courier === 'started') {
          started.add(worker);
          delay = baseDelay;
          log.info({ worker: worker.id, pid: worker.process.pid }, 'worker started');
        }
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
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

/**
 * V8 heap flags for a worker, sized to what it may hold: a young generation of 8 MiB (V8's
 * default grows it far larger under a high allocation rate, which is most of a busy worker's
 * resident memory) and an old generation of 160 MiB plus 1.5 times every destination's window
 * bytes. None when NODE_OPTIONS already sizes the heap: the operator's choice wins.
 */
export function workerHeapFlags(
  windowBytes: readonly number[],
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  if (/--max-(old|semi)-space-size/.test(nodeOptions)) return [];
  const windowsMiB = windowBytes.reduce((sum, b) => sum + b, 0) / (1024 * 1024);
  return ['--max-semi-space-size=8', `--max-old-space-size=${Math.ceil(160 + 1.5 * windowsMiB)}`];
}
