// `courier run`: the pipeline in this process, or a supervisor of `--workers N` worker processes
// that serves the machine's one observability endpoint; signals handled here, in one place:
// SIGTERM/SIGINT stop gracefully, SIGHUP reloads the configuration file (as does a change to the
// file, and `POST /-/reload` when enabled).
import { availableParallelism } from 'node:os';
import type { Role } from '../../app.ts';
import { CourierApp } from '../../app.ts';
import { settledBy } from '../../clock.ts';
import type { ConfigDiff } from '../../config/diff.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { CourierError } from '../../errors.ts';
import { createKafka } from '../../kafka/client.ts';
import { consumerGroups } from '../../kafka/topics.ts';
import { clusterScraper } from '../../observability/metrics.ts';
import { Observability } from '../../observability/observability.ts';
import { Reloader, type ReloadTarget } from '../../reload/reloader.ts';
import { ConfigWatcher } from '../../reload/watcher.ts';
import {
  applyHeapGrowing,
  isWorker,
  leaveSupervisor,
  onSupervisorGone,
  onSupervisorReload,
  reportStarted,
  superviseWorkers,
  WorkerReloads,
  workerHeapFlags,
} from '../../supervisor/workers.ts';
import { PipelineEmitter } from '../../telemetry/events.ts';
import type { Logger } from '../../telemetry/logger.ts';

export interface RunOptions {
  roles: Role[];
  /** Worker processes (`--workers N`); undefined runs everything in this process. */
  workers?: number;
  logger: Logger;
  /** The configuration file, reloaded on SIGHUP. */
  configPath: string;
  /** Reload when the file changes, too (default true). */
  watch?: boolean;
}

/**
 * The stop's last line of defence: the app bounds its own stop by `shutdownTimeoutMs`, and should
 * anything still hold it a second later (a client library's call without a timeout), the process
 * exits anyway. What was not committed is redelivered by the next owner; nothing is lost.
 */
function holdTheBound(boundMs: number, logger: Logger): void {
  const timer = setTimeout(() => {
    logger.error(
      { shutdownTimeoutMs: boundMs },
      'stop did not finish within shutdownTimeoutMs: exiting now (what was not committed is redelivered)',
    );
    logger.flush();
    process.exit(1);
  }, boundMs + 1_000);
  timer.unref();
}

/** How long a supervisor waits for its workers to apply a reload. */
const WORKER_RELOAD_TIMEOUT_MS = 120_000;

/**
 * SIGHUP reloads; with `watch`, so does a change to the file; both once `ready` (start-up) is
 * over. Returns the function that stops them.
 */
function reloadTriggers(reloader: Reloader, ctx: RunOptions, ready: Promise<unknown>): () => void {
  const reload = (trigger: string) => {
    ready.then(
      () => reloader.reload(trigger),
      () => undefined,
    );
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  const watcher =
    ctx.watch === false
      ? undefined
      : new ConfigWatcher({
          path: ctx.configPath,
          logger: ctx.logger,
          onChange: () => reload('file changed'),
        });
  watcher?.start();
  return () => {
    process.off('SIGHUP', onHup);
    watcher?.stop();
  };
}

export async function run(config: CourierConfig, ctx: RunOptions): Promise<number> {
  const workers = ctx.workers ?? availableParallelism();
  if (workers > 1 && !isWorker()) return supervise(config, { ...ctx, workers });
  applyHeapGrowing();
  try {
    return await runApp(config, ctx);
  } finally {
    // A worker's channel to its supervisor would keep the process alive.
    leaveSupervisor();
  }
}

/**
 * The supervisor of `--workers N`: it serves the machine's one observability endpoint, /metrics
 * aggregated over every worker (prom-client's AggregatorRegistry), while the workers serve none.
 */
async function supervise(config: CourierConfig, ctx: RunOptions & { workers: number }): Promise<number> {
  let current = config;
  const reloads = new WorkerReloads();
  const endpoint = new Observability({
    config,
    logger: ctx.logger,
    events: new PipelineEmitter(),
    kafka: createKafka(config, ctx.logger),
    groups: consumerGroups(config),
    scrape: clusterScraper(),
    reload: () => reloader.reload('POST /-/reload'),
  });
  // Validated once here; every worker then applies the very configuration the supervisor loaded.
  const workersTarget: ReloadTarget = {
    get config() {
      return current;
    },
    async apply(next: CourierConfig, _diff: ConfigDiff) {
      current = next;
      await endpoint.setConfig(next);
      const results = await reloads.broadcast(next, WORKER_RELOAD_TIMEOUT_MS);
      const failed = results.filter((r) => r.result && !r.result.ok);
      const silent = results.filter((r) => !r.result);
      if (failed.length + silent.length > 0) {
        throw new CourierError(
          'RELOAD_INCOMPLETE',
          [
            ...failed.map(
              (r) => `worker ${r.worker}: ${r.result && !r.result.ok ? r.result.problems.join('; ') : ''}`,
            ),
            ...silent.map((r) => `worker ${r.worker}: no answer within ${WORKER_RELOAD_TIMEOUT_MS} ms`),
          ].join(' · '),
        );
      }
    },
  };
  const reloadEvents = new PipelineEmitter();
  reloadEvents.on('config-rejected', ({ problems }) => reloads.rejected(problems));
  const reloader = new Reloader({
    path: ctx.configPath,
    target: workersTarget,
    logger: ctx.logger,
    events: reloadEvents,
  });
  await endpoint.start();
  const stopTriggers = reloadTriggers(reloader, ctx, Promise.resolve());
  try {
    const execArgv = workerHeapFlags(config.destinations.map((d) => d.window.bytes));
    return await superviseWorkers({
      workers: ctx.workers,
      logger: ctx.logger,
      execArgv,
      config: () => current,
      reloads,
    });
  } finally {
    stopTriggers();
    // The endpoint's own stop is bounded too: a Kafka admin that cannot reach the broker waits.
    await settledBy(endpoint.stop(), Date.now() + 5_000);
  }
}

async function runApp(config: CourierConfig, ctx: RunOptions): Promise<number> {
  const app: CourierApp = new CourierApp({
    config,
    logger: ctx.logger,
    roles: ctx.roles,
    ...(isWorker() ? { clusterWorker: true } : {}),
    reload: () => reloader.reload('POST /-/reload'),
  });
  const reloader = new Reloader({
    path: ctx.configPath,
    target: app,
    logger: ctx.logger,
    events: app.events,
  });
  const starting = app.start();
  // Reloads wait for start-up to be over; with workers, the supervisor triggers them.
  let stopTriggers = () => {};
  if (isWorker()) {
    onSupervisorReload(
      (next) =>
        starting.then(
          () => reloader.reload('supervisor', next),
          (err: unknown) => ({
            ok: false as const,
            trigger: 'supervisor',
            reason: 'failed' as const,
            problems: [`the worker did not start: ${(err as Error).message}`],
            version: '',
          }),
        ),
      (problems) => app.events.emit('config-rejected', { problems }),
    );
    process.on('SIGHUP', () => ctx.logger.info('SIGHUP ignored by a worker: send it to the supervisor'));
  } else {
    stopTriggers = reloadTriggers(reloader, ctx, starting);
  }
  let stopping: Promise<void> | undefined;
  let signalled!: () => void;
  const stoppedBySignal = new Promise<undefined>((resolve) => {
    signalled = () => resolve(undefined);
  });
  const stop = (signal: string) => {
    if (stopping) {
      // A worker's supervisor escalates with SIGKILL itself; a terminal's ^C reaches both.
      if (isWorker()) return;
      ctx.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    const bound = app.config.shutdownTimeoutMs;
    ctx.logger.info({ signal, shutdownTimeoutMs: bound }, 'stopping: finishing in-flight work');
    holdTheBound(bound, ctx.logger);
    // A signal during start-up stops what has started once start-up is over, never half of it.
    stopping = starting.then(
      () => app.stop(),
      () => {},
    );
    stopping.then(signalled, signalled);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  onSupervisorGone(() => stop('supervisor gone'));
  try {
    await starting;
  } catch (err) {
    stopTriggers();
    await app.stop();
    ctx.logger.flush();
    // A consumer crash during start-up is the cause worth reporting.
    throw (await Promise.race([app.fatal, Promise.resolve(undefined)])) ?? err;
  }
  reportStarted();
  // Either a signal stops the app, or a consumer crash kafkajs will not restart does: then the
  // app stops itself and the process exits non-zero so a supervisor can act.
  const fatal = await Promise.race([stoppedBySignal, app.fatal]);
  stopTriggers();
  await app.stop();
  ctx.logger.flush();
  if (fatal) throw fatal;
  return 0;
}
