// Per-verb command-line parsing and help text. Each verb declares its flags and arguments; a
// flag of another verb, a flag without its value, or a stray argument is a UsageError whose
// message is one line. Pure: no I/O, so every rule has a unit test.
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.ts';

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder for the value in help, e.g. "ID". */
  value?: string;
  description: string;
  required?: boolean;
  /** May be given several times: every value is kept, in order (a string[]). */
  multiple?: boolean;
}

export interface ArgSpec {
  name: string;
  description: string;
  required: boolean;
}

export interface VerbSpec {
  /** One word, or two for a verb with a sub-verb ("config check"). */
  name: string;
  summary: string;
  /** Longer help shown by `courier <verb> --help`. */
  details?: string;
  flags: Record<string, FlagSpec>;
  args?: ArgSpec[];
}

export type Flags = Record<string, string | string[] | boolean | undefined>;

export interface ParsedArgs {
  flags: Flags;
  args: string[];
}

/** Flags every verb takes. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  config: {
    type: 'string',
    short: 'c',
    value: 'PATH',
    description: 'configuration file (default: $COURIER_CONFIG, then ./courier.yaml)',
  },
  debug: { type: 'boolean', description: 'debug logging, and a stack trace with any error' },
  help: { type: 'boolean', short: 'h', description: "show this verb's help" },
};

/** The flag that makes a reporting verb print one JSON document on stdout. */
export const JSON_FLAG: FlagSpec = { type: 'boolean', description: 'print the result as JSON' };

function allFlags(spec: VerbSpec): Record<string, FlagSpec> {
  return { ...spec.flags, ...COMMON_FLAGS };
}

/** Parses one verb's arguments (everything after the verb). `--help` skips required checks. */
export function parseVerbArgs(spec: VerbSpec, argv: string[]): ParsedArgs {
  const end = argv.indexOf('--');
  const own = end === -1 ? argv : argv.slice(0, end);
  // Asking for help wins over any mistake on the same line.
  if (own.includes('--help') || own.includes('-h')) return { flags: { help: true }, args: [] };
  const flags = allFlags(spec);
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      { type: f.type, ...(f.short ? { short: f.short } : {}) },
    ]),
  );
  // strict: false with tokens, so that every mistake gets our one-line message instead of
  // parseArgs' TypeError, and a flag never swallows the next flag as its value.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values: Flags = {};
  const args: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      args.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const flag = flags[token.name];
    if (!flag) {
      throw new UsageError(`${spec.name} does not take ${token.rawName}`);
    }
    if (flag.type === 'boolean') {
      if (token.inlineValue) throw new UsageError(`${token.rawName} takes no value`);
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith('-') && value.length > 1)) {
      throw new UsageError(`${token.rawName} needs a value${flag.value ? ` (${flag.value})` : ''}`);
    }
    if (flag.multiple) {
      const seen = values[token.name];
      values[token.name] = [...(Array.isArray(seen) ? seen : []), value];
      continue;
    }
    if (values[token.name] !== undefined) {
      throw new UsageError(`${token.rawName} is given twice; it takes one value`);
    }
    values[token.name] = value;
  }
  const expected = spec.args ?? [];
  if (args.length > expected.length) {
    throw new UsageError(`${spec.name} takes no argument "${args[expected.length]}"`);
  }
  for (const [i, a] of expected.entries()) {
    if (a.required && args[i] === undefined) throw new UsageError(`${spec.name} needs ${a.name}`);
  }
  for (const [name, f] of Object.entries(flags)) {
    if (f.required && values[name] === undefined) {
      throw new UsageError(`${spec.name} needs --${name}${f.value ? ` ${f.value}` : ''}`);
    }
  }
  return { flags: values, args };
}

function flagSynopsis(name: string, f: FlagSpec): string {
  const text = `--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
  return f.required ? text : `[${text}]`;
}

/** The one-line synopsis: `courier replay --destination ID [--from ISO] …`. */
export function synopsis(spec: VerbSpec): string {
  const parts = [`courier ${spec.name}`];
  for (const a of spec.args ?? []) parts.push(a.required ? a.name : `[${a.name}]`);
  for (const [name, f] of Object.entries(spec.flags)) parts.push(flagSynopsis(name, f));
  parts.push('[--config PATH]');
  return parts.join(' ');
}

/** What `courier <verb> --help` prints. */
export function verbHelp(spec: VerbSpec): string {
  const rows: Array<[string, string]> = [];
  for (const a of spec.args ?? []) rows.push([a.name, a.description]);
  for (const [name, f] of Object.entries(allFlags(spec))) {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    rows.push([left, `${f.description}${f.required ? ' (required)' : ''}`]);
  }
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [`usage: ${synopsis(spec)}`, '', spec.summary];
  if (spec.details) lines.push('', spec.details);
  lines.push('', 'flags:', ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`));
  return `${lines.join('\n')}\n`;
}

/** What a usage error prints after its one-line message. */
export function usageHint(spec: VerbSpec): string {
  return `usage: ${synopsis(spec)}\nrun "courier ${spec.name} --help" for details`;
}

export const EXIT_CODES_HELP =
  'exit codes: 0 ok · 1 failure · 2 usage error · 3 a dependency cannot be reached';

/** What `courier --help` prints: every verb with its summary, and the exit codes. */
export function globalHelp(specs: readonly VerbSpec[], version: string): string {
  const width = Math.max(...specs.map((s) => s.name.length)) + 2;
  return `courier ${version} — reliable webhook delivery on Kafka

usage: courier <command> [flags]        courier <command> --help for its flags

commands:
${specs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`).join('\n')}

common flags: -c, --config PATH (default: $COURIER_CONFIG, then ./courier.yaml) · --debug · -h, --help
environment: KAFKA_BROKERS, REDIS_URL, SCHEMA_REGISTRY_URL override the file; LOG_LEVEL sets logging
logs go to stderr, results to stdout
${EXIT_CODES_HELP}
`;
}
