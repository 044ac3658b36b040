// The configuration reference, generated from the schema itself so it cannot drift: a JSON Schema
// of courier.yaml (for editors: `# yaml-language-server: $schema=…`) and a page listing every field
// with its type, default, range and what it does. Defaults are what `parseConfig` resolves, not a
// copy. `npm run config:reference` writes both files; a test fails when they differ from these.
import { z } from 'zod';
import { formatDuration } from '../duration.ts';
import { parseConfig } from './load.ts';
import { configSchema } from './schema.ts';

type Node = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  additionalProperties?: Node | boolean;
  anyOf?: Node[];
  oneOf?: Node[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  'x-duration'?: boolean;
  'x-retention'?: boolean;
  'x-keyword'?: string;
  [key: string]: unknown;
};

export const SCHEMA_FILE = 'schemas/courier.config.schema.json';
export const REFERENCE_FILE = 'CONFIGURATION.md';

/** A configuration with every default resolved: one destination, the rest as `parseConfig` fills it. */
function resolvedDefaults(): Record<string, unknown> {
  return parseConfig(
    {
      kafka: { brokers: ['localhost:9092'] },
      destinations: [
        {
          id: 'example',
          url: 'https://hooks.example.com/events',
          secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
        },
      ],
    },
    { source: 'reference', env: {} },
  ) as unknown as Record<string, unknown>;
}

/** Fills in the defaults zod leaves out of an input schema (durations, which are transformed). */
function addDefaults(node: Node, resolved: unknown): void {
  if (resolved === undefined || resolved === null) return;
  if (node.properties && typeof resolved === 'object' && !Array.isArray(resolved)) {
    for (const [key, child] of Object.entries(node.properties)) {
      const value = (resolved as Record<string, unknown>)[key];
      const transformed = child['x-duration'] || child['x-retention'];
      if (transformed && child.default === undefined && value !== undefined) child.default = value;
      addDefaults(child, value);
    }
  }
  if (node.items && Array.isArray(resolved)) addDefaults(node.items, resolved[0]);
}

/** `${NAME}`, `${NAME:-default}` or `${file:/path}` anywhere in a string. */
const ENV_REFERENCE = '\\$\\{(?:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?|file:[^}]+)\\}';

/** A string checked by a pattern may also be an `${ENV}` reference, checked once substituted. */
function allowEnvReferences(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) allowEnvReferences(n);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const n = node as Node;
  if (typeof n.pattern === 'string') n.pattern = `${n.pattern}|${ENV_REFERENCE}`;
  for (const value of Object.values(n)) allowEnvReferences(value);
}

/** The JSON Schema of courier.yaml, as written (before `${ENV}` substitution and defaults). */
export function configJsonSchema(): Node {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  addDefaults(schema, resolvedDefaults());
  allowEnvReferences(schema);
  return {
    $schema: schema.$schema,
    $id: 'https://github.com/kafka-courier/courier/schemas/courier.config.schema.json',
    title: 'Courier configuration (courier.yaml)',
    description:
      'Reliable outbound webhooks on Kafka. Strings may hold ${NAME} or ${NAME:-default}, replaced from the environment before validation.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

function code(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function durationText(ms: number): string {
  const label = formatDuration(ms);
  return label === `${ms}ms` ? `\`${label}\`` : `\`${label}\` (${ms})`;
}

function typeOf(node: Node): string {
  if (node['x-retention']) return 'duration or `forever`';
  if (node['x-keyword']) return `duration or \`${String(node['x-keyword'])}\``;
  if (node['x-duration']) return 'duration';
  if (node.const !== undefined) return code(node.const);
  if (node.enum) return 'string';
  const variants = node.anyOf ?? node.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' or ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any'}`;
  if (node.type === 'object' && node.additionalProperties && typeof node.additionalProperties === 'object') {
    return `map of string → ${typeOf(node.additionalProperties)}`;
  }
  return Array.isArray(node.type) ? node.type.join(' or ') : (node.type ?? 'any');
}

function allowedOf(node: Node): string {
  const parts: string[] = [];
  if (node.enum) parts.push(node.enum.map(code).join(', '));
  const bound = (n: number) => (node['x-duration'] ? durationText(n) : String(n));
  // zod writes a positive integer as "> 0" and caps every integer at the largest safe one.
  const min =
    node.minimum ??
    (node.exclusiveMinimum !== undefined && node.type === 'integer' ? node.exclusiveMinimum + 1 : undefined);
  const max = node.maximum === Number.MAX_SAFE_INTEGER ? undefined : node.maximum;
  if (min !== undefined && max !== undefined) parts.push(`${bound(min)} … ${bound(max)}`);
  else if (min !== undefined) parts.push(`≥ ${bound(min)}`);
  else if (node.exclusiveMinimum !== undefined) parts.push(`> ${node.exclusiveMinimum}`);
  else if (max !== undefined) parts.push(`≤ ${bound(max)}`);
  if (node.minItems) parts.push(`at least ${node.minItems}`);
  if (node.items?.enum) parts.push(node.items.enum.map(code).join(', '));
  const pattern = node.pattern?.replace(`|${ENV_REFERENCE}`, '');
  if (pattern && pattern.length <= 40) parts.push(`matches \`${pattern}\``);
  return parts.join('; ');
}

function defaultOf(node: Node, required: boolean): string {
  if (node.default === undefined) return required ? 'required' : '';
  if (node['x-retention'] && node.default === -1) return '`forever`';
  if (node['x-duration'] && typeof node.default === 'number') return durationText(node.default);
  if (typeof node.default === 'object' && node.default !== null) return '(see fields)';
  return code(node.default);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

interface Row {
  path: string;
  node: Node;
  required: boolean;
  note?: string;
}

/** Every field below `node`, depth first, in schema order; union variants each with their fields. */
function rows(path: string, node: Node, required: boolean, note?: string): Row[] {
  const out: Row[] = [{ path, node, required, ...(note ? { note } : {}) }];
  const object = node.type === 'array' ? node.items : node;
  const prefix = node.type === 'array' ? `${path}[]` : path;
  const variants = node.oneOf ?? node.anyOf;
  if (variants) {
    for (const v of variants) {
      if (!v.properties) continue;
      // The discriminator: a required field holding a constant (or one of a few).
      const tag = Object.entries(v.properties).find(
        ([key, p]) => (v.required ?? []).includes(key) && (p.const !== undefined || p.enum !== undefined),
      );
      const tagValues = tag ? (tag[1].const !== undefined ? [tag[1].const] : (tag[1].enum ?? [])) : [];
      const label = tag ? `with ${tag[0]}: ${tagValues.map(String).join(' · ')}` : 'as an object';
      for (const [key, child] of Object.entries(v.properties)) {
        out.push(...rows(`${path}.${key}`, child, (v.required ?? []).includes(key), label));
      }
    }
  }
  if (object?.properties) {
    for (const [key, child] of Object.entries(object.properties)) {
      out.push(...rows(`${prefix}.${key}`, child, (object.required ?? []).includes(key)));
    }
  }
  return out;
}

/** The configuration reference page (markdown). */
export function configReference(schema: Node = configJsonSchema()): string {
  const lines: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts and src/config/destinationSchema.ts by `npm run config:reference`; do not edit by hand. -->',
    '',
    'Every field of `courier.yaml` (path from `--config`, else `$COURIER_CONFIG`, else `./courier.yaml`):',
    'its type, its default (as Courier resolves it), the values it accepts and what it does.',
    '`courier.example.yaml` shows every section in use, commented.',
    '',
    '- **Strings** may hold `${NAME}` or `${NAME:-default}`, replaced from the environment before validation;',
    '  an unset variable without a default is an error.',
    '- **Environment overrides**: `KAFKA_BROKERS` (comma-separated), `REDIS_URL` and `SCHEMA_REGISTRY_URL` win over',
    '  the file; `LOG_LEVEL` sets the log level.',
    '- **durations** are a number of milliseconds or a label: `250ms`, `10s`, `2m`, `1h`, `7d`',
    '  (`timeoutMs: 10s` is `timeoutMs: 10000`). Ranges below are shown both ways.',
    '- **Validation is strict**: an unknown field, a bad value, a duplicate destination id or a missing secret fails',
    '  at start with every problem listed by path; `courier config check` runs the same checks without connecting.',
    `- **Editors**: \`${SCHEMA_FILE}\` is the JSON Schema of this file. With the YAML language server`,
    "  (VS Code's YAML extension and others), put this line at the top of `courier.yaml`:",
    '  ```yaml',
    `  # yaml-language-server: $schema=./${SCHEMA_FILE}`,
    '  ```',
    '  It checks the file as written: a number given as `${NAME}` is a string to the editor, though Courier accepts',
    '  it once substituted.',
    '',
  ];
  const root = schema.properties ?? {};
  for (const [section, node] of Object.entries(root)) {
    lines.push(`## \`${section}\``, '');
    if (node.description) lines.push(node.description, '');
    lines.push('| field | type | default | accepts | what it does |', '|---|---|---|---|---|');
    // The section's own row is its heading and description above.
    for (const r of rows(section, node, (schema.required ?? []).includes(section)).slice(1)) {
      const description = [r.note ? `(${r.note})` : '', r.node.description ?? ''].filter(Boolean).join(' ');
      lines.push(
        `| \`${r.path}\` | ${cell(typeOf(r.node))} | ${cell(defaultOf(r.node, r.required))} | ${cell(allowedOf(r.node))} | ${cell(description)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Fields without a description (a new field must say what it does). */
export function undocumentedFields(schema: Node = configJsonSchema()): string[] {
  const missing: string[] = [];
  for (const [section, node] of Object.entries(schema.properties ?? {})) {
    for (const r of rows(section, node, false)) if (!r.node.description) missing.push(r.path);
  }
  return missing;
}
