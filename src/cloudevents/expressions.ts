// The expressions a destination may carry: a filter and header values in CEL (the Common Expression
// Language, as Kubernetes admission policies, Envoy and Eventarc use it) over the CloudEvent, and a
// body transform in JSONata. Each is compiled once — at config load, where a syntax or type error
// becomes a listed problem by path, and by the router from the validated configuration — and then
// evaluated per event. Pure but for evaluation itself.
//
// CEL sees the event's attributes as variables (`id`, `type`, `source`, `subject`, `time`,
// `specversion`, `datacontenttype`, `dataschema`; an attribute the event lacks is ""), `data` (any
// JSON) and `extensions` (a map of the extension attributes). `type` is a CEL keyword (the type of
// types); as a variable it is renamed before compiling, so `type == "order.created"` means the
// event's type while `type(x)` is still CEL's function.
import { Environment, EvaluationError } from '@marcbachmann/cel-js';
import jsonata from 'jsonata';
import { type CloudEvent, extensionsOf } from '../cloudevents/cloudEvent.ts';

const TYPE_ALIAS = '__event_type';
const STRING_ATTRIBUTES = ['id', 'source', 'subject', 'time', 'specversion', 'datacontenttype', 'dataschema'];

function celEnvironment(): Environment {
  let env = new Environment({ enableOptionalTypes: true, limits: { maxAstNodes: 10_000, maxDepth: 64 } });
  for (const name of STRING_ATTRIBUTES) env = env.registerVariable(name, 'string');
  return env
    .registerVariable(TYPE_ALIAS, 'string')
    .registerVariable('data', 'dyn')
    .registerVariable('extensions', 'map');
}

const ENV = celEnvironment();

/**
 * Renames the free identifier `type` (not a field like `data.type`, not the call `type(x)`, not
 * inside a string literal) to the variable the event's type is bound to. Pure.
 */
export function bindEventType(expression: string): string {
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const c = expression[i] as string;
    if (c === '"' || c === "'") {
      // A string literal (triple-quoted or not, raw or not): copied as it is.
      const triple = expression.startsWith(c.repeat(3), i);
      const quote = triple ? c.repeat(3) : c;
      const raw = /[rR]$/.test(out) && !/[A-Za-z0-9_][rR]$/.test(out);
      let j = i + quote.length;
      while (j < expression.length && !expression.startsWith(quote, j))
        j += !raw && expression[j] === '\\' ? 2 : 1;
      out += expression.slice(i, j + quote.length);
      i = j + quote.length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expression.slice(i));
    if (ident) {
      const word = ident[0];
      const before = out.trimEnd().at(-1);
      const after = expression.slice(i + word.length).trimStart()[0];
      out += word === 'type' && before !== '.' && after !== '(' ? TYPE_ALIAS : word;
      i += word.length;
      continue;
    }
    out += c;
    i += 1;
  }
  return out;
}

/** The variables an expression sees for one event. */
function celContext(event: CloudEvent): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    [TYPE_ALIAS]: event.type,
    data: event.data ?? null,
    extensions: extensionsOf(event),
  };
  for (const name of STRING_ATTRIBUTES) {
    const v = event[name];
    ctx[name] = typeof v === 'string' ? v : '';
  }
  return ctx;
}

/** Why an expression failed for one event: a stable code (for metrics) and a message. */
export class ExpressionError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ExpressionError';
    this.code = code;
  }
}

function fromCel(err: unknown): ExpressionError {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  const readable = message.replaceAll(TYPE_ALIAS, 'type');
  const code = err instanceof EvaluationError && typeof err.code === 'string' ? err.code : 'evaluation_error';
  return new ExpressionError(code, readable);
}

type Compiled<T> = { ok: true; value: T } | { ok: false; problem: string };

function compileCel(
  source: string,
  want: 'bool' | 'value',
): Compiled<(ctx: Record<string, unknown>) => unknown> {
  const bound = bindEventType(source);
  let evaluate: (ctx: Record<string, unknown>) => unknown;
  try {
    evaluate = ENV.parse(bound) as unknown as (ctx: Record<string, unknown>) => unknown;
  } catch (err) {
    return { ok: false, problem: `not a CEL expression: ${fromCel(err).message}` };
  }
  const checked = ENV.check(bound);
  if (!checked.valid) return { ok: false, problem: `CEL type error: ${fromCel(checked.error).message}` };
  if (want === 'bool' && checked.type !== 'bool' && checked.type !== 'dyn') {
    return { ok: false, problem: `must be a condition (a bool), not ${checked.type}` };
  }
  return { ok: true, value: evaluate };
}

/** A destination's filter: does this event go to it? Throws ExpressionError when it cannot tell. */
export type Filter = (event: CloudEvent) => boolean;

export function compileFilter(source: string): Compiled<Filter> {
  const compiled = compileCel(source, 'bool');
  if (!compiled.ok) return compiled;
  const evaluate = compiled.value;
  return {
    ok: true,
    value: (event) => {
      let result: unknown;
      try {
        result = evaluate(celContext(event));
      } catch (err) {
        throw fromCel(err);
      }
      if (typeof result !== 'boolean')
        throw new ExpressionError('not_a_bool', 'the filter did not yield true or false');
      return result;
    },
  };
}

/** A header value from the event: a string, or undefined when the expression yields null. */
export type HeaderValue = (event: CloudEvent) => string | undefined;

export function compileHeaderValue(source: string): Compiled<HeaderValue> {
  const compiled = compileCel(source, 'value');
  if (!compiled.ok) return compiled;
  const evaluate = compiled.value;
  return {
    ok: true,
    value: (event) => {
      let result: unknown;
      try {
        result = evaluate(celContext(event));
      } catch (err) {
        throw fromCel(err);
      }
      if (result === null || result === undefined) return undefined;
      if (typeof result === 'string') return result;
      if (typeof result === 'bigint' || typeof result === 'number' || typeof result === 'boolean') {
        return String(result);
      }
      throw new ExpressionError('not_a_value', 'the header value is not a string, number or bool');
    },
  };
}

/** A destination's body transform: the JSON text it is sent instead of the CloudEvent. */
export type Transform = (event: CloudEvent) => Promise<string>;

export interface TransformLimits {
  /** Time budget per event (ms); a longer evaluation is stopped. */
  timeoutMs: number;
  /** Deepest recursion allowed. */
  stack?: number;
}

function jsonataMessage(err: unknown): { code: string; message: string } {
  const e = err as { code?: string; message?: string; position?: number; token?: string };
  const code = typeof e?.code === 'string' ? e.code : 'error';
  const at = typeof e?.position === 'number' ? ` at ${e.position}` : '';
  return { code, message: `${e?.message ?? String(err)}${at}` };
}

export function compileTransform(source: string, limits: TransformLimits): Compiled<Transform> {
  let expression: ReturnType<typeof jsonata>;
  try {
    expression = jsonata(source, { timeout: limits.timeoutMs, stack: limits.stack ?? 500 });
  } catch (err) {
    return { ok: false, problem: `not a JSONata expression: ${jsonataMessage(err).message}` };
  }
  return {
    ok: true,
    value: async (event) => {
      let result: unknown;
      try {
        result = await expression.evaluate(event);
      } catch (err) {
        const { code, message } = jsonataMessage(err);
        throw new ExpressionError(code === 'D1012' ? 'timeout' : code, message);
      }
      if (result === undefined) throw new ExpressionError('no_result', 'the transform produced nothing');
      if (typeof result === 'function')
        throw new ExpressionError('not_json', 'the transform produced a function');
      return JSON.stringify(result);
    },
  };
}
