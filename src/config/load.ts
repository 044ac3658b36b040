// Loads courier.yaml: YAML → ${ENV} substitution → environment overrides → validation.
// Every problem is collected and reported at once, each with its path.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { crossFieldProblems } from './crossChecks.ts';
import { formatPath } from './path.ts';
import { type CourierConfig, configSchema } from './schema.ts';

export interface LoadOptions {
  /** Path of the YAML file; defaults to $COURIER_CONFIG, then ./courier.yaml. */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** `${file:/path}`: the content of a file (a mounted Kubernetes Secret), its final newline dropped. */
const FILE_REF = /\$\{file:([^}]+)\}/g;

/** The files a configuration text reads through `${file:…}` (the watcher watches them too). */
export function fileReferences(text: string): string[] {
  return [...new Set([...text.matchAll(FILE_REF)].map((m) => (m[1] as string).trim()))];
}

export { formatPath };

/**
 * Replaces ${NAME} and ${NAME:-default} in every string of the tree, and ${file:/path} by the
 * file's content (read at every load: a reload picks up a rotated secret file); unset names and
 * unreadable files are problems.
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === 'string') {
    const withFiles = value.replace(FILE_REF, (_whole, file: string) => {
      try {
        return readFileSync(file.trim(), 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        problems.push(
          `${formatPath(path)}: file ${file.trim()} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
        );
        return '';
      }
    });
    return withFiles.replace(ENV_REF, (_whole, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, problems, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, problems, [...path, k])]),
    );
  }
  return value;
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** KAFKA_BROKERS, REDIS_URL and SCHEMA_REGISTRY_URL win over the file. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const out = { ...raw };
  if (env.KAFKA_BROKERS) {
    out.kafka = {
      ...asObject(out.kafka),
      brokers: env.KAFKA_BROKERS.split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    };
  }
  if (env.REDIS_URL) out.redis = { ...asObject(out.redis), url: env.REDIS_URL };
  if (env.SCHEMA_REGISTRY_URL)
    out.schemaRegistry = { ...asObject(out.schemaRegistry), url: env.SCHEMA_REGISTRY_URL };
  return out;
}

/**
 * A union's problem as the problems of the one branch of the right type (a header given as a string
 * is told what is wrong with the string, not that it is not an object either).
 */
function unionBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue[] | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const branches = (issue as { errors?: z.core.$ZodIssue[][] }).errors ?? [];
  const typed = branches.filter((b) => !b.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  if (typed.length !== 1) return undefined;
  return (typed[0] as z.core.$ZodIssue[]).map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const branch = unionBranch(issue);
  if (branch) return branch.flatMap(describeIssue);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown field`);
  }
  if (issue.code === 'invalid_key') {
    // A record key (a header name): the key's own problem, not zod's "Invalid key in record".
    return [`${formatPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`];
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/** Validates an already-parsed document; throws ConfigError listing every problem. */
export function parseConfig(
  document: unknown,
  options: { source: string; env?: NodeJS.ProcessEnv },
): CourierConfig {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const substituted = substituteEnv(document ?? {}, env, problems);
  if (substituted === null || typeof substituted !== 'object' || Array.isArray(substituted)) {
    throw new ConfigError(options.source, ['(root): must be a mapping']);
  }
  const input = applyEnvOverrides(substituted as Record<string, unknown>, env);
  let result: ReturnType<typeof configSchema.safeParse>;
  try {
    result = configSchema.safeParse(input);
  } catch (err) {
    // A check that throws is a bug, but it must still end as a listed problem, not a stack.
    throw new ConfigError(options.source, [
      ...problems,
      `(root): cannot validate: ${(err as Error).message}`,
    ]);
  }
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  problems.push(...crossFieldProblems(input));
  if (problems.length > 0 || !result.success) throw new ConfigError(options.source, problems);
  return result.data;
}

/** The file `loadConfig` reads: the given path, else $COURIER_CONFIG, else ./courier.yaml. */
export function configFilePath(options: LoadOptions = {}): string {
  return options.path ?? (options.env ?? process.env).COURIER_CONFIG ?? 'courier.yaml';
}

export function loadConfig(options: LoadOptions = {}): CourierConfig {
  const env = options.env ?? process.env;
  const path = configFilePath(options);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [
      `(file): cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => `(yaml) line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
    );
  }
  return parseConfig(doc.toJS(), { source: path, env });
}
