// The CloudEvent shape Courier routes and delivers, and its validation (DESIGN §3). Pure.
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
  if ((v.id as string).length > 256)
    throw new InvalidEventError('EVENT_BAD_FIELD', '"id" is longer than 256 characters');
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
  }
  return event;
}
