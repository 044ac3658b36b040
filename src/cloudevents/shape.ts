// Which events a destination gets and what it receives: its event-type globs and CEL filter decide
// whether an event goes there; its JSONata transform makes the body (else the CloudEvent as JSON)
// and its headers taken from the event are computed and checked like fixed ones. Compiled once
// per destination from the validated configuration; used by the router for every event and by
// replay for an event that was dead-lettered before it could be shaped.

import { eventHeaders } from '../config/destination.ts';
import { headerValueProblem } from '../config/fields.ts';
import type { DestinationConfig } from '../config/schema.ts';
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

export interface DestinationShape {
  id: string;
  eventTypes: readonly string[];
  filter?: Filter;
  transform?: Transform;
  headers: Array<{ name: string; value: HeaderValue; optional: boolean }>;
}

/** The expressions of one destination, compiled (the configuration was validated, so they compile). */
export function compileShape(d: DestinationConfig): DestinationShape {
  const must = <T>(compiled: { ok: true; value: T } | { ok: false; problem: string }, what: string): T => {
    if (!compiled.ok) throw new Error(`destinations.${d.id}.${what}: ${compiled.problem}`);
    return compiled.value;
  };
  return {
    id: d.id,
    eventTypes: d.eventTypes,
    ...(d.filter ? { filter: must(compileFilter(d.filter), 'filter') } : {}),
    ...(d.transform
      ? { transform: must(compileTransform(d.transform, { timeoutMs: d.transformTimeoutMs }), 'transform') }
      : {}),
    headers: eventHeaders(d).map((h) => ({
      name: h.name,
      value: must(compileHeaderValue(h.from), `headers.${h.name}.from`),
      optional: h.optional,
    })),
  };
}

export type RouteDecision =
  | { to: boolean; error?: undefined }
  /** The filter could not be evaluated for this event: not routed, and counted with the reason. */
  | { to: false; error: ExpressionError };

/** Whether the event goes to the destination. Never throws. */
export function routeTo(shape: DestinationShape, event: CloudEvent): RouteDecision {
  if (!matchesEventType(shape.eventTypes, event.type)) return { to: false };
  if (!shape.filter) return { to: true };
  try {
    return { to: shape.filter(event) };
  } catch (err) {
    return {
      to: false,
      error: err instanceof ExpressionError ? err : new ExpressionError('evaluation_error', String(err)),
    };
  }
}

export type Shaped =
  | { ok: true; body: string; headers: Record<string, string>; transformed: boolean }
  | { ok: false; errorClass: 'transform-failed' | 'invalid-request'; error: string };

/** The body and event-taken headers the destination gets for this event. Never throws. */
export async function shapeFor(
  shape: DestinationShape,
  event: CloudEvent,
  eventJson: string,
): Promise<Shaped> {
  const headers: Record<string, string> = {};
  for (const h of shape.headers) {
    let value: string | undefined;
    try {
      value = h.value(event);
    } catch (err) {
      if (h.optional) continue;
      return {
        ok: false,
        errorClass: 'invalid-request',
        error: `header ${h.name}: ${(err as Error).message}`,
      };
    }
    if (value === undefined) {
      if (h.optional) continue;
      return {
        ok: false,
        errorClass: 'invalid-request',
        error: `header ${h.name}: the event has no value for it`,
      };
    }
    const problem = headerValueProblem(value);
    if (problem) return { ok: false, errorClass: 'invalid-request', error: `header ${h.name}: ${problem}` };
    headers[h.name] = value;
  }
  if (!shape.transform) return { ok: true, body: eventJson, headers, transformed: false };
  try {
    return { ok: true, body: await shape.transform(event), headers, transformed: true };
  } catch (err) {
    return { ok: false, errorClass: 'transform-failed', error: (err as Error).message };
  }
}
