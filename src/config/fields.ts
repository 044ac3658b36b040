// Field types shared by the configuration schema: durations, URLs and outbound HTTP headers.
// Each reports a problem as a listed message, never by throwing, so that one bad value never
// hides the others.
import { z } from 'zod';
import { headerValueProblem } from '../cloudevents/headerValue.ts';
import { durationMs, formatDuration } from '../duration.ts';

export { headerValueProblem };

const DURATION_HINT = 'a number of milliseconds or a duration like 250ms, 10s, 2m, 1h, 7d';

interface DurationBounds {
  min?: number;
  max?: number;
  minMessage?: string;
}

/** Milliseconds for a duration value, or z.NEVER with the problem pushed onto `ctx`. */
function toMs(value: number | string, bounds: DurationBounds, ctx: z.core.$RefinementCtx<unknown>): number {
  const min = bounds.min ?? 1;
  const ms = durationMs(value);
  if (ms === undefined) {
    ctx.issues.push({ code: 'custom', input: value, message: `must be ${DURATION_HINT}` });
    return z.NEVER;
  }
  if (ms < min) {
    ctx.issues.push({
      code: 'custom',
      input: value,
      message:
        bounds.minMessage ?? (min === 1 ? 'must be positive' : `must be at least ${formatDuration(min)}`),
    });
    return z.NEVER;
  }
  if (bounds.max !== undefined && ms > bounds.max) {
    ctx.issues.push({
      code: 'custom',
      input: value,
      message: `must be at most ${formatDuration(bounds.max)}`,
    });
    return z.NEVER;
  }
  return ms;
}

function durationMeta(bounds: DurationBounds) {
  // For the reference and the JSON Schema: milliseconds, or a label (bounds apply to the result).
  return {
    'x-duration': true,
    minimum: bounds.min ?? 1,
    ...(bounds.max === undefined ? {} : { maximum: bounds.max }),
  };
}

/**
 * A duration in milliseconds, written either as a number of milliseconds or as a label
 * ("10s"); the parsed value is always milliseconds. `min` defaults to 1 ms.
 */
export function duration(bounds: DurationBounds = {}) {
  return z
    .union([z.number(), z.string()], { error: `must be ${DURATION_HINT}` })
    .transform((value, ctx) => toMs(value, bounds, ctx))
    .meta(durationMeta(bounds));
}

/** A duration, or a keyword kept as it is (`auto`). */
export function durationOr<K extends string>(keyword: K, bounds: DurationBounds = {}) {
  return z
    .union([z.number(), z.string()], { error: `must be ${keyword} or ${DURATION_HINT}` })
    .transform((value, ctx): number | K => (value === keyword ? keyword : toMs(value, bounds, ctx)))
    .meta({ ...durationMeta(bounds), 'x-keyword': keyword });
}

/** A topic retention: a duration, or `forever` (also -1, Kafka's own word for it); the result is ms or -1. */
export function retention() {
  return z
    .union([z.number(), z.string()], { error: `must be forever or ${DURATION_HINT}` })
    .transform((value, ctx) => (value === 'forever' || value === -1 ? -1 : toMs(value, {}, ctx)))
    .meta({ 'x-retention': true });
}

/** Why `text` is not an acceptable http(s) URL, or undefined when it is. */
export function httpUrlProblem(text: string, options: { credentials: boolean }): string | undefined {
  if (!URL.canParse(text)) {
    return 'must be an absolute http or https URL, e.g. https://hooks.example.com/events';
  }
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (!url.hostname) return 'must name a host';
  if (!options.credentials && (url.username || url.password)) {
    return 'must not carry credentials; use headers';
  }
  return undefined;
}

/** An http(s) URL, or `false`: a proxy setting (false connects directly). */
export function proxySetting() {
  return z.union([z.string(), z.literal(false)]).check((ctx) => {
    if (ctx.value === false) return;
    const problem = httpUrlProblem(ctx.value, { credentials: true });
    if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: `${problem} (or false)` });
  });
}

export function httpUrl(options: { credentials: boolean }) {
  return z.string().check((ctx) => {
    const problem = httpUrlProblem(ctx.value, options);
    if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
  });
}

/** A redis:// or rediss:// URL that parses. */
export const redisUrl = z.string().check((ctx) => {
  if (!/^rediss?:\/\//.test(ctx.value) || !URL.canParse(ctx.value) || !new URL(ctx.value).hostname) {
    ctx.issues.push({
      code: 'custom',
      input: ctx.value,
      message: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379',
    });
  }
});

/**
 * Headers a destination may not set. Courier writes the first group itself; the second are
 * hop-by-hop or framing headers that undici refuses (`transfer-encoding`, `keep-alive`,
 * `upgrade`, `expect`, a `connection` it cannot parse) or that would break the request
 * (`te`, `trailer`, `proxy-connection`).
 */
const SET_BY_COURIER = new Set(['content-type', 'content-length', 'host', 'user-agent']);
const HOP_BY_HOP = new Set([
  'transfer-encoding',
  'expect',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
]);

/** Why `name` cannot be a configured header name, or undefined when it can. */
export function headerNameProblem(name: string): string | undefined {
  // Stricter than HTTP's token (which undici checks): names are letters, digits and dashes.
  if (!/^[A-Za-z0-9-]+$/.test(name)) return 'header names are letters, digits and dashes';
  const lower = name.toLowerCase();
  // Standard Webhooks' namespace (webhook-id, -timestamp, -signature, and any it adds) is Courier's.
  if (lower.startsWith('webhook-')) return 'webhook-* headers are set by Courier (Standard Webhooks)';
  if (SET_BY_COURIER.has(lower)) {
    return lower === 'user-agent'
      ? 'this header is set by Courier (courier/<version>): receivers can tell the sender by it'
      : 'this header is set by Courier';
  }
  if (HOP_BY_HOP.has(lower)) return 'this header controls the connection and cannot be configured';
  return undefined;
}

export const headerName = z.string().check((ctx) => {
  const problem = headerNameProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
});

export const headerValue = z.string().check((ctx) => {
  const problem = headerValueProblem(ctx.value);
  if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
});
