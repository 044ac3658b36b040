// The fan-out: what one batch of decoded events becomes per destination — a destination record
// (the body and the headers taken from the event), nothing (its types or filter turn it away), or
// that destination's dead letter (its expressions failed or broke a limit, or the record does not
// fit its topic). The router and replay's backfill both route through it, so every rule holds on
// both paths.
//
// Destinations without expressions are routed at once, in the caller's turn. The others are
// evaluated on the expression threads (see lanes.ts): their results come later, in parts, each
// destination's in the order of its events. One destination's dead letter is never another's
// loss, and the event itself goes to the invalid topic only when it cannot be decoded or validated
// (the caller's part).
import { createHash } from 'node:crypto';
import type { CloudEvent } from '../cloudevents/cloudEvent.ts';
import {
  FAILURE_CLASS,
  matchesEventType,
  type ShapeFailureCode,
  type ShapeResult,
  type ShapeSource,
} from '../cloudevents/shape.ts';
import { eventHeaders, expressionLimitsOf } from '../config/destination.ts';
import type { DestinationConfig } from '../config/schema.ts';
import { type CarriedEvent, deadLetterRecord, destinationRecord } from '../kafka/records.ts';
import { estimateRecordBytes, fitsAlone, type SizedEntry, type TopicLimits } from '../kafka/sizedSend.ts';
import { SNIPPET_BYTES } from '../net/responseSnippet.ts';
import type { Logger } from '../telemetry/logger.ts';
import { ExpressionPool } from './expressionPool.ts';
import { ExpressionLanes, type LanesOptions } from './lanes.ts';

/** One decoded event to route. */
export interface RouteItem {
  event: CloudEvent;
  /** The event as JSON text: the body of a destination without a transform. */
  json: string;
  /** The event as it travels on (key, the JSON as bytes, the producer's headers, metadata). */
  carried: CarriedEvent;
}

/** A destination's dead letter written before any delivery. */
export interface RoutedDeadLetter {
  destination: string;
  eventId: string;
  eventType: string;
  errorClass: (typeof FAILURE_CLASS)[ShapeFailureCode];
  errorCode: ShapeFailureCode;
  error: string;
  at: number;
  configVersion: string | undefined;
  /** Its record on the destination's DLQ topic (holding the event itself, to be shaped again). */
  entry: SizedEntry;
}

/** Some of a batch's records, ready to be written (parts of one destination come in order). */
export interface RoutedPart {
  records: SizedEntry[];
  deadLetters: RoutedDeadLetter[];
  /** Filters that could not be evaluated for an event (it was not routed there). */
  filterFailures: Array<{ destination: string; code: string; message: string }>;
}

/** Where each event went, once the whole batch is routed. */
export interface RouteSummary {
  eventId: string;
  eventType: string;
  destinations: string[];
  filtered: string[];
}

export interface FanOutOptions {
  destinationTopic: (id: string) => string;
  dlqTopic: (id: string) => string;
  /** Each topic's max.message.bytes (the destination and DLQ topics are loaded by `setRouting`). */
  limits: TopicLimits;
  /** The expression hosts (started only when a destination has expressions). */
  expressions: { hosts: number; memoryMb: number };
  logger: Logger;
  /** Tuning of the lanes (tests). */
  lanes?: Omit<LanesOptions, 'pool' | 'logger'>;
}

interface Routing {
  /** The configuration version written on records (the router's `courier-config-version`). */
  version: string | undefined;
  destinations: Array<{ config: DestinationConfig; expressions?: number }>;
  /** The expressions' version on the threads, and their sources (indexed by `expressions`). */
  expressionVersion: string;
  sources: ShapeSource[];
}

export class FanOut {
  private readonly options: FanOutOptions;
  private routing: Routing = { version: undefined, destinations: [], expressionVersion: '', sources: [] };
  private pool: ExpressionPool | undefined;
  private lanes: ExpressionLanes | undefined;
  /** Batches being routed per expression version: a version is forgotten once none is. */
  private readonly inUse = new Map<string, number>();
  private readonly log: Logger;

  constructor(options: FanOutOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'fan-out' });
  }

  /**
   * Routes by these destinations from the next `route` on (a batch being routed finishes under
   * what it began with). Their topics' size limits are read first.
   */
  async setRouting(destinations: DestinationConfig[], version: string | undefined): Promise<void> {
    await this.options.limits.load(
      destinations.flatMap((d) => [this.options.destinationTopic(d.id), this.options.dlqTopic(d.id)]),
    );
    const sources: ShapeSource[] = [];
    const routed = destinations.map((config) => {
      if (!hasExpressions(config)) return { config };
      sources.push(shapeSource(config));
      return { config, expressions: sources.length - 1 };
    });
    const expressionVersion = createHash('sha256').update(JSON.stringify(sources)).digest('hex').slice(0, 16);
    if (sources.length > 0) {
      if (!this.pool) {
        this.pool = new ExpressionPool({ ...this.options.expressions, logger: this.log });
        // Started now, beside whatever else starts: the first events need not wait for it.
        this.pool.start().catch((err) => this.log.warn({ err }, 'expression hosts not started yet'));
      }
      this.lanes ??= new ExpressionLanes({ pool: this.pool, logger: this.log, ...this.options.lanes });
      this.pool.configure(expressionVersion, sources);
      this.lanes.retain(new Set(sources.map((s) => s.id)));
    }
    const previous = this.routing.expressionVersion;
    this.routing = { version, destinations: routed, expressionVersion, sources };
    if (previous !== expressionVersion) this.forgetIfUnused(previous);
  }

  private forgetIfUnused(expressionVersion: string): void {
    if (!expressionVersion || expressionVersion === this.routing.expressionVersion) return;
    if ((this.inUse.get(expressionVersion) ?? 0) === 0) this.pool?.forget(expressionVersion);
  }

  /**
   * Routes a batch. `onPart` gets its records as they are ready: first those of destinations
   * without expressions (before this returns its promise), then the others' as their
   * expressions are evaluated; each destination's in the order of the events. Resolves once every
   * part was given, with where each event went.
   */
  async route(items: readonly RouteItem[], onPart: (part: RoutedPart) => void): Promise<RouteSummary[]> {
    const routing = this.routing;
    const summaries: RouteSummary[] = items.map((i) => ({
      eventId: i.event.id,
      eventType: i.event.type,
      destinations: [],
      filtered: [],
    }));
    const direct = emptyPart();
    const pairs: number[] = [];
    items.forEach((item, i) => {
      for (const d of routing.destinations) {
        if (!matchesEventType(d.config.eventTypes, item.event.type)) continue;
        if (d.expressions === undefined)
          this.add(direct, routing, d.config, item, summaries[i] as RouteSummary);
        else pairs.push(i, d.expressions);
      }
    });
    if (direct.records.length > 0 || direct.deadLetters.length > 0) onPart(direct);
    if (pairs.length === 0 || !this.lanes) return summaries;
    const lanes = this.lanes;
    const byExpression = new Map(
      routing.destinations.flatMap((d) => (d.expressions === undefined ? [] : [[d.expressions, d.config]])),
    );
    const key = routing.expressionVersion;
    this.inUse.set(key, (this.inUse.get(key) ?? 0) + 1);
    try {
      await lanes.evaluate(
        { version: key, events: items.map((i) => i.json), pairs, sources: routing.sources },
        (destination, handed, results) => {
          const config = byExpression.get(destination) as DestinationConfig;
          const part = emptyPart();
          handed.forEach((k, n) => {
            const e = pairs[2 * k] as number;
            this.add(part, routing, config, items[e] as RouteItem, summaries[e] as RouteSummary, results[n]);
          });
          onPart(part);
        },
      );
    } finally {
      this.inUse.set(key, (this.inUse.get(key) ?? 1) - 1);
      this.forgetIfUnused(key);
    }
    return summaries;
  }

  /** What one destination gets of one event, added to a part. */
  private add(
    part: RoutedPart,
    routing: Routing,
    d: DestinationConfig,
    item: RouteItem,
    summary: RouteSummary,
    result: ShapeResult = { kind: 'route' },
  ): void {
    switch (result.kind) {
      case 'skip':
        summary.filtered.push(d.id);
        return;
      case 'filter-error':
        part.filterFailures.push({ destination: d.id, code: result.code, message: result.message });
        return;
      case 'fail':
        part.deadLetters.push(this.deadLetter(routing, d, item, result.code, result.error));
        return;
    }
    const { carried } = item;
    const topic = this.options.destinationTopic(d.id);
    const record = destinationRecord(d.id, {
      ...carried,
      value: result.body === undefined ? carried.value : Buffer.from(result.body),
      meta: {
        ...carried.meta,
        ...(routing.version ? { configVersion: routing.version } : {}),
        ...(result.headers ? { headers: result.headers } : {}),
        ...(result.body === undefined ? {} : { transformed: true }),
      },
    });
    const limit = this.options.limits.limitOf(topic);
    if (!fitsAlone(record, limit)) {
      part.deadLetters.push(
        this.deadLetter(
          routing,
          d,
          item,
          'RECORD_TOO_LARGE',
          `the routed record of about ${estimateRecordBytes(record)} bytes does not fit ${topic} (max.message.bytes ${limit})`,
        ),
      );
      return;
    }
    part.records.push({ topic, message: record });
    summary.destinations.push(d.id);
  }

  private deadLetter(
    routing: Routing,
    d: DestinationConfig,
    item: RouteItem,
    code: ShapeFailureCode,
    error: string,
  ): RoutedDeadLetter {
    const at = Date.now();
    const { carried, event } = item;
    const topic = this.options.dlqTopic(d.id);
    const errorClass = FAILURE_CLASS[code];
    const message = deadLetterRecord(
      {
        ...carried,
        meta: {
          ...carried.meta,
          unshaped: true,
          ...(routing.version ? { configVersion: routing.version } : {}),
        },
      },
      {
        destination: d.id,
        eventId: event.id,
        errorClass,
        attempts: 0,
        firstAttemptAt: at,
        lastAttemptAt: at,
        lastError: `${code}: ${error}`,
      },
      SNIPPET_BYTES,
    );
    const limit = this.options.limits.limitOf(topic);
    if (!fitsAlone(message, limit)) {
      this.log.error(
        {
          code: 'RECORD_TOO_LARGE',
          destination: d.id,
          eventId: event.id,
          bytes: estimateRecordBytes(message),
          limit,
        },
        "the event does not fit its destination's DLQ topic: raise that topic's max.message.bytes",
      );
    }
    return {
      destination: d.id,
      eventId: event.id,
      eventType: event.type,
      errorClass,
      errorCode: code,
      error,
      at,
      configVersion: routing.version,
      entry: { topic, message },
    };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}

/** A destination's expressions as the expression hosts compile them. */
export function shapeSource(d: DestinationConfig): ShapeSource {
  return {
    id: d.id,
    ...(d.filter ? { filter: d.filter } : {}),
    ...(d.transform ? { transform: d.transform } : {}),
    headers: eventHeaders(d).map(({ name, from, optional }) => ({ name, from, optional })),
    limits: expressionLimitsOf(d),
  };
}

/** Whether a destination has any expression to evaluate per event (else its events pass as they are). */
export function hasExpressions(d: DestinationConfig): boolean {
  return Boolean(d.filter || d.transform || eventHeaders(d).length > 0);
}

function emptyPart(): RoutedPart {
  return { records: [], deadLetters: [], filterFailures: [] };
}
