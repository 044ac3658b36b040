// The expressions a destination may carry: a filter and header values in CEL (the Common Expression
// Language, as Kubernetes admission policies, Envoy and Eventarc use it) over the CloudEvent, and a
// body transform in JSONata. Each is compiled once — at config load, where a syntax or type error
// or a regular expression that is not RE2 becomes a listed problem by path, and by the expression
// threads from the validated configuration — and then evaluated per event. Pure but for evaluation.
//
// CEL sees the event's attributes as variables (`id`, `type`, `source`, `subject`, `time`,
// `specversion`, `datacontenttype`, `dataschema`; an attribute the event lacks is ""), `data` (any
// JSON) and `extensions` (a map of the extension attributes). `type` is a CEL keyword (the type of
// types); as a variable it is renamed before compiling, so `type == "order.created"` means the
// event's type while `type(x)` is still CEL's function.
//
// Regular expressions run with RE2 semantics, as CEL's specification requires: linear in the input,
// whatever the pattern (`matches` in CEL; `/…/` literals in JSONata). A pattern RE2 does not accept
// (a backreference, a lookaround) is refused when it is a literal, and fails the event otherwise.
import { Environment, EvaluationError } from '@marcbachmann/cel-js';
import jsonata from 'jsonata';
import { RE2JS } from 're2js';
import { type CloudEvent, extensionsOf } from '../cloudevents/cloudEvent.ts';

const TYPE_ALIAS = '__event_type';
const MATCHES_ALIAS = '__re2_matches';
const STRING_ATTRIBUTES = ['id', 'source', 'subject', 'time', 'specversion', 'datacontenttype', 'dataschema'];

/** Compiled RE2 patterns by source (bounded: emptied whole when it grows past its bound). */
const re2Cache = new Map<string, RE2JS>();

/** The RE2 program of a pattern, or the reason RE2 refuses it. */
function re2(pattern: string, flags = 0): RE2JS | string {
  const key = `${flags}/${pattern}`;
  const cached = re2Cache.get(key);
  if (cached) return cached;
  try {
    const compiled = RE2JS.compile(pattern, flags);
    if (re2Cache.size >= 1000) re2Cache.clear();
    re2Cache.set(key, compiled);
    return compiled;
  } catch (err) {
    return (err as Error).message;
  }
}

function re2Matches(text: string, pattern: string): boolean {
  const compiled = re2(pattern);
  if (typeof compiled === 'string') {
    throw new EvaluationError(`invalid regular expression (RE2): ${compiled}`);
  }
  return compiled.test(text);
}

function celEnvironment(): Environment {
  let env = new Environment({ enableOptionalTypes: true, limits: { maxAstNodes: 10_000, maxDepth: 64 } });
  for (const name of STRING_ATTRIBUTES) env = env.registerVariable(name, 'string');
  return env
    .registerVariable(TYPE_ALIAS, 'string')
    .registerVariable('data', 'dyn')
    .registerVariable('extensions', 'map')
    .registerFunction(`string.${MATCHES_ALIAS}(string): bool`, re2Matches)
    .registerFunction(`${MATCHES_ALIAS}(string, string): bool`, re2Matches);
}

const ENV = celEnvironment();

/**
 * Renames the free identifier `type` (not a field like `data.type`, not the call `type(x)`, not
 * inside a string literal) to the variable the event's type is bound to, and every call of
 * `matches` to its RE2 implementation. Pure.
 */
export function bindNames(expression: string): string {
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
      if (word === 'type' && before !== '.' && after !== '(') out += TYPE_ALIAS;
      else if (word === 'matches' && after === '(') out += MATCHES_ALIAS;
      else out += word;
      i += word.length;
      continue;
    }
    out += c;
    i += 1;
  }
  return out;
}

/** Each event's variables, built once however many destinations' expressions look at it. */
const contexts = new WeakMap<CloudEvent, Record<string, unknown>>();

/** The variables an expression sees for one event. */
function celContext(event: CloudEvent): Record<string, unknown> {
  const cached = contexts.get(event);
  if (cached) return cached;
  const ctx: Record<string, unknown> = {
    [TYPE_ALIAS]: event.type,
    data: event.data ?? null,
    extensions: extensionsOf(event),
  };
  for (const name of STRING_ATTRIBUTES) {
    const v = event[name];
    ctx[name] = typeof v === 'string' ? v : '';
  }
  contexts.set(event, ctx);
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

/** What users wrote, not what Courier compiled it to. */
function readable(message: string): string {
  return message.replaceAll(TYPE_ALIAS, 'type').replaceAll(MATCHES_ALIAS, 'matches');
}

function fromCel(err: unknown): ExpressionError {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  const code = err instanceof EvaluationError && typeof err.code === 'string' ? err.code : 'evaluation_error';
  return new ExpressionError(code, readable(message));
}

type Compiled<T> = { ok: true; value: T } | { ok: false; problem: string };

interface CelNode {
  op: string;
  args: unknown;
}

function isNode(x: unknown): x is CelNode {
  return typeof x === 'object' && x !== null && 'op' in x;
}

/** The literal patterns passed to `matches` in a parsed CEL expression. Pure. */
function celPatterns(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const n of node) celPatterns(n, out);
    return out;
  }
  if (!isNode(node)) return out;
  const args = node.args;
  if (Array.isArray(args)) {
    // `s.matches(p)`: rcall [name, receiver, [p]]; `matches(s, p)`: call [name, [s, p]].
    const literal = (n: unknown) =>
      isNode(n) && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined;
    if (node.op === 'rcall' && args[0] === MATCHES_ALIAS) {
      const p = literal((args[2] as unknown[] | undefined)?.[0]);
      if (p !== undefined) out.push(p);
    } else if (node.op === 'call' && args[0] === MATCHES_ALIAS) {
      const p = literal((args[1] as unknown[] | undefined)?.[1]);
      if (p !== undefined) out.push(p);
    }
    celPatterns(args, out);
  }
  return out;
}

/** The first literal pattern RE2 refuses, as a problem. */
function patternProblem(patterns: readonly string[], flagsOf: (p: string) => number = () => 0) {
  for (const p of patterns) {
    const compiled = re2(p, flagsOf(p));
    if (typeof compiled === 'string') {
      return `regular expression ${JSON.stringify(p)} is not RE2 syntax (linear-time matching: no backreferences or lookaround): ${compiled}`;
    }
  }
  return undefined;
}

function compileCel(
  source: string,
  want: 'bool' | 'value',
): Compiled<(ctx: Record<string, unknown>) => unknown> {
  const bound = bindNames(source);
  let evaluate: ((ctx: Record<string, unknown>) => unknown) & { ast?: unknown };
  try {
    evaluate = ENV.parse(bound) as unknown as typeof evaluate;
  } catch (err) {
    return { ok: false, problem: `not a CEL expression: ${fromCel(err).message}` };
  }
  const checked = ENV.check(bound);
  if (!checked.valid) return { ok: false, problem: `CEL type error: ${fromCel(checked.error).message}` };
  if (want === 'bool' && checked.type !== 'bool' && checked.type !== 'dyn') {
    return { ok: false, problem: `must be a condition (a bool), not ${checked.type}` };
  }
  const refused = patternProblem(celPatterns(evaluate.ast));
  if (refused) return { ok: false, problem: refused };
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

/** Thrown by a transform's step check to stop the evaluation; passed through as it is. */
export class EvaluationStopped extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluationStopped';
  }
}

/**
 * A destination's body transform: the JSON text it is sent instead of the CloudEvent. `step` is
 * called before every evaluation step and may throw to stop it (the CPU budget's check).
 */
export type Transform = (event: CloudEvent, step?: () => void) => Promise<string>;

export interface TransformOptions {
  /** Deepest recursion allowed (default 500). */
  stack?: number;
}

/**
 * JSONata's regular expressions (`/…/` literals, a RegExp to it) through RE2: the part of the
 * RegExp interface JSONata uses (`lastIndex`, `exec`).
 */
class Re2RegExp {
  lastIndex = 0;
  private readonly program: RE2JS;
  constructor(source: RegExp) {
    const compiled = re2(source.source, re2Flags(source.flags));
    if (typeof compiled === 'string') {
      throw { code: 'RE2', message: `regular expression /${source.source}/ is not RE2 syntax: ${compiled}` };
    }
    this.program = compiled;
  }
  exec(text: string): RegExpExecArray | null {
    const m = this.program.matcher(text);
    if (this.lastIndex > text.length || !m.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const groups: Array<string | undefined> = [];
    for (let g = 0; g <= m.groupCount(); g++) groups.push(m.group(g) ?? undefined);
    const match = Object.assign(groups, { index: m.start(), input: text }) as unknown as RegExpExecArray;
    this.lastIndex = m.end();
    return match;
  }
}

function re2Flags(flags: string): number {
  return (
    (flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0) |
    (flags.includes('m') ? RE2JS.MULTILINE : 0) |
    (flags.includes('s') ? RE2JS.DOTALL : 0)
  );
}

/** The regular expression literals of a parsed JSONata expression. Pure. */
function jsonataPatterns(node: unknown, out: RegExp[] = [], seen = new Set<unknown>()): RegExp[] {
  if (typeof node !== 'object' || node === null || seen.has(node)) return out;
  seen.add(node);
  if (node instanceof RegExp) {
    out.push(node);
    return out;
  }
  for (const value of Object.values(node)) jsonataPatterns(value, out, seen);
  return out;
}

function jsonataMessage(err: unknown): { code: string; message: string } {
  const e = err as { code?: string; message?: string; position?: number; token?: string };
  const code = typeof e?.code === 'string' ? e.code : 'error';
  const at = typeof e?.position === 'number' ? ` at ${e.position}` : '';
  return { code, message: `${e?.message ?? String(err)}${at}` };
}

const ENTRY = Symbol.for('jsonata.__evaluate_entry');

export function compileTransform(source: string, options: TransformOptions = {}): Compiled<Transform> {
  let expression: ReturnType<typeof jsonata>;
  try {
    expression = jsonata(source, {
      stack: options.stack ?? 500,
      RegexEngine: Re2RegExp,
    } as unknown as Parameters<typeof jsonata>[1]);
  } catch (err) {
    return { ok: false, problem: `not a JSONata expression: ${jsonataMessage(err).message}` };
  }
  const patterns = jsonataPatterns(expression.ast());
  const refused = patternProblem(
    patterns.map((p) => p.source),
    (p) => re2Flags(patterns.find((r) => r.source === p)?.flags ?? ''),
  );
  if (refused) return { ok: false, problem: refused };
  // One evaluation at a time per compiled transform (its caller awaits each): the step check of
  // the evaluation under way.
  let step: (() => void) | undefined;
  expression.assign(ENTRY as unknown as string, () => step?.());
  return {
    ok: true,
    value: async (event, check) => {
      let result: unknown;
      step = check;
      try {
        result = await expression.evaluate(event);
      } catch (err) {
        // What the step check threw (a limit) is the caller's, not the expression's.
        if (err instanceof EvaluationStopped) throw err;
        const { code, message } = jsonataMessage(err);
        throw new ExpressionError(code, message);
      } finally {
        step = undefined;
      }
      if (result === undefined) throw new ExpressionError('no_result', 'the transform produced nothing');
      if (typeof result === 'function')
        throw new ExpressionError('not_json', 'the transform produced a function');
      return JSON.stringify(result);
    },
  };
}
