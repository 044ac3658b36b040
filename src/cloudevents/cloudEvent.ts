// The CloudEvent shape Courier routes and delivers, and its validation. Pure.
import { InvalidEventError } from '../errors.ts';

export interface CloudEvent {
  specversion: string;
  id: string;
  type: string;
  source: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  data?: unknown;
  /** Extension attributes (`tenant`, `traceparent`, …): kept as they came, beside the others. */
  [extension: string]: unknown;
}

/** The attributes CloudEvents defines; every other top-level member is an extension. */
export const CORE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'specversion',
  'id',
  'type',
  'source',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
]);

/** The extension attributes of an event. Pure. */
export function extensionsOf(event: CloudEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(event)) if (!CORE_ATTRIBUTES.has(name)) out[name] = value;
  return out;
}

/** Deepest nesting of `data` Courier accepts; deeper input could blow the stack when encoded. */
export const MAX_DATA_DEPTH = 64;
/** Longest event id: it becomes the `webhook-id` header and Redis keys. */
export const MAX_ID_LENGTH = 256;
/**
 * An event id is sent as the `webhook-id` HTTP header, so it must be a valid header value that
 * survives unchanged: printable ASCII (0x21-0x7E), inner spaces allowed, no leading or trailing
 * space (HTTP trims those, so the receiver would verify a different id than was signed).
 */
const HEADER_SAFE_ID = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Why an id cannot be a header value, or undefined when it can. */
export function idProblem(id: string): string | undefined {
  if (id.length > MAX_ID_LENGTH) return `"id" is longer than ${MAX_ID_LENGTH} characters`;
  if (HEADER_SAFE_ID.test(id)) return undefined;
  const bad = [...id].find((ch, i, all) => {
    const c = ch.codePointAt(0) as number;
    if (c === 0x20) return i === 0 || i === all.length - 1;
    return c < 0x21 || c > 0x7e;
  });
  const code =
    bad === undefined
      ? ''
      : `U+${(bad.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
  if (bad === ' ') return '"id" starts or ends with a space';
  if (bad === '\uFFFD') return `"id" contains ${code} (invalid UTF-8 in the input)`;
  return `"id" must be printable ASCII (it is the webhook-id header); found ${code}`;
}

/** Whether a JSON value nests deeper than `max` (iterative: deep input cannot blow the stack here). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const OPTIONAL_STRINGS = ['time', 'subject', 'datacontenttype'] as const;

/** Checks a decoded object and returns the CloudEvent, or throws InvalidEventError naming the field. */
export function toCloudEvent(value: unknown, options: { dataIsJsonText?: boolean } = {}): CloudEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidEventError('EVENT_NOT_DECODABLE', 'event is not an object');
  }
  const v = value as Record<string, unknown>;
  for (const field of ['id', 'type', 'source'] as const) {
    if (v[field] === undefined || v[field] === null || v[field] === '') {
      throw new InvalidEventError('EVENT_MISSING_FIELD', `event has no "${field}"`);
    }
    if (typeof v[field] !== 'string')
      throw new InvalidEventError('EVENT_BAD_FIELD', `"${field}" must be a string`);
  }
  const badId = idProblem(v.id as string);
  if (badId) throw new InvalidEventError('EVENT_BAD_FIELD', badId);
  const event: CloudEvent = {
    specversion: typeof v.specversion === 'string' ? v.specversion : '1.0',
    id: v.id as string,
    type: v.type as string,
    source: v.source as string,
  };
  for (const field of OPTIONAL_STRINGS) {
    const f = v[field];
    if (f === undefined || f === null) continue;
    if (typeof f !== 'string') throw new InvalidEventError('EVENT_BAD_FIELD', `"${field}" must be a string`);
    event[field] = f;
  }
  // Extensions and the other attributes pass through as they came: a receiver gets the event whole.
  for (const [name, value] of Object.entries(v)) {
    if (
      value === undefined ||
      (CORE_ATTRIBUTES.has(name) && name !== 'dataschema' && name !== 'data_base64')
    ) {
      continue;
    }
    if (nestsDeeperThan(value, MAX_DATA_DEPTH)) {
      throw new InvalidEventError('EVENT_TOO_DEEP', `"${name}" nests deeper than ${MAX_DATA_DEPTH} levels`);
    }
    event[name] = value;
  }
  if (event.time !== undefined && (!ISO_8601.test(event.time) || Number.isNaN(Date.parse(event.time)))) {
    throw new InvalidEventError('EVENT_BAD_FIELD', '"time" must be an ISO-8601 timestamp');
  }
  if (v.data !== undefined && v.data !== null) {
    if (options.dataIsJsonText && typeof v.data === 'string') {
      try {
        event.data = JSON.parse(v.data);
      } catch {
        throw new InvalidEventError('EVENT_BAD_FIELD', '"data" is not JSON text');
      }
    } else {
      event.data = v.data;
    }
    if (nestsDeeperThan(event.data, MAX_DATA_DEPTH)) {
      throw new InvalidEventError('EVENT_TOO_DEEP', `"data" nests deeper than ${MAX_DATA_DEPTH} levels`);
    }
  }
  return event;
}
