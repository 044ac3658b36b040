// One delivery attempt of one message, up to its outcome: admission (delivered already? being
// sent by someone else? — batched with the other messages admitted at the same time), the rate
// limit (only for messages that will really be sent), the Standard Webhooks signature, and the
// POST through the gate's circuit breaker. What to do with the outcome is decide()'s job.
import type { DestinationConfig } from '../config/schema.ts';
import type { DeliveredKeySet } from './deliveredKeySet.ts';
import type { DeliveryGate } from './deliveryGate.ts';
import type { DeliveryMessage } from './message.ts';
import { classify, type Outcome, type SendResult } from './outcome.ts';
import type { RateLimiter } from './rateLimiter.ts';
import type { WebhookSender } from './sender.ts';
import { sign } from './signer.ts';

export type Delivery =
  /** The delivered-key set says this destination has it already. */
  | { kind: 'skipped' }
  /** The wait was abandoned (stop or rebalance) before anything was sent. */
  | { kind: 'abandoned' }
  /** The breaker refused to send: nothing was sent; wait at the gate and try again. */
  | { kind: 'rejected' }
  | {
      kind: 'attempted';
      result: SendResult;
      outcome: Outcome;
      /** When the request was sent (ms). */
      sentAt: number;
      /** The signature-relevant headers of the request (never Authorization or configured ones). */
      request: { webhookId: string; webhookTimestamp: string; webhookSignature: string };
    };

export interface DelivererOptions {
  destination: DestinationConfig;
  sender: WebhookSender;
  deliveredKeys: DeliveredKeySet;
  gate: DeliveryGate;
  rateLimiter?: RateLimiter;
  now?: () => number;
}

const wait = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class Deliverer {
  private readonly o: DelivererOptions;
  private readonly now: () => number;
  /** How long a claim may wait for a rate-limit permit before it is taken again (lock safety). */
  private readonly reclaimAfterMs: number;

  constructor(options: DelivererOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.reclaimAfterMs = Math.max(1000, options.destination.timeoutMs / 2);
  }

  async deliver(message: DeliveryMessage, signal: AbortSignal): Promise<Delivery> {
    const { meta } = message;
    const { deliveredKeys, rateLimiter } = this.o;

    for (;;) {
      const claim = await deliveredKeys.claim(meta.eventId, { force: meta.force });
      if (claim.state === 'delivered') return { kind: 'skipped' };
      if (claim.state === 'locked') {
        // Another sender has it right now: wait for them rather than send twice.
        await wait(Math.min(claim.retryInMs, 250), signal);
        if (signal.aborted) return { kind: 'abandoned' };
        continue;
      }
      if (!rateLimiter) break;
      const claimedAt = this.now();
      if (!(await rateLimiter.acquire(signal))) {
        await deliveredKeys.release(meta.eventId);
        return { kind: 'abandoned' };
      }
      // A long wait for a permit may outlive the in-flight lock: take it again first.
      if (this.now() - claimedAt < this.reclaimAfterMs) break;
      await deliveredKeys.release(meta.eventId);
    }

    const { destination } = this.o;
    const body = message.value ?? Buffer.alloc(0);
    const timestampSeconds = Math.floor(this.now() / 1000);
    const signature = sign({ id: meta.eventId, timestampSeconds, body, secrets: destination.secrets });
    const request = {
      webhookId: meta.eventId,
      webhookTimestamp: String(timestampSeconds),
      webhookSignature: signature,
    };
    const headers = {
      ...destination.headers,
      'webhook-id': request.webhookId,
      'webhook-timestamp': request.webhookTimestamp,
      'webhook-signature': request.webhookSignature,
    };
    const sentAt = this.now();
    const fired = await this.o.gate.fire(async () => {
      const result = await this.o.sender.send({ body, headers });
      return { result, outcome: classify(result, this.now()) };
    });
    if (fired === 'rejected') {
      await deliveredKeys.release(meta.eventId);
      return { kind: 'rejected' };
    }
    return { kind: 'attempted', result: fired.result, outcome: fired.outcome, sentAt, request };
  }
}
