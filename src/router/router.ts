// The router: reads the events topic in consumer group `<prefix>-router`, decodes and validates
// each event, and fans it out (shaping/fanOut.ts) to every subscribed destination's topic, keyed
// by the event's key (or id), carrying the producer's headers except `courier-*` ones (only
// Courier writes those). An event that cannot be decoded or validated goes to
// `<prefix>.events.invalid` with the reason; only a retriable error (the registry unreachable)
// reads the batch again. One destination's failure (its expressions, a record too large for its
// topic) is that destination's dead letter, never another's loss.
//
// A batch is decoded in the fetch loop's turn and the records of destinations without expressions
// are written at once; those whose expressions are evaluated on the expression threads follow as
// they are ready, so no destination's expressions hold another destination's events. A batch's
// offsets become committable once all of its records are acknowledged, partition by partition in
// order; they are committed every `commitIntervalMs` (250 ms) and at a graceful stop. After a crash
// or a rebalance, what was not committed is routed again; the delivered-key set keeps the copies
// from being delivered twice.
//
// Poison events (policy/crashLoop.ts): before working on a partition's records the router marks
// them in Redis; a new holder that finds a dead holder's mark routes those records one at a time,
// and one that killed its process three times goes to the invalid topic as `CRASH_LOOP`.

import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { settledBy } from '../clock.ts';
import type { DestinationConfig } from '../config/schema.ts';
import { InvalidEventError } from '../errors.ts';
import { roleConsumer } from '../kafka/client.ts';
import type { EventCodec } from '../kafka/codec.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { PeriodicCommit } from '../kafka/periodicCommit.ts';
import { type SizedEntry, sendSized, type TopicLimits } from '../kafka/sizedSend.ts';
import { CRASHES_TO_MOVE_ASIDE, suspectStep } from '../policy/crashLoop.ts';
import { FanOut, type RoutedPart, type RouteItem } from '../shaping/fanOut.ts';
import type { AttemptRecord, PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import { Holdings, type PartitionHandOvers, type PartitionState, type Pending } from './holdings.ts';
import { RouterMarks, type RouterWorkMarks } from './marks.ts';
import { beating, RouterReports } from './reports.ts';

/** Events partitions routed side by side; the app gives the router as many producers. */
export const ROUTER_PARTITIONS_AT_ONCE = 4;

/**
 * Routed events not yet all written (their expressions still being evaluated), across partitions,
 * and their bytes, before the fetch loop waits for them.
 */
const MAX_PENDING_EVENTS = 20_000;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

export interface RouterOptions {
  kafka: Kafka;
  /**
   * The router's producers: each events partition's fan-out goes through one of them (partition
   * modulo their number). kafkajs' idempotent producer keeps one produce request in flight per
   * broker, so batches of partitions routed side by side wait for each other's round trip when
   * they share a producer; a partition's records go through one producer in order, so its keys
   * keep their order.
   */
  producers: Producer[];
  groupId: string;
  eventsTopic: string;
  invalidTopic: string;
  destinationTopic: (id: string) => string;
  /** Where an event a destination's expressions cannot handle is dead-lettered. */
  dlqTopic: (id: string) => string;
  destinations: DestinationConfig[];
  /** The configuration version the destinations are (written on every destination record). */
  configVersion?: string;
  /** Takes the attempt record of each such dead letter (the delivery log); flushed before each commit. */
  attempts?: { record(attempt: AttemptRecord): void; flushed(): Promise<boolean> };
  codec: EventCodec;
  /** Each topic's max.message.bytes: every produce is sized to it. */
  limits: TopicLimits;
  /** Where destinations' expressions run (`router.expressions`). */
  expressions: { hosts: number; memoryMb: number };
  /** Marks of the records in hand, for poison events; none: no crash-loop protection. */
  workMarks?: RouterWorkMarks;
  /** Where partitions handed on gracefully may be picked up; none: from the committed offsets. */
  handOvers?: PartitionHandOvers;
  /** Reports a consumer crash kafkajs will not restart. */
  watch?: ConsumerWatch;
  events: PipelineEmitter;
  logger: Logger;
  sessionTimeoutMs?: number;
  /** How often acknowledged offsets are committed (default 250 ms). */
  commitIntervalMs?: number;
  /** A span for the routing of each event (config `observability.tracing`). */
  tracing?: Tracing;
}

export class Router {
  private readonly options: RouterOptions;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private readonly holdings: Holdings;
  private readonly marks: RouterMarks;
  private readonly commits: PeriodicCommit;
  private readonly fanOut: FanOut;
  /** Batches being routed (their fetch-loop turn, and their writes). */
  private readonly batches = new Set<Promise<void>>();
  private pendingEvents = 0;
  private pendingBytes = 0;
  private readonly drained = new Set<() => void>();
  private stopping = false;
  /** Records Kafka refused to take: thrown in the fetch loop's next turn (see `failed`). */
  private writeFailure: unknown;
  /** Filter failures since the last warning, per destination (warned about at most once a minute). */
  private readonly reports: RouterReports;

  constructor(options: RouterOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'router' });
    this.reports = new RouterReports(options, this.log);
    this.holdings = new Holdings(options.handOvers, this.log);
    this.marks = new RouterMarks(options.workMarks, this.log);
    this.consumer = roleConsumer(options.kafka, {
      groupId: options.groupId,
      maxWaitTimeInMs: 100,
      // Each event becomes a record per destination: smaller fetches keep a batch's fan-out (and
      // the wait for it) short, and heartbeats and commits frequent.
      maxBytesPerPartition: 256 * 1024,
      sessionTimeoutMs: options.sessionTimeoutMs,
    });
    options.watch?.add('router', this.consumer, options.groupId);
    this.fanOut = new FanOut({
      destinationTopic: options.destinationTopic,
      dlqTopic: options.dlqTopic,
      limits: options.limits,
      expressions: options.expressions,
      logger: this.log,
    });
    this.commits = new PeriodicCommit({
      consumer: this.consumer,
      topic: options.eventsTopic,
      intervalMs: options.commitIntervalMs ?? 250,
      logger: this.log,
      collect: () => this.holdings.commitRound(),
      ...(options.attempts
        ? { beforeCommit: () => options.attempts?.flushed() ?? Promise.resolve(true) }
        : {}),
    });
  }

  async start(): Promise<void> {
    await this.options.limits.load([this.options.invalidTopic]);
    await this.fanOut.setRouting(this.options.destinations, this.options.configVersion);
    // A new generation: a partition handed on is routed by its new owner from the committed
    // offset (what was acknowledged and not committed is routed again); a partition still ours
    // goes on. Marks of partitions handed on are taken away (a graceful hand-over is not a death).
    // A rebalance begins: what is acknowledged is committed while the generation still counts
    // (best effort: the join may win the race), so the partitions' next owners route less again.
    this.consumer.on(this.consumer.events.REBALANCING, () => void this.commits.flush());
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const handedOn = this.holdings.rejoined(payload.memberAssignment[this.options.eventsTopic] ?? []);
      void this.marks.release(handedOn);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.eventsTopic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: ROUTER_PARTITIONS_AT_ONCE,
      eachBatch: (payload) => this.track(this.onBatch(payload)),
    });
    this.commits.start();
  }

  /**
   * Takes no new batch, lets the running ones finish (until `deadline`), commits what was
   * acknowledged, takes its marks away, and only then leaves the group.
   */
  async stop(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopping = true;
    this.commits.stopTimer();
    try {
      this.consumer.pause([{ topic: this.options.eventsTopic }]);
    } catch {
      // Not running (a start that failed): nothing to pause.
    }
    if (!(await settledBy(Promise.allSettled([...this.batches]), deadline)))
      this.log.warn('stop deadline reached: batches still being routed are routed again by the next owner');
    await this.commits.flush();
    await this.holdings.handOverAll();
    await this.marks.release(this.holdings.assigned);
    await this.consumer.disconnect();
    await this.fanOut.close();
  }

  /**
   * Routes by a reloaded configuration from the next batch on: a batch already being routed
   * finishes under the version it began with, so every event is routed under exactly one. The
   * new destinations' topics must exist (their size limits are read first).
   */
  async setDestinations(destinations: DestinationConfig[], configVersion: string): Promise<void> {
    await this.fanOut.setRouting(destinations, configVersion);
    this.log.info(
      { configVersion, destinations: destinations.map((d) => d.id) },
      'routing under a new configuration version',
    );
  }

  private track(batch: Promise<void>): Promise<void> {
    this.batches.add(batch);
    return batch.finally(() => this.batches.delete(batch));
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const failure = this.writeFailure;
    if (failure) {
      this.writeFailure = undefined;
      throw failure;
    }
    const p = this.holdings.partition(batch.partition);
    const first = batch.messages[0]?.offset;
    await this.holdings.takeOver(p, batch.partition, first === undefined ? undefined : Number(first));
    if (this.marks.enabled && !p.markChecked) {
      p.markChecked = true;
      const suspect = await this.marks.suspect(batch.partition);
      if (suspect) p.suspect = suspect;
    }
    // Runs of messages worked the same way: normally in one go, a dead holder's one by one.
    let run: KafkaMessage[] = [];
    const flush = async () => {
      if (run.length > 0) await this.routeMessages(payload, p, run, false);
      run = [];
    };
    for (const message of batch.messages) {
      // Routed already, before a rebalance that kept the partition here.
      if (Number(message.offset) < p.routedUpTo) {
        payload.resolveOffset(message.offset);
        continue;
      }
      const step = suspectStep(p.suspect, Number(message.offset));
      if (step.kind === 'normal') {
        run.push(message);
        continue;
      }
      await flush();
      if (!isRunning() || isStale() || this.stopping) return;
      if (step.kind === 'aside') {
        await this.moveAside(payload, p, message, step.crashes);
      } else {
        await this.marks.write(batch.partition, {
          from: Number(message.offset),
          to: Number(message.offset),
          crashes: step.crashes,
        });
        await this.routeMessages(payload, p, [message], true);
      }
      if (p.suspect && Number(message.offset) >= p.suspect.to) p.suspect = undefined;
    }
    await flush();
    if (!isRunning() || isStale() || this.stopping) return;
    await heartbeat();
    // Backpressure: too much routed and not yet written waits here, not in memory (heartbeating,
    // so that waiting is not taken for a dead member).
    while (
      (this.pendingEvents > MAX_PENDING_EVENTS || this.pendingBytes > MAX_PENDING_BYTES) &&
      !this.stopping &&
      !isStale()
    ) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained.add(resolve);
        timer = setTimeout(resolve, 1000);
      });
      clearTimeout(timer);
      await heartbeat();
    }
  }

  /**
   * Routes some messages of a batch: decoded now (an invalid one is recorded as such), their
   * records written as they are ready. `wait`: returns once all is written (one record at a time
   * under its own mark); otherwise once the writes are under way.
   */
  private async routeMessages(
    payload: EachBatchPayload,
    p: PartitionState,
    messages: KafkaMessage[],
    wait: boolean,
  ): Promise<void> {
    const { batch, resolveOffset, isRunning, isStale } = payload;
    const first = Number(messages[0]?.offset);
    const last = Number(messages[messages.length - 1]?.offset);
    // Marked before anything is done with them (decoding included), from the oldest offset not yet
    // written, so a death anywhere in the range is seen by the next holder. Awaited: a command
    // still in the client's pipeline when the process dies never reaches Redis.
    if (!wait) {
      await this.marks.write(batch.partition, { from: p.pending[0]?.first ?? first, to: last, crashes: 0 });
    }
    const { items, invalid, spans } = await this.reports.decodeAll(messages, batch.partition);
    if (!isRunning() || isStale() || this.stopping) return;
    const bytes = messages.reduce((n, m) => n + (m.value?.length ?? 0), 0);
    p.routedUpTo = Math.max(p.routedUpTo, last + 1);
    const pending: Pending = { next: last + 1, first, events: items.length, done: false, failed: false };
    p.pending.push(pending);
    this.pendingEvents += pending.events;
    this.pendingBytes += bytes;
    resolveOffset(String(last));
    const { direct, all } = this.write(p, batch.partition, items, invalid);
    const written = all.then(
      () => {
        pending.done = true;
        for (const span of spans) span.end();
      },
      (err) => {
        pending.failed = true;
        this.failed(p, batch.partition, pending, err);
        for (const span of spans) span.end({ error: (err as { name?: string }).name ?? 'write-failed' });
      },
    );
    const settled = written.finally(() => {
      this.pendingEvents -= pending.events;
      this.pendingBytes -= bytes;
      this.holdings.acknowledge(p, batch.partition);
      for (const wake of this.drained) wake();
      this.drained.clear();
    });
    if (wait) await beating(settled, payload.heartbeat);
    else {
      void this.track(settled);
      // Kafka's pace: the records of destinations without expressions are written before the
      // next batch is read (a failure is handled with the batch's).
      await beating(
        direct.catch(() => {}),
        payload.heartbeat,
      );
    }
  }

  /**
   * Writes a batch's records as the fan-out hands them over: `direct` once the invalid ones and
   * those of destinations without expressions are acknowledged, `all` once every one is.
   */
  private write(
    p: PartitionState,
    partition: number,
    items: RouteItem[],
    invalid: SizedEntry[],
  ): { direct: Promise<unknown>; all: Promise<void> } {
    const producers = this.options.producers;
    const producer = producers[partition % producers.length] as Producer;
    const writes: Array<Promise<unknown>> = [];
    const send = (entries: SizedEntry[], after?: () => void) => {
      const write = p.writes.then(async () => {
        if (!p.owned) return; // handed on: the next holder routes it again
        if (entries.length > 0) {
          const { tooLarge } = await sendSized(producer, this.options.limits, entries);
          // Not expected: every record was checked against its topic's limit.
          for (const t of tooLarge) {
            this.log.error(
              { code: 'RECORD_TOO_LARGE', topic: t.topic, bytes: t.bytes, limitBytes: t.limitBytes },
              'record over its topic limit not written',
            );
          }
        }
        after?.();
      });
      p.writes = write.catch(() => {});
      writes.push(write);
    };
    if (invalid.length > 0) send(invalid);
    // The fan-out hands over the direct part before it returns its promise.
    const routing = this.fanOut.route(items, (part: RoutedPart) => {
      for (const f of part.filterFailures) this.reports.filterFailed(f.destination, f.code, f.message);
      send([...part.records, ...part.deadLetters.map((d) => d.entry)], () => {
        for (const d of part.deadLetters) this.reports.deadLettered(d);
      });
    });
    const direct = Promise.all([...writes]);
    const all = routing.then(async (summaries) => {
      await Promise.all(writes);
      for (const s of summaries) this.options.events.emit('routed', s);
    });
    return { direct, all };
  }

  /**
   * A batch whose records could not be written (Kafka kept refusing them): none of it, nor what
   * follows it, is acknowledged. The partition is read again from its first offset, and that
   * batch's turn in the fetch loop throws the error, as if it had been written there: kafkajs
   * restarts the consumer after a retriable error and gives it up after another (then the
   * process stops, see ConsumerWatch).
   */
  private failed(p: PartitionState, partition: number, pending: Pending, err: unknown): void {
    const at = p.pending.indexOf(pending);
    if (at < 0) return;
    const dropped = p.pending.splice(at);
    for (const d of dropped) d.failed = true;
    if (!p.owned || this.stopping) return;
    p.routedUpTo = pending.first;
    this.log.error(
      { err, partition, offset: pending.first },
      'routed records not written: reading the partition again',
    );
    this.writeFailure ??= err;
    this.consumer.seek({ topic: this.options.eventsTopic, partition, offset: String(pending.first) });
  }

  /** A record whose holders died three times with it in hand: the invalid topic, and the partition moves on. */
  private async moveAside(
    payload: EachBatchPayload,
    p: PartitionState,
    message: KafkaMessage,
    crashes: number,
  ): Promise<void> {
    const { batch } = payload;
    this.log.error(
      { code: 'CRASH_LOOP', partition: batch.partition, offset: message.offset, crashes },
      `event moved aside: its router died ${crashes} times holding it`,
    );
    const entry = this.reports.invalid(
      message,
      batch.partition,
      new InvalidEventError(
        'CRASH_LOOP',
        `the router's process died ${crashes} times while this event was in hand (class crash-loop; at least ${CRASHES_TO_MOVE_ASIDE} deaths move an event aside); it was not routed to any destination`,
      ),
    );
    const pending: Pending = {
      next: Number(message.offset) + 1,
      first: Number(message.offset),
      events: 0,
      done: false,
      failed: false,
    };
    p.pending.push(pending);
    p.routedUpTo = Math.max(p.routedUpTo, pending.next);
    payload.resolveOffset(message.offset);
    const producers = this.options.producers;
    const producer = producers[batch.partition % producers.length] as Producer;
    const write = p.writes.then(() => sendSized(producer, this.options.limits, [entry]));
    p.writes = write.catch(() => {});
    try {
      await write;
      pending.done = true;
    } catch (err) {
      this.failed(p, batch.partition, pending, err);
    }
    this.holdings.acknowledge(p, batch.partition);
  }
}
