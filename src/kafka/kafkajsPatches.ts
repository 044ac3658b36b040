// Two narrow repairs of kafkajs 2.2.4 internals (the project is unmaintained: its fixes sit in
// open pull requests), applied at run time to the module every kafkajs client uses. Each checks
// the shape it patches; should a release change it, that patch is skipped (`patchKafkajs()` says
// which took, and createKafka logs a warning), and kafkajs behaves as shipped.
//
// 1. The request queue's idle loop (tulios/kafkajs#1556, #1704, #1751): with nothing pending and
//    no throttle, `scheduleCheckPendingRequests` sets a timer of a negative delay, which Node runs
//    after 1 ms, and which schedules the next: every connection spins a timer a millisecond
//    forever. With one consumer group per destination that is two connections per destination:
//    200 idle destinations cost most of a core, and every delivery shares the event loop with it.
//    Repaired: with nothing pending and no throttle nothing is scheduled (a request pushed or
//    answered checks the queue again, as before).
//
// 2. A fetch's wait, chosen fetch by fetch. kafkajs takes one `maxWaitTimeInMs` for a consumer's
//    life, and it sets two costs at once: an idle consumer sends one fetch per wait (and a
//    heartbeat after it); but kafkajs also sleeps that long when every partition is paused, and a
//    partition resumed during a fetch waits for it to end. A long poll costs nothing when data
//    arrives (the broker answers at once), so the right wait is long while nothing is paused and
//    short while something is. Each kafkajs runner emits FETCH_START synchronously just before it
//    calls its consumer group's fetch: a listener leaves the wait it wants, and the consumer
//    group's fetch (patched) takes it.
import { createRequire } from 'node:module';
import type { Consumer } from 'kafkajs';

const require = createRequire(import.meta.url);

interface RequestQueueLike {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
}
interface ConsumerGroupLike {
  maxWaitTime: number;
}
type FetchFn = (this: ConsumerGroupLike, nodeId: number) => Promise<unknown>;

/** kafkajs' own interval for re-checking a queue that has requests pending (ms). */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

let applied: { requestQueue: boolean; fetchWait: boolean } | undefined;

function load<T>(path: string): T | undefined {
  try {
    return require(path) as T;
  } catch {
    return undefined;
  }
}

/** Applies both repairs once; says which took. */
export function patchKafkajs(): { requestQueue: boolean; fetchWait: boolean } {
  if (applied) return applied;
  applied = { requestQueue: false, fetchWait: false };
  const RequestQueue = load<{
    prototype: Partial<RequestQueueLike> & { scheduleCheckPendingRequests?: unknown };
  }>('kafkajs/src/network/requestQueue/index.js');
  if (typeof RequestQueue?.prototype?.scheduleCheckPendingRequests === 'function') {
    RequestQueue.prototype.scheduleCheckPendingRequests = function schedule(this: RequestQueueLike) {
      if (this.throttleCheckTimeoutId) return;
      let scheduleAt = this.throttledUntil - Date.now();
      if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
      else if (scheduleAt <= 0) return;
      this.throttleCheckTimeoutId = setTimeout(() => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      }, scheduleAt);
    };
    applied.requestQueue = true;
  }
  const ConsumerGroup = load<{ prototype: { fetch?: FetchFn } }>('kafkajs/src/consumer/consumerGroup.js');
  const fetch = ConsumerGroup?.prototype?.fetch;
  if (ConsumerGroup && typeof fetch === 'function') {
    ConsumerGroup.prototype.fetch = function patchedFetch(this: ConsumerGroupLike, nodeId: number) {
      if (pendingWait !== undefined) {
        this.maxWaitTime = pendingWait;
        pendingWait = undefined;
      }
      return fetch.call(this, nodeId);
    };
    applied.fetchWait = true;
  }
  return applied;
}

/** The wait a FETCH_START listener left for the fetch about to start (one thread: no race). */
let pendingWait: number | undefined;

/**
 * Makes `consumer`'s every fetch wait `waitMs()` at most (read as the fetch starts). Returns false
 * when kafkajs could not be patched: the consumer's own `maxWaitTimeInMs` then holds throughout.
 */
export function adaptFetchWait(consumer: Pick<Consumer, 'on' | 'events'>, waitMs: () => number): boolean {
  if (!patchKafkajs().fetchWait) return false;
  consumer.on(consumer.events.FETCH_START, () => {
    pendingWait = waitMs();
  });
  return true;
}
