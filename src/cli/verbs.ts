// The verb table of `courier`: each entry declares its flags and arguments (for parsing and
// help), the dependencies it needs (checked before it starts), an optional check of its flag
// values (so a bad flag is a usage error even when Kafka is down), and what it runs.
// Adding a verb is adding one entry here.
import { ROLES } from '../app.ts';
import type { CourierConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { type ArgSpec, type FlagSpec, type Flags, JSON_FLAG, type VerbSpec } from './args.ts';
import { configCheck } from './commands/configCheck.ts';
import { inspect } from './commands/inspect.ts';
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
      'It reads up to --to, or to the end offsets captured at the start.',
    flags: {
      destination,
      from: { type: 'string', value: 'ISO', description: 'start of the window (ISO-8601 time)' },
      to: { type: 'string', value: 'ISO', description: 'end of the window (default: now)' },
      rate: { type: 'string', value: 'N', description: 'events per second (default 10)' },
      'dry-run': { type: 'boolean', description: 'list what would be re-sent; send nothing' },
      source: {
        type: 'string',
        value: 'dlq|delivered',
        description: 'the DLQ (default), or the destination topic to force re-delivery',
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
    summary: "one event's state and attempts, per destination",
    args: [eventIdArg],
    flags: { json: JSON_FLAG },
    needs: () => ['redis'],
    run: inspect,
  },
  {
    name: 'status',
    summary: 'every destination: state, rate, success, latency, backlog, DLQ depth',
    flags: { json: JSON_FLAG },
    needs: () => ['kafka', 'redis'],
    run: (ctx) => status(ctx.config, { json: ctx.json }),
  },
  {
    name: 'config check',
    summary: 'validate the configuration and print it resolved, secrets masked',
    loadsConfig: false,
    flags: { json: JSON_FLAG },
    run: async (ctx) => configCheck({ ...(ctx.configPath ? { path: ctx.configPath } : {}), json: ctx.json }),
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
