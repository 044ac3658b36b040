// OpenTelemetry tracing (config `observability.tracing`), off unless configured: one span for the
// routing of each event (messaging conventions) and one per delivery attempt (HTTP client
// conventions), exported over OTLP/HTTP (JSON) to `<endpoint>/v1/traces`. The parent of an event's
// routing span is the producer's: its `traceparent` (and `tracestate`) Kafka header, or else its
// CloudEvents `traceparent` extension. Each destination record carries the routing span's
// `traceparent` (header `courier-traceparent`), so every attempt, retry, dead letter and replay of
// the event joins its trace; the webhook request carries the attempt span's `traceparent`.
// The provider is Courier's own (nothing is registered globally): a library user's tracing is left
// alone. Disabled, every call is a no-op that costs a property check.
import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { VERSION } from '../version.ts';

export interface TracingConfig {
  endpoint: string;
  sampleRatio: number;
  serviceName: string;
}

/** W3C trace context as carried in headers. */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** A span in progress: its context to carry onward, and its end. */
export interface TraceSpan {
  /** The `traceparent` of this span (what its children, and the receiver, are given). */
  readonly traceparent: string | undefined;
  readonly traceId: string;
  /** Ends the span; with `error`, marked failed with that error type. */
  end(outcome?: { error?: string; attributes?: Attributes }): void;
}

const propagator = new W3CTraceContextPropagator();

function contextOf(carrier: TraceCarrier | undefined): Context {
  if (!carrier?.traceparent) return ROOT_CONTEXT;
  return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

function traceparentOf(span: Span): string | undefined {
  const out: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), out, defaultTextMapSetter);
  return out.traceparent;
}

function wrap(span: Span): TraceSpan {
  const traceparent = traceparentOf(span);
  return {
    traceparent,
    traceId: span.spanContext().traceId,
    end(outcome) {
      if (outcome?.attributes) span.setAttributes(outcome.attributes);
      if (outcome?.error) {
        span.setAttribute('error.type', outcome.error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
      }
      span.end();
    },
  };
}

export class Tracing {
  private readonly provider: TracerProvider | undefined;
  private readonly tracer: Tracer | undefined;

  constructor(config: TracingConfig | undefined) {
    if (!config) return;
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': VERSION }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${config.endpoint.replace(/\/$/, '')}/v1/traces` }),
          scheduledDelayMillis: 1000,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('courier', VERSION);
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** The span of routing one event, under its producer's trace. */
  routing(parent: TraceCarrier | undefined, attributes: Attributes): TraceSpan | undefined {
    if (!this.tracer) return undefined;
    const span = this.tracer.startSpan(
      `process ${String(attributes['messaging.destination.name'] ?? 'events')}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'messaging.system': 'kafka', 'messaging.operation.type': 'process', ...attributes },
      },
      contextOf(parent),
    );
    return wrap(span);
  }

  /** The span of one delivery attempt (an HTTP POST), under the event's routing span. */
  attempt(parent: TraceCarrier | undefined, attributes: Attributes): TraceSpan | undefined {
    if (!this.tracer) return undefined;
    const span = this.tracer.startSpan(
      'POST',
      { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'POST', ...attributes } },
      contextOf(parent),
    );
    return wrap(span);
  }

  /** Exports what is left, then stops. */
  async shutdown(): Promise<void> {
    await this.provider?.shutdown().catch(() => {});
  }
}

/** The producer's trace context of an event: its Kafka headers, else its CloudEvents extension. */
export function producerTrace(
  headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined,
  extension: unknown,
): TraceCarrier | undefined {
  const text = (v: unknown) =>
    Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : undefined;
  const traceparent = text(headers?.traceparent);
  if (traceparent) return { traceparent, tracestate: text(headers?.tracestate) };
  const fromEvent = text(extension);
  return fromEvent ? { traceparent: fromEvent } : undefined;
}
