// The `courier` command line: finds the verb, parses its flags, loads the configuration, checks
// the dependencies the verb needs, runs it, and turns every error into one line on stderr and
// an exit code: 0 ok · 1 failure · 2 usage · 3 a dependency cannot be reached.
import './quietWarnings.ts';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../config/load.ts';
import { ConfigError, CourierError, DependencyError, UsageError } from '../errors.ts';
import { configFromSupervisor, isWorker } from '../supervisor/workers.ts';
import { createLogger } from '../telemetry/logger.ts';
import { VERSION } from '../version.ts';
import { globalHelp, parseVerbArgs, usageHint, verbHelp } from './args.ts';
import { preflight } from './preflight.ts';
import { findVerb, VERBS, type Verb, type VerbContext } from './verbs.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3 } as const;

/** Error class names of kafkajs and ioredis that mean a dependency went away mid-command. */
const LOST_DEPENDENCY: Record<string, string> = {
  KafkaJSConnectionError: 'Kafka',
  KafkaJSNumberOfRetriesExceeded: 'Kafka',
  KafkaJSBrokerNotFound: 'Kafka',
  KafkaJSConnectionClosedError: 'Kafka',
  KafkaJSRequestTimeoutError: 'Kafka',
  MaxRetriesPerRequestError: 'Redis',
};

let debug = process.argv.includes('--debug') || process.env.LOG_LEVEL === 'debug';
/** The log stream, flushed before the process exits. */
let logDestination: { flushSync(): void } | undefined;

/** Resolves once everything written to `stream` so far has left the process (or cannot). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Ends the process with `code` once the command is done and its output written: a pipe takes
 * output asynchronously, and exiting before it drained would cut the output at the pipe's buffer
 * (64 KiB). Explicitly: a handle left open by a client library (a reconnect timer after a broker
 * restart, a socket) must never keep a finished `courier run` — or a supervisor whose workers
 * have stopped — alive.
 */
async function exit(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  try {
    logDestination?.flushSync();
  } catch {
    // stderr gone (a parent that closed its pipe): nothing more can be said.
  }
  process.exit(code);
}

// A reader that stopped reading (`| head`): the rest of the output has nowhere to go.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
  });
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** Prints `err` as the user should see it and returns the exit code. */
function report(err: unknown, verb: Verb | undefined): number {
  if (err instanceof UsageError) {
    console.error(
      `courier: ${err.message}\n${verb ? usageHint(verb) : 'run "courier --help" for the commands'}`,
    );
    return EXIT.usage;
  }
  const stack = debug && err instanceof Error ? `\n${inspect(err)}` : '';
  if (err instanceof DependencyError) {
    console.error(`courier: ${err.message}${stack}`);
    return EXIT.unreachable;
  }
  if (err instanceof ConfigError) {
    // Every problem, one per line.
    console.error(`courier: ${err.message}${stack}`);
    return EXIT.failure;
  }
  if (err instanceof CourierError) {
    console.error(`courier: ${firstLine(err.message)}${stack}`);
    return EXIT.failure;
  }
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  const lost = LOST_DEPENDENCY[name];
  if (lost) {
    console.error(`courier: lost ${lost}: ${firstLine(message)}${stack}`);
    return EXIT.unreachable;
  }
  console.error(`courier: ${firstLine(message)}${stack}`);
  return EXIT.failure;
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined) {
    console.error(globalHelp(VERBS, VERSION));
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    console.log(globalHelp(VERBS, VERSION));
    return EXIT.ok;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    console.log(VERSION);
    return EXIT.ok;
  }
  const found = findVerb(argv);
  if (!found) {
    const group = VERBS.filter((v) => v.name.startsWith(`${first} `)).map((v) => v.name);
    if (group.length > 0) {
      throw new UsageError(`${first} needs a sub-command: ${group.map((g) => g.split(' ')[1]).join(', ')}`);
    }
    throw new UsageError(
      first.startsWith('-')
        ? `put the command first: courier <command> ${first} …`
        : `unknown command "${first}"`,
    );
  }
  const { verb, rest } = found;
  try {
    return await runVerb(verb, rest);
  } catch (err) {
    return report(err, verb);
  }
}

async function runVerb(verb: Verb, argv: string[]): Promise<number> {
  const { flags, args } = parseVerbArgs(verb, argv);
  if (flags.help) {
    console.log(verbHelp(verb));
    return EXIT.ok;
  }
  if (flags.debug) debug = true;
  // Logs go to stderr, so that stdout carries only the command's result.
  const destination = pino.destination({ fd: 2, sync: false });
  logDestination = destination;
  const logger = createLogger({
    level: flags.debug ? 'debug' : (process.env.LOG_LEVEL ?? verb.logLevel ?? 'warn'),
    destination,
  });
  const configPath = typeof flags.config === 'string' ? flags.config : undefined;
  let config: VerbContext['config'] | undefined;
  const ctx: VerbContext = {
    flags,
    args,
    configPath,
    logger,
    json: flags.json === true,
    get config() {
      config ??= loadConfig(configPath ? { path: configPath } : {});
      return config;
    },
  };
  // A worker of `run --workers` runs its supervisor's configuration, not the file's latest (a
  // file the supervisor refused or found invalid must not reach a worker that restarts).
  if (verb.name === 'run' && isWorker()) config = await configFromSupervisor();
  // Flag values first (a check that needs the configuration loads it), then the configuration.
  verb.check?.(ctx);
  if (verb.loadsConfig !== false) void ctx.config;
  const needs = new Set(verb.needs?.(ctx) ?? []);
  if (needs.size > 0) await preflight(needs, { config: ctx.config, logger });
  try {
    return await verb.run(ctx);
  } finally {
    logger.flush();
  }
}

process.on('uncaughtException', (err) => {
  void exit(report(err, undefined));
});

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => exit(report(err, undefined)),
);
