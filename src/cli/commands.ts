// The commands behind `courier <verb>`: each takes parsed flags and the loaded configuration
// and calls the library. Results go to stdout (one JSON document with --json); logs to stderr.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CourierApp, ROLES, type Role } from '../app.ts';
import { EventIndex } from '../attempts/eventIndex.ts';
import { inspectEvent } from '../attempts/inspect.ts';
import type { CourierConfig } from '../config/schema.ts';
import { credentialHealth, describeHealth } from '../credentials/health.ts';
import { replay, runReplay } from '../dlq/replay.ts';
import { RecordTooLargeError, UsageError } from '../errors.ts';
import { ensureTopics } from '../kafka/admin.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import type { CloudEvent } from '../kafka/cloudEvent.ts';
import { EventCodec, registryOptions } from '../kafka/codec.ts';
import { sendSized, TopicLimits } from '../kafka/sizedSend.ts';
import { consumerGroups, topicNames, topicPlan } from '../kafka/topics.ts';
import { clusterScraper } from '../observability/metrics.ts';
import { Observability } from '../observability/observability.ts';
import { createRedis } from '../redis/client.ts';
import { DestinationControl } from '../redis/destinationControl.ts';
import { redisKeys } from '../redis/keys.ts';
import { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Flags } from './args.ts';
import {
  isWorker,
  leaveSupervisor,
  onSupervisorGone,
  reportStarted,
  superviseWorkers,
  workerHeapFlags,
} from './workers.ts';

export interface CommandContext {
  flags: Flags;
  args: string[];
  config: CourierConfig;
  logger: Logger;
  json: boolean;
}

export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function required(flags: Flags, name: string, command: string): string {
  const v = str(flags, name);
  if (!v) throw new UsageError(`${command} needs --${name}`);
  return v;
}

/** The flag as a positive whole number; `fallback` when absent. */
export function positiveInt(flags: Flags, name: string, fallback: number): number;
export function positiveInt(flags: Flags, name: string, fallback?: number): number | undefined;
export function positiveInt(flags: Flags, name: string, fallback?: number): number | undefined {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive whole number, got "${raw}"`);
  return n;
}

/** The flag as an ISO-8601 time (kept as written); undefined when absent. */
export function isoTime(flags: Flags, name: string): string | undefined {
  const raw = str(flags, name);
  if (raw !== undefined && Number.isNaN(Date.parse(raw)))
    throw new UsageError(`--${name} must be an ISO-8601 time, got "${raw}"`);
  return raw;
}

export function oneOf<T extends string>(flags: Flags, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(flags, name) ?? fallback;
  if (!(allowed as readonly string[]).includes(raw))
    throw new UsageError(`--${name} is ${allowed.join(' or ')}, got "${raw}"`);
  return raw as T;
}

export function destinationOf(config: CourierConfig, flags: Flags, command: string): string {
  const id = required(flags, 'destination', command);
  if (!config.destinations.some((d) => d.id === id)) {
    throw new UsageError(
      `unknown destination "${id}"; configured: ${config.destinations.map((d) => d.id).join(', ') || 'none'}`,
    );
  }
  return id;
}

/** The --roles flag as a list of roles. */
export function rolesOf(flags: Flags): Role[] {
  const roles = (str(flags, 'roles') ?? ROLES.join(','))
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0) {
    throw new UsageError(
      `--roles takes a comma-separated subset of ${ROLES.join(',')}; got "${unknown.join(',')}"`,
    );
  }
  return roles as Role[];
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/**
 * A Redis client for a one-shot command. The preflight has just reached Redis; should it go
 * away now, the command fails with ioredis' MaxRetriesPerRequestError (exit 3), and this listener
 * keeps ioredis from printing "[ioredis] Unhandled error event" stacks meanwhile.
 */
function commandRedis(config: CourierConfig, logger: Logger) {
  return createRedis(config.redis, { logger });
}

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

export async function topics(ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const admin = createKafka(config, ctx.logger).admin();
  await admin.connect();
  try {
    const report = await ensureTopics(admin, topicPlan(config), { create: flags.check !== true });
    if (ctx.json) {
      printJson({ created: report.created, verified: report.verified, problems: report.problems });
      return report.problems.length > 0 ? 1 : 0;
    }
    for (const t of report.created) console.log(`created   ${t}`);
    for (const t of report.verified) console.log(`ok        ${t}`);
    for (const p of report.problems) console.log(`MISMATCH  ${p}`);
    console.log(
      `${report.created.length} created, ${report.verified.length} ok, ${report.problems.length} problems`,
    );
    return report.problems.length > 0 ? 1 : 0;
  } finally {
    await admin.disconnect();
  }
}

/** The parsed flags of `courier produce`, checked before anything connects. */
export function produceOptions(config: CourierConfig, flags: Flags) {
  const type = required(flags, 'type', 'produce');
  const rawData = str(flags, 'data') ?? '{}';
  let data: unknown;
  try {
    data = JSON.parse(rawData);
  } catch {
    throw new UsageError(`--data must be JSON, got ${rawData.slice(0, 80)}`);
  }
  const count = positiveInt(flags, 'count', 1);
  const format = oneOf(flags, 'format', ['avro', 'json'], config.schemaRegistry ? 'avro' : 'json');
  if (format === 'avro' && !config.schemaRegistry)
    throw new UsageError('--format avro needs schemaRegistry.url in the configuration');
  return { type, data, count, format };
}

export async function produce(ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const { type, data, count, format } = produceOptions(config, flags);
  const codec = new EventCodec({
    ...registryOptions(config.schemaRegistry),
    maxEventBytes: config.router.maxEventBytes,
    subject: `${config.kafka.eventsTopic}-value`,
  });
  const kafka = createKafka(config, ctx.logger);
  const limits = new TopicLimits({ kafka, logger: ctx.logger });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const source = str(flags, 'source') ?? 'courier-cli';
    const ids: string[] = [];
    for (let start = 0; start < count; start += 500) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 500); i++) {
        const event: CloudEvent = {
          specversion: '1.0',
          id: randomUUID(),
          type,
          source,
          time: new Date().toISOString(),
          data,
        };
        ids.push(event.id);
        const value = format === 'avro' ? await codec.encodeAvro(event) : codec.encodeJson(event);
        messages.push({ key: str(flags, 'key') ?? event.id, value });
      }
      const topic = topicNames(config).events;
      const { tooLarge } = await sendSized(
        producer,
        limits,
        messages.map((message) => ({ topic, message })),
      );
      const first = tooLarge[0];
      if (first) throw new RecordTooLargeError(topic, first.bytes, first.limitBytes);
    }
    if (ctx.json) {
      printJson({ topic: topicNames(config).events, format, type, count, ids });
      return 0;
    }
    console.log(`produced ${count} ${format} event(s) of type ${type} to ${topicNames(config).events}`);
    if (count <= 20) for (const id of ids) console.log(`  ${id}`);
    return 0;
  } finally {
    await producer.disconnect();
  }
}

export async function pauseResume(command: 'pause' | 'resume', ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const id = destinationOf(config, flags, command);
  const redis = commandRedis(config, ctx.logger);
  try {
    const control = new DestinationControl({ redis, keys: redisKeys(config.kafka.topicPrefix) });
    const was = await control.state(id);
    if (command === 'pause') {
      await control.pause(id, 'operator');
      if (ctx.json) printJson({ destination: id, paused: true, reason: 'operator', was });
      else console.log(`paused ${id} on every instance`);
    } else {
      await control.resume(id);
      if (ctx.json) printJson({ destination: id, paused: false, was });
      else console.log(was.paused ? `resumed ${id} (was paused: ${was.reason})` : `${id} was not paused`);
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

export async function inspect(ctx: CommandContext): Promise<number> {
  const { config, args } = ctx;
  const eventId = args[0];
  if (!eventId) throw new UsageError('inspect needs an EVENT_ID');
  const redis = commandRedis(config, ctx.logger);
  try {
    const keys = redisKeys(config.kafka.topicPrefix);
    const index = new EventIndex({ redis, keys, ttlMs: config.idempotency.windowMs });
    const found = await inspectEvent({
      eventId,
      destinations: config.destinations.map((d) => d.id),
      index,
      kafka: createKafka(config, ctx.logger),
      attemptsTopic: topicNames(config).attempts,
    });
    const control = new DestinationControl({ redis, keys });
    const paused: Record<string, unknown> = {};
    for (const d of Object.keys(found.destinations)) {
      const s = await control.state(d);
      if (s.paused) paused[d] = s;
    }
    const health = await credentialHealth(config, redis);
    if (ctx.json) {
      const credentials = Object.fromEntries(
        Object.keys(found.destinations).map((d) => [d, health[d] ?? []]),
      );
      printJson({ ...found, pausedDestinations: paused, credentials });
      return Object.keys(found.destinations).length > 0 ? 0 : 1;
    }
    if (Object.keys(found.destinations).length === 0) {
      console.log(`event ${eventId}: not found (unknown, or older than the idempotency window)`);
      return 1;
    }
    console.log(`event ${eventId}${found.eventType ? ` (${found.eventType})` : ''}`);
    for (const [d, s] of Object.entries(found.destinations)) {
      const extra = [
        s.status !== undefined ? `last status ${s.status}` : '',
        s.errorCode ?? '',
        s.errorClass ? `class ${s.errorClass}` : '',
        s.nextAttemptAt ? `next attempt ${s.nextAttemptAt}` : '',
        paused[d] ? `destination paused (${(paused[d] as { reason: string }).reason})` : '',
      ].filter(Boolean);
      console.log(
        `  ${d}: ${s.state}${s.attempt ? ` after ${s.attempt} attempt(s)` : ''}${extra.length ? ` — ${extra.join(', ')}` : ''}`,
      );
      for (const line of describeHealth(health[d] ?? [])) console.log(`    credential: ${line}`);
    }
    console.log('attempts:');
    for (const a of found.attempts) {
      console.log(
        `  ${a.at}  ${a.destination}  #${a.attempt}  ${a.outcome}  ${a.status ?? a.errorCode ?? ''}  ${a.latencyMs}ms${a.replay ? '  (replay)' : ''}`,
      );
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

/** The parsed flags of `courier replay`, checked before anything connects. */
export function replayOptions(config: CourierConfig, flags: Flags) {
  const from = isoTime(flags, 'from');
  const to = isoTime(flags, 'to');
  if (from !== undefined && to !== undefined && Date.parse(to) <= Date.parse(from)) {
    throw new UsageError('--to must be after --from');
  }
  return {
    destination: destinationOf(config, flags, 'replay'),
    from,
    to,
    rate: positiveInt(flags, 'rate', 10),
    dryRun: flags['dry-run'] === true,
    source: oneOf(flags, 'source', ['dlq', 'delivered'], 'dlq'),
  };
}

export async function replayCommand(ctx: CommandContext): Promise<number> {
  const { from, to, ...o } = replayOptions(ctx.config, ctx.flags);
  const options = {
    config: ctx.config,
    logger: ctx.logger,
    ...o,
    // Without --from, replay continues from the replay group's committed offsets.
    from: from as string,
    ...(to !== undefined ? { to } : {}),
  };
  if (!ctx.json) return replay({ ...options, print: (line) => console.log(line) });
  const lines: string[] = [];
  const summary = await runReplay({ ...options, print: (line) => lines.push(line) });
  printJson({ destination: o.destination, source: o.source, dryRun: o.dryRun, ...summary, messages: lines });
  return 0;
}
