// Which events a destination gets and what it receives: its event-type globs and CEL filter decide
// whether an event goes there; its JSONata transform makes the body (else the CloudEvent as JSON)
// and its headers taken from the event are computed and checked like fixed ones, within the
// destination's expression limits. The globs are matched where events are routed; the
// expressions are compiled from a plain description (`ShapeSource`, which crosses to the
// expression hosts) and evaluated there, one event and destination at a time (`shapeEvent`). Free
// of the configuration schema, so the hosts load little.

import type { CloudEvent } from './cloudEvent.ts';
import {
  compileFilter,
  compileHeaderValue,
  compileTransform,
  ExpressionError,
  type Filter,
  type HeaderValue,
  type Transform,
} from './expressions.ts';
import { headerValueProblem } from './headerValue.ts';
import type { ShapeStage } from './stages.ts';

const globCache = new Map<string, RegExp>();

/** Whether a glob (`*` any run of characters, `?` one) matches. Pure. */
function globMatches(pattern: string, value: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    const body = [...pattern]
      .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`);
    globCache.set(pattern, re);
  }
  return re.test(value);
}

export function matchesEventType(patterns: readonly string[], eventType: string): boolean {
  return patterns.some((p) => globMatches(p, eventType));
}

export interface ExpressionLimits {
  /** CPU time of one event's filter, headers and transform together (ms). */
  cpuMs: number;
  /** Largest transform output (bytes of JSON). */
  outputBytes: number;
  /** Largest header value taken from the event (bytes). */
  headerBytes: number;
}

/** A destination's expressions as plain data: what the expression threads compile. */
export interface ShapeSource {
  id: string;
  filter?: string;
  transform?: string;
  headers: Array<{ name: string; from: string; optional: boolean }>;
  limits: ExpressionLimits;
}

export interface DestinationShape {
  id: string;
  filter?: Filter;
  transform?: Transform;
  headers: Array<{ name: string; value: HeaderValue; optional: boolean }>;
  limits: ExpressionLimits;
}

/** The expressions of one destination, compiled (the configuration was validated, so they compile). */
export function compileShape(s: ShapeSource): DestinationShape {
  const must = <T>(compiled: { ok: true; value: T } | { ok: false; problem: string }, what: string): T => {
    if (!compiled.ok) throw new Error(`destinations.${s.id}.${what}: ${compiled.problem}`);
    return compiled.value;
  };
  return {
    id: s.id,
    ...(s.filter ? { filter: must(compileFilter(s.filter), 'filter') } : {}),
    ...(s.transform ? { transform: must(compileTransform(s.transform), 'transform') } : {}),
    headers: s.headers.map((h) => ({
      name: h.name,
      value: must(compileHeaderValue(h.from), `headers.${h.name}.from`),
      optional: h.optional,
    })),
    limits: s.limits,
  };
}

/**
 * Why an event is a destination's dead letter before delivery, as a stable code. The limits:
 * CPU_LIMIT, MEMORY_LIMIT (the expression thread ran out of heap), OUTPUT_LIMIT, HEADER_LIMIT,
 * RECORD_TOO_LARGE (over the destination topic's max.message.bytes), SUSPENDED (not evaluated:
 * the destination's expressions broke their limits on several events in a row), THREAD_DIED.
 */
export type ShapeFailureCode =
  | 'TRANSFORM_FAILED'
  | 'INVALID_REQUEST'
  | 'CPU_LIMIT'
  | 'MEMORY_LIMIT'
  | 'THREAD_DIED'
  | 'SUSPENDED'
  | 'OUTPUT_LIMIT'
  | 'HEADER_LIMIT'
  | 'RECORD_TOO_LARGE';

/** The DLQ class of each failure. */
export const FAILURE_CLASS = {
  TRANSFORM_FAILED: 'transform-failed',
  INVALID_REQUEST: 'invalid-request',
  CPU_LIMIT: 'transform-failed',
  MEMORY_LIMIT: 'transform-failed',
  THREAD_DIED: 'transform-failed',
  SUSPENDED: 'transform-failed',
  OUTPUT_LIMIT: 'too-large',
  HEADER_LIMIT: 'too-large',
  RECORD_TOO_LARGE: 'too-large',
} as const satisfies Record<ShapeFailureCode, 'transform-failed' | 'invalid-request' | 'too-large'>;

/** What one destination's expressions make of one event. */
export type ShapeResult =
  /** Its filter turned the event away. */
  | { kind: 'skip' }
  /** It goes there: with the transform's body (else the CloudEvent) and the headers taken from it. */
  | { kind: 'route'; body?: string; headers?: Record<string, string> }
  /** The filter could not be evaluated for this event: not routed there, counted with the reason. */
  | { kind: 'filter-error'; code: string; message: string }
  /** The destination's dead letter. */
  | { kind: 'fail'; code: ShapeFailureCode; error: string };

/** Thrown by a step check: the destination's CPU budget for the event is spent. */
export function cpuLimitMessage(limits: ExpressionLimits, stage: ShapeStage): string {
  return `cpu limit: the ${stage} used more than the destination's ${limits.cpuMs} ms of CPU time for this event (expressionLimits.cpuMs)`;
}

/**
 * One destination's expressions over one event: at once when it has no transform, else a promise.
 * Never throws (nor rejects) but what `step` throws (it is the caller's check of the CPU budget,
 * called before every transform step); `stage` is told which expression runs.
 */
export function shapeEvent(
  shape: DestinationShape,
  event: CloudEvent,
  hooks: { step?: () => void; stage?: (stage: number) => void } = {},
): ShapeResult | Promise<ShapeResult> {
  if (shape.filter) {
    hooks.stage?.(0);
    try {
      if (!shape.filter(event)) return { kind: 'skip' };
    } catch (err) {
      const e = err instanceof ExpressionError ? err : new ExpressionError('evaluation_error', String(err));
      return { kind: 'filter-error', code: e.code, message: e.message };
    }
  }
  const headers: Record<string, string> = {};
  if (shape.headers.length > 0) hooks.stage?.(1);
  for (const h of shape.headers) {
    let value: string | undefined;
    let problem: string | undefined;
    try {
      value = h.value(event);
      if (value === undefined) problem = 'the event has no value for it';
    } catch (err) {
      problem = (err as Error).message;
    }
    if (value !== undefined && Buffer.byteLength(value) > shape.limits.headerBytes) {
      return {
        kind: 'fail',
        code: 'HEADER_LIMIT',
        error: `header ${h.name}: a value of ${Buffer.byteLength(value)} bytes, over the destination's limit of ${shape.limits.headerBytes} (expressionLimits.headerBytes)`,
      };
    }
    if (value !== undefined) problem = headerValueProblem(value);
    // Optional: when the event has no valid value for it, no header.
    if (problem) {
      if (h.optional) continue;
      return { kind: 'fail', code: 'INVALID_REQUEST', error: `header ${h.name}: ${problem}` };
    }
    headers[h.name] = value as string;
  }
  const withHeaders = Object.keys(headers).length > 0 ? { headers } : {};
  if (!shape.transform) return { kind: 'route', ...withHeaders };
  hooks.stage?.(2);
  return transformed(shape, shape.transform, event, withHeaders, hooks.step);
}

async function transformed(
  shape: DestinationShape,
  transform: Transform,
  event: CloudEvent,
  withHeaders: { headers?: Record<string, string> },
  step: (() => void) | undefined,
): Promise<ShapeResult> {
  let body: string;
  try {
    body = await transform(event, step);
  } catch (err) {
    if (err instanceof ExpressionError) return { kind: 'fail', code: 'TRANSFORM_FAILED', error: err.message };
    throw err;
  }
  const bytes = Buffer.byteLength(body);
  if (bytes > shape.limits.outputBytes) {
    return {
      kind: 'fail',
      code: 'OUTPUT_LIMIT',
      error: `the transform produced ${bytes} bytes, over the destination's limit of ${shape.limits.outputBytes} (expressionLimits.outputBytes)`,
    };
  }
  return { kind: 'route', body, ...withHeaders };
}
