// The verb table of `courier`: each entry declares its flags and arguments (for parsing and
// help), the dependencies it needs (checked before it starts), an optional check of its flag
// values (so a bad flag is a usage error even when Kafka is down), and what it runs.
// Adding a verb is adding one entry here.
import { ROLES } from '../app.ts';
import { configFilePath } from '../config/load.ts';
import type { CourierConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { type ArgSpec, type FlagSpec, type Flags, JSON_FLAG, type VerbSpec } from './args.ts';
import { attempts, attemptsOptions } from './commands/attempts.ts';
import { capacity, capacityInput } from './commands/capacity.ts';
import { configCheck } from './commands/configCheck.ts';
import { configDiff } from './commands/configDiff.ts';
import { dlqList, dlqListOptions, dlqShow, dlqShowOptions } from './commands/dlq.ts';
import { inspect } from './commands/inspect.ts';
import { keysGenerate, keysPublic } from './commands/keys.ts';
import { pauseResume } from './commands/pauseResume.ts';
import { produce, produceOptions } from './commands/produce.ts';
import { replayCommand, replayOptions } from './commands/replay.ts';
import { run } from './commands/run.ts';
import { status } from './commands/status.ts';
import { topics } from './commands/topics.ts';
import { destinationOf, positiveInt, rolesOf } from './flags.ts';
import type { Dependency } from './preflight.ts';

export interface VerbContext {
  flags: Flags;
  args: string[];
  /** The configuration, loaded on first use. */
  readonly config: CourierConfig;
  /** --config as given, if any. */
  configPath: string | undefined;
  logger: Logger;
  json: boolean;
}

export interface Verb extends VerbSpec {
  /** False for verbs that load (or ignore) the configuration themselves. Default true. */
  loadsConfig?: boolean;
  /** Default log level when LOG_LEVEL is unset ("warn" keeps one-shot commands quiet). */
  logLevel?: string;
  /** Dependencies checked before `run`; none when absent. */
  needs?(ctx: VerbContext): Dependency[];
  /** Throws a UsageError for a bad flag value; runs before the dependency checks. */
  check?(ctx: VerbContext): void;
  run(ctx: VerbContext): Promise<number>;
}

const destination: FlagSpec = {
  type: 'string',
  short: 'd',
  value: 'ID',
  description: 'the destination (its id in the configuration)',
  required: true,
};

const eventIdArg: ArgSpec = { name: 'EVENT_ID', description: "the event's id", required: true };

export const VERBS: readonly Verb[] = [
  {
    name: 'run',
    summary: 'run the pipeline (all roles by default) until SIGTERM/SIGINT',
    logLevel: 'info',
    flags: {
      roles: {
        type: 'string',
        value: 'LIST',
        description: `comma-separated subset of ${ROLES.join(',')} (default: all)`,
      },
      workers: {
        type: 'string',
        value: 'N',
        description: 'worker processes in the same consumer groups (default: the number of CPUs)',
      },
      'no-watch': {
        type: 'boolean',
        description:
          'reload the configuration on SIGHUP (and POST /-/reload) only, not when the file changes',
      },
    },
    needs: (ctx) =>
      rolesOf(ctx.flags).includes('router') ? ['kafka', 'redis', 'registry'] : ['kafka', 'redis'],
    check: (ctx) => {
      rolesOf(ctx.flags);
      positiveInt(ctx.flags, 'workers');
    },
    run: (ctx) =>
      run(ctx.config, {
        roles: rolesOf(ctx.flags),
        workers: positiveInt(ctx.flags, 'workers'),
        logger: ctx.logger,
        configPath: configFilePath(ctx.configPath ? { path: ctx.configPath } : {}),
        watch: ctx.flags['no-watch'] !== true,
      }),
  },
  {
    name: 'topics',
    summary: 'create or check every topic (idempotent)',
    flags: {
      check: { type: 'boolean', description: 'only check; never create' },
      json: JSON_FLAG,
    },
    needs: () => ['kafka'],
    run: topics,
  },
  {
    name: 'produce',
    summary: 'write test events to the events topic',
    flags: {
      type: { type: 'string', value: 'T', description: 'the event type', required: true },
      data: { type: 'string', value: 'JSON', description: "the event's data (default {})" },
      key: { type: 'string', value: 'K', description: "the partition key (default: each event's id)" },
      count: { type: 'string', value: 'N', description: 'how many events (default 1)' },
      format: {
        type: 'string',
        value: 'avro|json',
        description: 'avro through the registry, or plain JSON (default: avro when a registry is configured)',
      },
      source: { type: 'string', value: 'S', description: 'the CloudEvents source (default courier-cli)' },
      json: JSON_FLAG,
    },
    needs: (ctx) =>
      produceOptions(ctx.config, ctx.flags).format === 'avro' ? ['kafka', 'registry'] : ['kafka'],
    check: (ctx) => {
      produceOptions(ctx.config, ctx.flags);
    },
    run: produce,
  },
  {
    name: 'replay',
    summary: "re-send a destination's dead letters (or delivered events), paced, after a health check",
    details:
      'With --from, the replay group is reset to the first message at or after that time; without it,\n' +
      "replay continues from the group's committed offsets (e.g. as kafka-consumer-groups left them).\n" +
      'It reads up to --to, or to the end offsets captured at the start. With --event or --ids-file it\n' +
      'replays exactly those events. First the destination must answer its readiness check: a 5xx, a\n' +
      '429, a timeout or no answer refuses the replay (exit 1). With --source events it backfills the\n' +
      'destination from the events topic: each event routed and shaped for this destination alone (its\n' +
      'types, filter, transform, headers), events it already has skipped; no other destination sees them.',
    flags: {
      destination,
      from: { type: 'string', value: 'ISO', description: 'start of the window (ISO-8601 time)' },
      to: { type: 'string', value: 'ISO', description: 'end of the window (default: now)' },
      event: {
        type: 'string',
        value: 'ID[,ID…]',
        multiple: true,
        description: 'replay exactly these events instead of a window (all must be found); may be repeated',
      },
      'ids-file': {
        type: 'string',
        value: 'F',
        description: 'more event ids, one a line (# comments); - reads standard input (for long lists)',
      },
      rate: { type: 'string', value: 'N', description: 'events per second (default 10)' },
      'dry-run': { type: 'boolean', description: 'list what would be re-sent; send nothing' },
      force: {
        type: 'boolean',
        description: "skip the pause and readiness checks (logged); the destination's healthCheck otherwise",
      },
      source: {
        type: 'string',
        value: 'dlq|delivered|events',
        description:
          'the DLQ (default), the destination topic to force re-delivery, or the events topic to backfill it',
      },
      json: JSON_FLAG,
    },
    needs: () => ['kafka', 'redis'],
    check: (ctx) => {
      replayOptions(ctx.config, ctx.flags);
    },
    run: replayCommand,
  },
  {
    name: 'pause',
    summary: 'stop delivering to a destination, on every instance',
    flags: { destination, json: JSON_FLAG },
    needs: () => ['redis'],
    check: (ctx) => {
      destinationOf(ctx.config, ctx.flags, 'pause');
    },
    run: (ctx) => pauseResume('pause', ctx),
  },
  {
    name: 'resume',
    summary: 'resume delivering to a destination, on every instance',
    flags: { destination, json: JSON_FLAG },
    needs: () => ['redis'],
    check: (ctx) => {
      destinationOf(ctx.config, ctx.flags, 'resume');
    },
    run: (ctx) => pauseResume('resume', ctx),
  },
  {
    name: 'inspect',
    summary: "one event's state and attempts, per destination, for the delivery log's whole retention",
    args: [eventIdArg],
    flags: {
      body: {
        type: 'boolean',
        description: "also print each destination's last request as signed (headers and body)",
      },
      json: JSON_FLAG,
    },
    needs: () => ['kafka', 'redis'],
    run: inspect,
  },
  {
    name: 'dlq list',
    summary: "what is in a destination's DLQ: id, type, time, attempts, class, last status and error",
    flags: {
      destination,
      since: {
        type: 'string',
        value: 'ISO|AGO',
        description: 'dead-lettered at or after (ISO-8601, or 2h for two hours ago)',
      },
      until: { type: 'string', value: 'ISO|AGO', description: 'dead-lettered before' },
      class: { type: 'string', value: 'C', description: 'only this class (permanent, exhausted, …)' },
      status: { type: 'string', value: 'S', description: 'only this last status (422), class (4xx) or none' },
      limit: { type: 'string', value: 'N', description: 'show the newest N (default 100)' },
      json: JSON_FLAG,
    },
    needs: () => ['kafka', 'redis'],
    check: (ctx) => {
      dlqListOptions(ctx);
    },
    run: dlqList,
  },
  {
    name: 'dlq show',
    summary: 'one dead letter: payload, DLQ headers, and every attempt of the event',
    args: [eventIdArg],
    flags: { destination, json: JSON_FLAG },
    needs: () => ['kafka', 'redis'],
    check: (ctx) => {
      dlqShowOptions(ctx);
    },
    run: dlqShow,
  },
  {
    name: 'attempts',
    summary: 'search the delivery log (default: the last hour)',
    flags: {
      destination: { ...destination, required: false, description: 'only this destination' },
      status: { type: 'string', value: 'S', description: 'a status (503), a class (5xx) or none' },
      outcome: {
        type: 'string',
        value: 'O',
        description: 'delivered, retry, dlq, paused or duplicate-skipped',
      },
      'event-type': { type: 'string', value: 'T', description: 'only events of this type' },
      since: { type: 'string', value: 'ISO|AGO', description: 'attempts at or after (default: 1h ago)' },
      until: { type: 'string', value: 'ISO|AGO', description: 'attempts before' },
      limit: { type: 'string', value: 'N', description: 'show the newest N (default 100)' },
      json: JSON_FLAG,
    },
    needs: () => ['kafka', 'redis'],
    check: (ctx) => {
      attemptsOptions(ctx);
    },
    run: attempts,
  },
  {
    name: 'status',
    summary: 'every destination: state, rate, success, latency, backlog, DLQ depth',
    flags: { json: JSON_FLAG },
    needs: () => ['kafka', 'redis'],
    run: (ctx) => status(ctx.config, { json: ctx.json }),
  },
  {
    name: 'capacity',
    summary: 'plan partitions, workers, Redis memory, broker disk and egress for a load, from measured costs',
    loadsConfig: false,
    flags: {
      rate: { type: 'string', value: 'N', description: 'events produced per second', required: true },
      destinations: { type: 'string', value: 'N', description: 'destinations configured', required: true },
      fanout: { type: 'string', value: 'N', description: 'destinations each event goes to (default 1)' },
      retention: {
        type: 'string',
        value: 'DURATION',
        description: 'events, destination and retry topics (default 14d)',
      },
      'attempts-retention': {
        type: 'string',
        value: 'DURATION',
        description: 'the delivery log (default 30d)',
      },
      'idempotency-window': {
        type: 'string',
        value: 'DURATION',
        description: 'delivered marks in Redis (default 7d)',
      },
      'event-bytes': {
        type: 'string',
        value: 'N',
        description: 'size of one event as produced (default 1000)',
      },
      replication: {
        type: 'string',
        value: 'N',
        description: 'replication factor of the topics (default 3)',
      },
      json: JSON_FLAG,
    },
    check: (ctx) => void capacityInput(ctx.flags),
    run: async (ctx) => capacity(capacityInput(ctx.flags), ctx.json),
  },
  {
    name: 'keys generate',
    summary: 'print a new Ed25519 key pair for v1a signatures as JSON: {"secret":"whsk_…","public":"whpk_…"}',
    loadsConfig: false,
    flags: {},
    run: async () => keysGenerate(),
  },
  {
    name: 'keys public',
    summary:
      "print the public keys (whpk_…) of a destination's Ed25519 secrets, what its receiver verifies with",
    flags: { destination, json: JSON_FLAG },
    run: async (ctx) => keysPublic(ctx.config, destinationOf(ctx.config, ctx.flags, 'keys public'), ctx.json),
  },
  {
    name: 'config check',
    summary: 'validate the configuration and print it resolved, secrets masked',
    loadsConfig: false,
    flags: { json: JSON_FLAG },
    run: async (ctx) => configCheck({ ...(ctx.configPath ? { path: ctx.configPath } : {}), json: ctx.json }),
  },
  {
    name: 'config diff',
    summary:
      'what a reload of the file would change, per destination, against the running configuration (exit 4: only a restart can)',
    flags: {
      against: {
        type: 'string',
        value: 'FILE',
        description: 'compare with this file instead of the running configuration (connects to nothing)',
      },
      json: JSON_FLAG,
    },
    needs: (ctx) => (typeof ctx.flags.against === 'string' ? [] : ['redis']),
    run: (ctx) =>
      configDiff({
        config: ctx.config,
        source: configFilePath(ctx.configPath ? { path: ctx.configPath } : {}),
        ...(typeof ctx.flags.against === 'string' ? { against: ctx.flags.against } : {}),
        json: ctx.json,
        logger: ctx.logger,
      }),
  },
];

/** The verb `argv` starts with and the arguments after it; undefined when there is none. */
export function findVerb(argv: readonly string[]): { verb: Verb; rest: string[] } | undefined {
  const [first, second] = argv;
  const two = VERBS.find((v) => v.name === `${first} ${second}`);
  if (two) return { verb: two, rest: argv.slice(2) };
  const one = VERBS.find((v) => v.name === first);
  return one ? { verb: one, rest: argv.slice(1) } : undefined;
}
