// The commands behind `courier <command>`: each loads the configuration and calls the library.
import { randomUUID } from 'node:crypto';
import { CourierApp, ROLES, type Role } from '../app.ts';
import { loadConfig } from '../config/load.ts';
import type { CourierConfig } from '../config/schema.ts';
import { DestinationControl } from '../delivery/destinationControl.ts';
import { createRedis, redisKeys } from '../delivery/redis.ts';
import { replay } from '../dlq/replay.ts';
import { UsageError } from '../errors.ts';
import { ensureTopics } from '../kafka/admin.ts';
import { createKafka, createProducer } from '../kafka/client.ts';
import type { CloudEvent } from '../kafka/cloudEvent.ts';
import { EventCodec } from '../kafka/codec.ts';
import { topicNames, topicPlan } from '../kafka/topics.ts';
import { EventIndex } from '../observability/eventIndex.ts';
import type { Logger } from '../observability/logger.ts';
import { status } from './status.ts';

type Flags = Record<string, string | boolean | undefined>;

interface Context {
  logger: Logger;
  usage: string;
}

function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function required(flags: Flags, name: string, command: string): string {
  const v = str(flags, name);
  if (!v) throw new UsageError(`${command} needs --${name}`);
  return v;
}

function positiveInt(flags: Flags, name: string, fallback: number): number {
  const raw = str(flags, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive whole number, got "${raw}"`);
  return n;
}

function destinationOf(config: CourierConfig, flags: Flags, command: string): string {
  const id = required(flags, 'destination', command);
  if (!config.destinations.some((d) => d.id === id)) {
    throw new UsageError(
      `unknown destination "${id}"; configured: ${config.destinations.map((d) => d.id).join(', ') || 'none'}`,
    );
  }
  return id;
}

export async function runCommand(
  command: string,
  args: string[],
  flags: Flags,
  ctx: Context,
): Promise<number> {
  const config = loadConfig(str(flags, 'config') ? { path: str(flags, 'config') as string } : {});
  switch (command) {
    case 'run':
      return run(config, flags, ctx);
    case 'topics':
      return topics(config, flags, ctx);
    case 'produce':
      return produce(config, flags, ctx);
    case 'pause':
    case 'resume':
      return pauseResume(command, config, flags);
    case 'inspect':
      return inspect(config, args, flags);
    case 'status':
      return status(config, { json: flags.json === true });
    case 'replay':
      return replay({
        config,
        logger: ctx.logger,
        destination: destinationOf(config, flags, 'replay'),
        from: required(flags, 'from', 'replay'),
        ...(str(flags, 'to') ? { to: str(flags, 'to') as string } : {}),
        rate: positiveInt(flags, 'rate', 10),
        dryRun: flags['dry-run'] === true,
        source: (str(flags, 'source') ?? 'dlq') as 'dlq' | 'delivered',
        print: (line) => console.log(line),
      });
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function run(config: CourierConfig, flags: Flags, ctx: Context): Promise<number> {
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
  const app = new CourierApp({ config, logger: ctx.logger, roles: roles as Role[] });
  const starting = app.start();
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      ctx.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    ctx.logger.info({ signal }, 'stopping: finishing in-flight work');
    // A signal during start-up stops what has started once start-up is over, never half of it.
    stopping = starting.then(
      () => app.stop(),
      () => {},
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await starting;
  } catch (err) {
    await app.stop();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const wait = setInterval(() => {
      if (stopping) {
        clearInterval(wait);
        stopping.then(resolve, resolve);
      }
    }, 100);
  });
  ctx.logger.flush();
  return 0;
}

async function topics(config: CourierConfig, flags: Flags, ctx: Context): Promise<number> {
  const admin = createKafka(config, ctx.logger).admin();
  await admin.connect();
  try {
    const report = await ensureTopics(admin, topicPlan(config), { create: flags.check !== true });
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

async function produce(config: CourierConfig, flags: Flags, ctx: Context): Promise<number> {
  const type = required(flags, 'type', 'produce');
  const rawData = str(flags, 'data') ?? '{}';
  let data: unknown;
  try {
    data = JSON.parse(rawData);
  } catch {
    throw new UsageError(`--data must be JSON, got ${rawData.slice(0, 80)}`);
  }
  const count = positiveInt(flags, 'count', 1);
  const format = str(flags, 'format') ?? (config.schemaRegistry ? 'avro' : 'json');
  if (format !== 'avro' && format !== 'json')
    throw new UsageError(`--format is avro or json, got "${format}"`);
  if (format === 'avro' && !config.schemaRegistry)
    throw new UsageError('--format avro needs schemaRegistry.url in the configuration');
  const codec = new EventCodec({
    ...(config.schemaRegistry ? { registryUrl: config.schemaRegistry.url } : {}),
    maxEventBytes: config.router.maxEventBytes,
    subject: `${config.kafka.eventsTopic}-value`,
  });
  const producer = createProducer(createKafka(config, ctx.logger));
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
      await producer.send({ topic: topicNames(config).events, acks: -1, messages });
    }
    console.log(`produced ${count} ${format} event(s) of type ${type} to ${topicNames(config).events}`);
    if (count <= 20) for (const id of ids) console.log(`  ${id}`);
    return 0;
  } finally {
    await producer.disconnect();
  }
}

async function pauseResume(
  command: 'pause' | 'resume',
  config: CourierConfig,
  flags: Flags,
): Promise<number> {
  const id = destinationOf(config, flags, command);
  const redis = createRedis(config.redis.url);
  try {
    const control = new DestinationControl({ redis, keys: redisKeys(config.kafka.topicPrefix) });
    if (command === 'pause') {
      await control.pause(id, 'operator');
      console.log(`paused ${id} on every instance`);
    } else {
      const was = await control.state(id);
      await control.resume(id);
      console.log(was.paused ? `resumed ${id} (was paused: ${was.reason})` : `${id} was not paused`);
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

async function inspect(config: CourierConfig, args: string[], flags: Flags): Promise<number> {
  const eventId = args[0];
  if (!eventId) throw new UsageError('inspect needs an EVENT_ID');
  const redis = createRedis(config.redis.url);
  try {
    const keys = redisKeys(config.kafka.topicPrefix);
    const index = new EventIndex({ redis, keys, ttlMs: config.idempotency.windowMs });
    const found = await index.lookup(eventId);
    const control = new DestinationControl({ redis, keys });
    const paused: Record<string, unknown> = {};
    for (const d of Object.keys(found.destinations)) {
      const s = await control.state(d);
      if (s.paused) paused[d] = s;
    }
    if (flags.json) {
      console.log(JSON.stringify({ eventId, ...found, pausedDestinations: paused }, null, 2));
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
