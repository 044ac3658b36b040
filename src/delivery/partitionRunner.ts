// Consumes one destination topic with a sliding window per partition (the model: Confluent's
// Parallel Consumer). Each fetched batch is handed to the window and the fetch loop goes on at
// once; messages run through a keyed scheduler (same key in order, other keys concurrently up to
// `concurrency`), finish one by one, and the committed offset of a partition is the highest one
// below which everything is finished. Held messages (a paused destination, a Retry-After, an
// open circuit) stay in the window: nothing is read twice. Backpressure pauses the partitions
// whose window is full, never the fetch loop; while the gate is shut, each partition is fetched until
// its window holds a message, then paused (a resume then has work at hand at once).
// It never imports the actor: it is given a handler, and the consumer through a narrow port (the
// kafkajs one from `destinationConsumer`, or a scripted one in its unit tests).
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { type Clock, preciseNow, settledBy, sleep, systemClock } from '../clock.ts';
import { roleConsumer } from '../kafka/client.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { adaptFetchWait } from '../kafka/kafkajsPatches.ts';
import { type CommitRound, PeriodicCommit } from '../kafka/periodicCommit.ts';
import type { Logger } from '../telemetry/logger.ts';
import { KeyedScheduler } from './keyedScheduler.ts';
import { type DeliveryMessage, heldBytes, orderingKeyOf, toDeliveryMessage } from './message.ts';
import { OffsetTracker } from './offsetTracker.ts';

export interface WindowLimits {
  /** Messages buffered or in flight per destination (all its partitions together). */
  messages: number;
  /** Their bytes (values, keys, headers). */
  bytes: number;
}

/** What the runner needs of a Kafka consumer. */
export type RunnerConsumer = Pick<
  Consumer,
  'connect' | 'subscribe' | 'run' | 'pause' | 'resume' | 'commitOffsets' | 'disconnect' | 'on' | 'events'
>;

/**
 * How long a fetch may wait on the broker for data: while nothing is paused, and while a partition
 * is. Data ends the wait at once either way; the first bounds what an idle destination costs (a
 * fetch and a heartbeat per wait) and how late it notices a rebalance or finishes a stop, the
 * second how late a resumed partition is fetched.
 */
export const IDLE_FETCH_WAIT_MS = 2000;
export const BUSY_FETCH_WAIT_MS = 100;

/** How long cut sends get to record their retry before the runner stops waiting for them. */
const CUT_GRACE_MS = 2_000;

/** Bytes a fetched message is assumed to take when sizing a fetch by the window's message count. */
const FETCH_BYTES_PER_MESSAGE = 2048;

/**
 * How much one fetch of a destination topic may bring: a partition's share of the window (its
 * messages at ~2 KiB each, and no more than its share of the bytes), between 16 KiB and 512 KiB;
 * and all partitions together. A fetch larger than the window can take is decoded and then mostly
 * thrown away when the partition pauses: memory and CPU spent for nothing. (Kafka returns a
 * record batch larger than the limit whole, so large events still flow.)
 */
export function fetchSizes(
  window: WindowLimits,
  partitions: number,
): { maxBytesPerPartition: number; maxBytes: number } {
  const n = Math.max(1, partitions);
  const share = Math.min((window.messages / n) * FETCH_BYTES_PER_MESSAGE, window.bytes / n);
  const maxBytesPerPartition = Math.round(Math.min(512 * 1024, Math.max(16 * 1024, share)));
  return { maxBytesPerPartition, maxBytes: Math.max(1024 * 1024, maxBytesPerPartition * n) };
}

/** The kafkajs consumer of a destination topic, as the runner wants it. */
export function destinationConsumer(
  kafka: Kafka,
  options: {
    groupId: string;
    sessionTimeoutMs?: number | undefined;
    window: WindowLimits;
    partitions: number;
  },
): Consumer {
  return roleConsumer(kafka, {
    groupId: options.groupId,
    sessionTimeoutMs: options.sessionTimeoutMs,
    ...fetchSizes(options.window, options.partitions),
    maxWaitTimeInMs: BUSY_FETCH_WAIT_MS,
  });
}

export interface PartitionRunnerOptions {
  /** The consumer's name in health reports, e.g. `deliver:crm`. */
  name: string;
  consumer: RunnerConsumer;
  groupId: string;
  topic: string;
  concurrency: number;
  window: WindowLimits;
  /**
   * Handles one message until it is finished (true: delivered, retried, dead-lettered or
   * skipped) or abandoned (false: `signal` aborted — a stop or a rebalance — before it was
   * sent). Errors are logged and the message is handled again after a pause.
   */
  handle: (message: DeliveryMessage, signal: AbortSignal) => Promise<boolean>;
  /** Watches the consumer: a crash kafkajs will not restart stops the process (app.fatal). */
  watch?: ConsumerWatch;
  logger: Logger;
  commitIntervalMs?: number;
  /** Awaited before each commit; false holds it back (the delivery log's flush: see PeriodicCommit). */
  beforeCommit?: () => Promise<boolean>;
  /**
   * Where partitions handed on gracefully may be picked up (redis/handOvers.ts): written for the
   * partitions this runner hands on, read for those it takes over; none: the committed offsets.
   */
  handOvers?: {
    write(partitions: ReadonlyArray<{ partition: number; next: number }>): Promise<void>;
    read(partition: number): Promise<{ next: number } | undefined>;
  };
  clock?: Clock;
}

/** One partition's window in one group generation. */
class Window {
  readonly tracker = new OffsetTracker();
  readonly controller = new AbortController();
  bytes = 0;
  committed = -1;
  /** Set when a rebalance replaced this generation: its offsets are no longer ours to commit. */
  stale = false;
  /** Whether a hand-over of the partition was looked for (once per time it is taken over). */
  checked?: Promise<void>;
  readonly partition: number;
  constructor(partition: number) {
    this.partition = partition;
  }
}

export class PartitionRunner {
  private readonly options: PartitionRunnerOptions;
  private readonly consumer: RunnerConsumer;
  private readonly clock: Clock;
  /** Group joins of this runner (one per generation it took part in) and the generation now. */
  private joins = 0;
  private generationId: number | undefined;
  private readonly scheduler: KeyedScheduler;
  private readonly log: Logger;
  private windows = new Map<number, Window>();
  private assigned: number[] = [];
  private readonly paused = new Set<number>();
  private readonly running = new Set<Promise<void>>();
  private flowing = true;
  private stopping = false;
  private readonly commits: PeriodicCommit;

  constructor(options: PartitionRunnerOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'partition-runner', topic: options.topic });
    this.scheduler = new KeyedScheduler(options.concurrency);
    this.consumer = options.consumer;
    this.clock = options.clock ?? systemClock;
    this.commits = new PeriodicCommit({
      consumer: this.consumer,
      topic: options.topic,
      intervalMs: options.commitIntervalMs ?? 250,
      logger: this.log,
      collect: () => this.commitRound(),
      ...(options.beforeCommit ? { beforeCommit: options.beforeCommit } : {}),
      clock: this.clock,
    });
  }

  async start(): Promise<void> {
    const { events } = this.consumer;
    // A rebalance begins: what is finished is committed while the generation still counts (best
    // effort: the join may win the race), so the partitions' next owners read less again.
    if (events.REBALANCING) this.consumer.on(events.REBALANCING, () => void this.commits.flush());
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
      // A rebalance of this group shows here: every join is one generation (a reload that leaves
      // a destination alone must never cause one).
      this.joins += 1;
      this.log.info(
        {
          groupId: this.options.groupId,
          memberId: payload.memberId,
          join: this.joins,
          partitions: payload.memberAssignment[this.options.topic] ?? [],
        },
        'joined consumer group',
      );
      this.onAssignment(payload.memberAssignment);
    });
    // kafkajs names the generation only in its heartbeats: logged once per generation.
    if (events.HEARTBEAT) {
      this.consumer.on(events.HEARTBEAT, ({ payload }) => {
        if (payload.groupGenerationId === this.generationId) return;
        this.generationId = payload.groupGenerationId;
        this.log.info(
          { groupId: this.options.groupId, generationId: this.generationId },
          'consumer group generation',
        );
      });
    }
    // A long poll while nothing is paused (an idle destination costs a fetch every
    // IDLE_FETCH_WAIT_MS, not ten a second); a short one while a partition is paused, so that
    // its resume is fetched at once (see kafka/kafkajsPatches.ts).
    if (events.FETCH_START)
      adaptFetchWait(this.consumer, () =>
        this.paused.size > 0 || this.stopping ? BUSY_FETCH_WAIT_MS : IDLE_FETCH_WAIT_MS,
      );
    this.options.watch?.add(this.options.name, this.consumer, this.options.groupId);
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: async ({ batch }) => {
        await this.takeOver(batch.partition, Number(batch.messages[0]?.offset));
        this.accept(batch.partition, batch.messages);
      },
    });
    this.commits.start();
  }

  /**
   * Stops taking messages, abandons those not yet sent, lets in-flight sends finish (each is
   * bounded by the destination's timeout, and all of them by `deadline`) and commits what is
   * finished, all while still a member of the group; only then leaves it, so the partitions' next
   * owner starts right after the finished work. At the deadline, `cut` ends the sends still under
   * way (their requests are cut: each ends as a retry with an unknown outcome, recorded and
   * committed like any other); any that still has not finished a moment later is abandoned
   * uncommitted, and the next owner sends it again.
   */
  async stop(deadline = Number.POSITIVE_INFINITY, cut?: () => void): Promise<void> {
    this.stopping = true;
    this.commits.stopTimer();
    try {
      this.consumer.pause([{ topic: this.options.topic }]);
    } catch {
      // Not running yet (a start that failed): nothing to pause.
    }
    for (const w of this.windows.values()) w.controller.abort();
    const all = () => Promise.allSettled([...this.running]);
    if (!(await settledBy(all(), deadline, this.clock))) {
      this.log.warn(
        { inFlight: this.running.size },
        'stop deadline reached: cutting the sends still under way (each becomes a retry)',
      );
      cut?.();
      if (!(await settledBy(all(), this.clock.now() + CUT_GRACE_MS, this.clock))) {
        this.log.warn(
          { inFlight: this.running.size },
          'abandoning what is still under way, uncommitted: the next owner sends it again',
        );
      }
    }
    await this.commits.flush();
    await this.handOver([...this.windows.values()]);
    await this.consumer.disconnect();
  }

  /** Says where the next holders of these windows' partitions may start (below which all is finished). */
  private handOver(windows: Window[]): Promise<void> {
    const handed = windows.flatMap((w) => {
      const next = w.tracker.committable();
      return next === undefined ? [] : [{ partition: w.partition, next }];
    });
    if (!this.options.handOvers || handed.length === 0) return Promise.resolve();
    return this.options.handOvers.write(handed).catch((err) => {
      this.log.warn({ err }, 'hand-over not written: the next holders read from the committed offsets');
    });
  }

  /**
   * The first batch of a partition taken over: where its previous holder said everything below
   * was finished, this runner starts (what lies between the committed offset and there is not
   * read twice).
   */
  private takeOver(partition: number, first: number): Promise<void> {
    const w = this.windowOf(partition);
    w.checked ??= (async () => {
      const handed = await this.options.handOvers?.read(partition).catch(() => undefined);
      if (!handed || !(handed.next > first) || w.tracker.committable() !== undefined) return;
      w.tracker.startAt(handed.next);
      this.log.info(
        { partition, from: handed.next },
        'partition handed over: starting where its previous holder stopped',
      );
    })();
    return w.checked;
  }

  /** The gate: false pauses every partition (messages already in the window wait in it). */
  setFlowing(flowing: boolean): void {
    this.flowing = flowing;
    for (const p of this.assigned) this.syncPause(p);
  }

  /** The oldest unfinished message of the destination (Kafka timestamp), for the retention check. */
  oldestUnfinished(): { partition: number; timestamp: number } | undefined {
    let oldest: { partition: number; timestamp: number } | undefined;
    for (const w of this.windows.values()) {
      const low = w.tracker.lowestUnfinished();
      if (low && (!oldest || low.timestamp < oldest.timestamp))
        oldest = { partition: w.partition, timestamp: low.timestamp };
    }
    return oldest;
  }

  private onAssignment(assignment: Record<string, number[]>): void {
    // A new generation. A partition still ours keeps its window: its work goes on and is
    // committed in the new generation, and what kafkajs reads again from the committed offset is
    // already tracked (so not handled twice). A partition handed on is the new owner's from the
    // committed offset: sends in flight finish, their offsets are not ours to commit.
    const next = new Set(assignment[this.options.topic] ?? []);
    const handedOn: Window[] = [];
    for (const [partition, w] of this.windows) {
      if (next.has(partition)) continue;
      handedOn.push(w);
      w.stale = true;
      w.controller.abort();
      this.windows.delete(partition);
    }
    void this.handOver(handedOn);
    if (this.paused.size > 0) {
      this.consumer.resume([{ topic: this.options.topic, partitions: [...this.paused] }]);
      this.paused.clear();
    }
    this.assigned = assignment[this.options.topic] ?? [];
    for (const p of this.assigned) this.syncPause(p);
  }

  private windowOf(partition: number): Window {
    let w = this.windows.get(partition);
    if (!w) {
      w = new Window(partition);
      this.windows.set(partition, w);
    }
    return w;
  }

  private accept(partition: number, messages: KafkaMessage[]): void {
    if (this.stopping) return;
    const w = this.windowOf(partition);
    const fetchedAt = preciseNow();
    for (const raw of messages) {
      if (!w.tracker.track(Number(raw.offset), Number(raw.timestamp))) continue;
      const size = heldBytes(raw);
      w.bytes += size;
      this.schedule(w, raw, size, fetchedAt);
    }
    this.syncPause(partition);
  }

  /**
   * Queues a fetched message behind the earlier ones of its key. It waits as Kafka gave it (its
   * buffers, no decoded headers) and is decoded when its turn comes: a full window holds bytes,
   * not objects.
   */
  private schedule(w: Window, raw: KafkaMessage, size: number, fetchedAt: number): void {
    const signal = w.controller.signal;
    const orderingKey = orderingKeyOf(raw, w.partition);
    const task = this.scheduler
      .run(orderingKey, async () => {
        if (signal.aborted) return;
        const message = toDeliveryMessage(raw, w.partition, { orderingKey, size, fetchedAt });
        for (;;) {
          if (signal.aborted) return;
          try {
            if (await this.options.handle(message, signal)) w.tracker.finish(message.offset);
            return;
          } catch (err) {
            this.log.error(
              { err, partition: message.partition, offset: message.offset },
              'message handling failed; trying it again shortly',
            );
            await sleep(this.clock, 1000, signal);
          }
        }
      })
      .finally(() => {
        w.bytes -= size;
        this.running.delete(task);
        this.syncPause(w.partition);
      });
    this.running.add(task);
  }

  /** Pauses a partition while the gate is shut or its share of the window is full. */
  private syncPause(partition: number): void {
    if (this.stopping) return;
    const w = this.windows.get(partition);
    const share = Math.max(1, this.assigned.length);
    const maxMessages = Math.max(this.options.concurrency, Math.ceil(this.options.window.messages / share));
    const maxBytes = Math.ceil(this.options.window.bytes / share);
    const count = w?.tracker.unfinished ?? 0;
    const bytes = w?.bytes ?? 0;
    const isPaused = this.paused.has(partition);
    // Pause at the limit, resume at half of it: no flapping on every message.
    const full = isPaused
      ? count > maxMessages / 2 || bytes > maxBytes / 2
      : count >= maxMessages || bytes >= maxBytes;
    // Not flowing (the gate is shut): fetch on until the partition's window holds a message, so
    // that the age of what waits is known (held messages are rescued before the retention).
    const want = (!this.flowing && count > 0) || full;
    if (want && !isPaused) {
      this.consumer.pause([{ topic: this.options.topic, partitions: [partition] }]);
      this.paused.add(partition);
    } else if (!want && isPaused) {
      this.consumer.resume([{ topic: this.options.topic, partitions: [partition] }]);
      this.paused.delete(partition);
    }
  }

  /** Each current window's committable offset above its last commit. */
  private commitRound(): CommitRound {
    const due: Array<[Window, number]> = [];
    for (const w of this.windows.values()) {
      const offset = w.tracker.committable();
      if (offset !== undefined && offset > w.committed && !w.stale) due.push([w, offset]);
    }
    return {
      offsets: due.map(([w, offset]) => ({ partition: w.partition, offset })),
      committed: () => {
        for (const [w, offset] of due) w.committed = offset;
      },
    };
  }
}
