// One delivery attempt of one message, up to its outcome: admission (delivered already? being
// sent by someone else? — batched with the other messages admitted at the same time), the rate
// limit (only for messages that will really be sent), the Standard Webhooks signature, and the
// POST through the gate's circuit breaker. What to do with the outcome is decide()'s job.
import { type Clock, preciseNow, sleep, systemClock } from '../clock.ts';
import { eventHeaders, fixedHeaders, requestTimeout, statusRulesOf } from '../config/destination.ts';
import type { DestinationConfig } from '../config/schema.ts';
import type { AuthorizeResult, DestinationCredentials } from '../credentials/credentials.ts';
import type { TokenFailure } from '../credentials/tokenResponse.ts';
import { redact, secretForms } from '../net/redact.ts';
import { sign } from '../net/signer.ts';
import { classify, type Outcome, refreshesCredentials, type SendResult } from '../policy/failures.ts';
import type { StatusRules } from '../policy/statusRules.ts';
import type { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import { producerTrace, type TraceCarrier, type Tracing } from '../telemetry/tracing.ts';
import type { DeliveryGate } from './deliveryGate.ts';
import type { DeliveryMessage } from './message.ts';
import type { RateLimiter } from './rateLimiter.ts';
import type { WebhookSender } from './sender.ts';

export type Delivery =
  /**
   * The delivered-key set says this destination has it already, from attempt `deliveredBy` (0:
   * unknown); `unconfirmed` while the delivery log had not confirmed that attempt's record.
   */
  | { kind: 'skipped'; deliveredBy: number; unconfirmed: boolean }
  /** The wait was abandoned (stop or rebalance) before anything was sent. */
  | { kind: 'abandoned' }
  /**
   * Processes died `crashes` times holding this message (claimed, never completed): it is not
   * sent again but moved aside; the actions (act.ts) completes the claim.
   */
  | { kind: 'crash-loop'; token: string; crashes: number }
  /** The breaker refused to send, or the gate shut meanwhile: nothing was sent; wait at the gate. */
  | { kind: 'rejected' }
  | {
      kind: 'attempted';
      /** The claim under which it was sent: the actions (act.ts) completes or releases it. */
      token: string;
      result: SendResult;
      outcome: Outcome;
      /** When the request was sent (ms). */
      sentAt: number;
      /** When it was admitted (claimed, and a rate-limit permit taken) and answered: epoch ms, fractional. */
      admittedAt: number;
      answeredAt: number;
      /** The signature-relevant headers of the request (never Authorization or configured ones). */
      request: { webhookId: string; webhookTimestamp: string; webhookSignature: string };
      /** A 401 was answered by fetching a fresh token and sending again: this is the second send. */
      refreshed: boolean;
      /** The trace of the attempt's span (tracing on), what the request's `traceparent` carried. */
      traceId?: string;
    };

export interface DelivererOptions {
  destination: DestinationConfig;
  sender: WebhookSender;
  deliveredKeys: DeliveredKeySet;
  gate: DeliveryGate;
  rateLimiter?: RateLimiter;
  /** OAuth2, Basic or mTLS credentials; none when the destination has no `auth`. */
  credentials?: DestinationCredentials;
  /** A span per attempt (config `observability.tracing`); none: no spans, no `traceparent` sent. */
  tracing?: Tracing;
  clock?: Clock;
}

/** The trace an attempt joins: the event's routing span, else the producer's own context. */
function parentTrace(message: DeliveryMessage): TraceCarrier | undefined {
  if (message.meta.traceparent) return { traceparent: message.meta.traceparent };
  return producerTrace(message.userHeaders, undefined);
}

/** The URL of a destination as a span names it: no credentials, no query (it may carry tokens). */
function spanUrl(url: string): { 'url.full': string; 'server.address': string; 'server.port'?: number } {
  const u = new URL(url);
  return {
    'url.full': `${u.protocol}//${u.host}${u.pathname}`,
    'server.address': u.hostname,
    ...(u.port ? { 'server.port': Number(u.port) } : {}),
  };
}

/**
 * A token endpoint failure as the attempt's result: no request left for the destination, so it
 * never counts against its circuit breaker; what it means is the failure map's.
 */
function tokenFailure(failure: TokenFailure, now: number): { result: SendResult; outcome: Outcome } {
  const result: SendResult = { errorCode: failure.code, errorMessage: failure.message, latencyMs: 0 };
  return { result, outcome: classify(result, now) };
}

export class Deliverer {
  private readonly options: DelivererOptions;
  private readonly clock: Clock;
  private readonly fixedHeaders: Record<string, string>;
  private readonly statusRules: StatusRules;
  /** What a response must never carry into Courier's records: this destination's secrets. */
  private readonly staticSecrets: string[];
  private readonly secretHeaders: string[];
  /** The destination as its attempt spans name it (tracing on), worked out once. */
  private readonly spanTarget: ReturnType<typeof spanUrl> | undefined;
  /** How long a claim may wait for a rate-limit permit before it is taken again (lock safety). */
  private readonly reclaimAfterMs: number;
  /** Deliveries under way, and who waits for there to be none (a reload retiring this deliverer). */
  private active = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: DelivererOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.reclaimAfterMs = Math.max(1000, requestTimeout(options.destination).timeoutMs / 2);
    this.fixedHeaders = fixedHeaders(options.destination);
    this.statusRules = statusRulesOf(options.destination);
    const d = options.destination;
    const auth = d.auth;
    this.spanTarget = options.tracing ? spanUrl(options.destination.url) : undefined;
    this.staticSecrets = [
      ...d.secrets,
      ...Object.values(this.fixedHeaders),
      ...(auth?.type === 'basic' ? [auth.password] : []),
      ...(auth?.type === 'oauth2' ? [auth.clientSecret] : []),
    ];
    this.secretHeaders = eventHeaders(d)
      .filter((h) => h.secret)
      .map((h) => h.name);
  }

  /** Resolves once no delivery is under way (at once when none is). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The result with every secret of the request removed from what the receiver sent back. */
  private withoutSecrets(result: SendResult, requestSecrets: Array<string | undefined>): SendResult {
    if (result.snippet === undefined && result.errorMessage === undefined) return result;
    const forms = secretForms([...this.staticSecrets, ...requestSecrets]);
    return {
      ...result,
      ...(result.snippet === undefined ? {} : { snippet: redact(result.snippet, forms) }),
      ...(result.errorMessage === undefined ? {} : { errorMessage: redact(result.errorMessage, forms) }),
    };
  }

  async deliver(message: DeliveryMessage, signal: AbortSignal): Promise<Delivery> {
    this.active += 1;
    try {
      return await this.attempt(message, signal);
    } finally {
      this.active -= 1;
      if (this.active === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async attempt(message: DeliveryMessage, signal: AbortSignal): Promise<Delivery> {
    const { meta } = message;
    const { deliveredKeys, rateLimiter } = this.options;
    const token = deliveredKeys.newToken();
    const claim = async (): Promise<Delivery | undefined> => {
      for (;;) {
        const c = await deliveredKeys.claim(meta.eventId, { token, force: meta.force });
        if (c.state === 'claimed') return undefined;
        if (c.state === 'delivered')
          return { kind: 'skipped', deliveredBy: c.attempt, unconfirmed: c.unconfirmed };
        if (c.state === 'crash-loop') return { kind: 'crash-loop', token, crashes: c.crashes };
        // Another sender has it right now: wait for them rather than send twice.
        await sleep(this.clock, Math.min(c.retryInMs, 250), signal);
        if (signal.aborted) return { kind: 'abandoned' };
      }
    };

    const before = await claim();
    if (before) return before;
    if (rateLimiter) {
      const claimedAt = this.clock.now();
      if (!(await rateLimiter.acquire(signal))) {
        await deliveredKeys.release(meta.eventId, token);
        return { kind: 'abandoned' };
      }
      // The destination may have been paused, or its circuit opened, during the wait.
      if (this.options.gate.shut()) {
        await deliveredKeys.release(meta.eventId, token);
        return { kind: 'rejected' };
      }
      // A long wait for a permit may outlive the in-flight lock: renew the claim (same token)
      // before sending; if someone else took the event meanwhile, the permit goes unused.
      if (this.clock.now() - claimedAt >= this.reclaimAfterMs) {
        const after = await claim();
        if (after) return after;
      }
    }

    const { destination } = this.options;
    const body = message.value ?? Buffer.alloc(0);
    const timestampSeconds = Math.floor(this.clock.now() / 1000);
    const signature = sign({ id: meta.eventId, timestampSeconds, body, secrets: destination.secrets });
    const request = {
      webhookId: meta.eventId,
      webhookTimestamp: String(timestampSeconds),
      webhookSignature: signature,
    };
    const headers = {
      ...this.fixedHeaders,
      // Taken from the event by the router, the same on every retry and replay.
      ...meta.headers,
      'webhook-id': request.webhookId,
      'webhook-timestamp': request.webhookTimestamp,
      'webhook-signature': request.webhookSignature,
      // The event's offset in its events partition: increases per key, the same on every retry.
      ...(meta.sequence ? { 'courier-sequence': meta.sequence } : {}),
    } as Record<string, string>;
    const span = this.options.tracing?.attempt(parentTrace(message), {
      ...this.spanTarget,
      'courier.destination': destination.id,
      'courier.event.id': meta.eventId,
      ...(meta.attemptsBefore > 0 ? { 'http.request.resend_count': meta.attemptsBefore } : {}),
    });
    if (span?.traceparent) headers.traceparent = span.traceparent;
    const admittedAt = preciseNow();
    const sentAt = this.clock.now();
    const fire = (auth: Record<string, string>) =>
      this.options.gate.fire(async () => {
        const sent = await this.options.sender.send({ body, headers: { ...auth, ...headers } });
        const result = this.withoutSecrets(sent, [
          ...Object.values(auth),
          ...this.secretHeaders.map((h) => meta.headers?.[h]),
        ]);
        return { result, outcome: classify(result, this.clock.now(), this.statusRules) };
      });
    const attempted = (fired: { result: SendResult; outcome: Outcome }, refreshed = false): Delivery => {
      const { status, errorCode } = fired.result;
      span?.end({
        ...(status === undefined ? {} : { attributes: { 'http.response.status_code': status } }),
        ...(errorCode
          ? { error: errorCode }
          : status !== undefined && status >= 400
            ? { error: String(status) }
            : {}),
      });
      return {
        kind: 'attempted',
        token,
        result: fired.result,
        outcome: fired.outcome,
        sentAt,
        admittedAt,
        answeredAt: preciseNow(),
        request,
        refreshed,
        ...(span ? { traceId: span.traceId } : {}),
      };
    };

    try {
      const { credentials } = this.options;
      let authorized: AuthorizeResult = credentials
        ? await credentials.authorize()
        : { ok: true, headers: {} };
      if (!authorized.ok) return attempted(tokenFailure(authorized, this.clock.now()));
      let fired = await fire(authorized.headers);
      let refreshed = false;
      // A 401 with OAuth2: the token may just have expired. One fresh token, the same request again.
      if (
        credentials &&
        fired !== 'rejected' &&
        refreshesCredentials(fired.result.status, credentials.refreshable)
      ) {
        refreshed = true;
        authorized = await credentials.authorize({ forceRefresh: true, rejectedHeaders: authorized.headers });
        if (!authorized.ok) return attempted(tokenFailure(authorized, this.clock.now()), refreshed);
        fired = await fire(authorized.headers);
      }
      if (fired === 'rejected') {
        span?.end({ error: 'circuit-open' });
        await deliveredKeys.release(meta.eventId, token);
        return { kind: 'rejected' };
      }
      return attempted(fired, refreshed);
    } catch (err) {
      span?.end({ error: (err as { code?: string }).code ?? 'error' });
      await deliveredKeys.release(meta.eventId, token);
      throw err;
    }
  }
}
