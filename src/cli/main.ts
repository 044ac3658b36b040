#!/usr/bin/env node
// The `courier` command line: parses flags, rejects bad or conflicting ones, and calls the
// library. Signals are handled here, in one place.
import './quietWarnings.ts';
import { parseArgs } from 'node:util';
import { CourierError, UsageError } from '../errors.ts';
import { createLogger } from '../observability/logger.ts';
import { VERSION } from '../version.ts';
import { runCommand } from './commands.ts';

const USAGE = `courier ${VERSION} — reliable webhook delivery on Kafka

usage: courier <command> [--config courier.yaml] [options]

  run [--roles router,deliver,retry]       run the pipeline (all roles by default)
  topics [--check]                         create or check every topic (--check: never create)
  produce --type T --data JSON [--key K] [--count N] [--format avro|json] [--source S]
  replay --destination ID --from ISO [--to ISO] [--rate N] [--dry-run] [--source dlq|delivered]
  pause --destination ID                   stop delivering to a destination (all instances)
  resume --destination ID                  resume it
  inspect EVENT_ID                         what happened to one event, per destination

The configuration path comes from --config, then $COURIER_CONFIG, then ./courier.yaml.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      roles: { type: 'string' },
      check: { type: 'boolean' },
      type: { type: 'string' },
      data: { type: 'string' },
      key: { type: 'string' },
      count: { type: 'string' },
      format: { type: 'string' },
      source: { type: 'string' },
      destination: { type: 'string', short: 'd' },
      from: { type: 'string' },
      to: { type: 'string' },
      rate: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    console.log(VERSION);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  const logger = createLogger();
  return runCommand(command, rest, values, { logger, usage: USAGE });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`courier: ${(err as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof CourierError) {
      console.error(`courier: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.error(err);
      process.exitCode = 1;
    }
  },
);
