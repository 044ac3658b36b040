// `courier run`: the pipeline in this process, or a supervisor of `--workers N` worker processes
// that serves the machine's one observability endpoint; signals handled here, in one place.
import { availableParallelism } from 'node:os';
import type { Role } from '../../app.ts';
import { CourierApp } from '../../app.ts';
import type { CourierConfig } from '../../config/schema.ts';
import { createKafka } from '../../kafka/client.ts';
import { consumerGroups } from '../../kafka/topics.ts';
import { clusterScraper } from '../../observability/metrics.ts';
import { Observability } from '../../observability/observability.ts';
import { PipelineEmitter } from '../../telemetry/events.ts';
import type { Logger } from '../../telemetry/logger.ts';
import {
  isWorker,
  leaveSupervisor,
  onSupervisorGone,
  reportStarted,
  superviseWorkers,
  workerHeapFlags,
} from '../workers.ts';

export interface RunOptions {
  roles: Role[];
  /** Worker processes (`--workers N`); undefined runs everything in this process. */
  workers?: number;
  logger: Logger;
}

export async function run(config: CourierConfig, ctx: RunOptions): Promise<number> {
  const workers = ctx.workers ?? availableParallelism();
  if (workers > 1 && !isWorker()) return supervise(config, { ...ctx, workers });
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
  const endpoint = new Observability({
    config,
    logger: ctx.logger,
    events: new PipelineEmitter(),
    kafka: createKafka(config, ctx.logger),
    groups: consumerGroups(config),
    scrape: clusterScraper(),
  });
  await endpoint.start();
  try {
    const execArgv = workerHeapFlags(config.destinations.map((d) => d.window.bytes));
    return await superviseWorkers({ workers: ctx.workers, logger: ctx.logger, execArgv });
  } finally {
    await endpoint.stop();
  }
}

async function runApp(config: CourierConfig, ctx: RunOptions): Promise<number> {
  const app = new CourierApp({
    config,
    logger: ctx.logger,
    roles: ctx.roles,
    ...(isWorker() ? { clusterWorker: true } : {}),
  });
  const starting = app.start();
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
    ctx.logger.info({ signal }, 'stopping: finishing in-flight work');
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
    await app.stop();
    ctx.logger.flush();
    // A consumer crash during start-up is the cause worth reporting.
    throw (await Promise.race([app.fatal, Promise.resolve(undefined)])) ?? err;
  }
  reportStarted();
  // Either a signal stops the app, or a consumer crash kafkajs will not restart does: then the
  // app stops itself and the process exits non-zero so a supervisor can act.
  const fatal = await Promise.race([stoppedBySignal, app.fatal]);
  await app.stop();
  ctx.logger.flush();
  if (fatal) throw fatal;
  return 0;
}
