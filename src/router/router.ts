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
import { CourierError, InvalidEventError } from '../errors.ts';
import { CONSUMER_RETRY, sessionSettings } from '../kafka/client.ts';
import type { EventCodec } from '../kafka/codec.ts';
import type { ConsumerWatch } from '../kafka/consumerWatch.ts';
import { type CommitRound, PeriodicCommit } from '../kafka/periodicCommit.ts';
import { userHeaders } from '../kafka/records.ts';
import { type SizedEntry, sendSized, type TopicLimits } from '../kafka/sizedSend.ts';
import {
  CRASHES_TO_MOVE_ASIDE,
  type Suspect,
  suspectOf,
  suspectStep,
  type WorkMark,
} from '../policy/crashLoop.ts';
import { FanOut, type RoutedDeadLetter, type RoutedPart, type RouteItem } from '../shaping/fanOut.ts';
import type { AttemptRecord, PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import { invalidRecord } from './invalidRecord.ts';

/** Events partitions routed side by side; the app gives the router as many producers. */
export const ROUTER_PARTITIONS_AT_ONCE = 4;

/**
 * Routed events not yet all written (their expressions still being evaluated), across partitions,
 * and their bytes, before the fetch loop waits for them.
 */
const MAX_PENDING_EVENTS = 20_000;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** Longest wait for a work mark before routing goes on without it. */
const MARK_WAIT_MS = 500;

/** How long a new holder waits for its predecessor's mark to be taken away (a graceful hand-over). */
const MARK_RELEASE_WAIT_MS = 1000;

/** Where the router marks what it holds (redis/workMarks.ts); the port it needs. */
export interface RouterWorkMarks {
  readonly owner: string;
  read(partition: number): Promise<WorkMark | undefined>;
  write(partition: number, mark: Omit<WorkMark, 'owner'>): Promise<void>;
  release(partitions: readonly number[]): Promise<void>;
}

/** Graceful hand-overs of partitions (redis/handOvers.ts); the port the router needs. */
export interface PartitionHandOvers {
  write(partitions: ReadonlyArray<{ partition: number; next: number }>): Promise<void>;
  read(partition: number): Promise<{ next: number } | undefined>;
}

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
}

/** A batch whose records are being written. */
interface Pending {
  /** The next offset to read once it is all written. */
  next: number;
  first: number;
  events: number;
  done: boolean;
  failed: boolean;
}

/** Per partition, for as long as this router holds it (across generations that keep it here). */
interface PartitionState {
  /** False once a rebalance handed the partition on: its work is the next holder's. */
  owned: boolean;
  /**
   * The offset after the last one routed: what kafkajs reads again after a rebalance that kept
   * the partition here (it restarts from the committed offset) is not routed twice.
   */
  routedUpTo: number;
  /** Batches in order of their offsets. */
  pending: Pending[];
  /** What a dead predecessor held (looked up at this generation's first batch). */
  suspect?: Suspect;
  /** Whether the hand-over and the work mark of the partition were looked at. */
  checked: boolean;
  markChecked: boolean;
  /** Writes of this partition's records, one after the other (a key's records keep their order). */
  writes: Promise<unknown>;
}

interface Generation {
  /** Per partition: the next offset to read once everything below it is written, and the last committed. */
  acknowledged: Map<number, number>;
  committed: Map<number, number>;
  partitions: Map<number, PartitionState>;
  assigned: number[];
}

export class Router {
  private readonly o: RouterOptions;
  private readonly consumer: Consumer;
  private readonly log: Logger;
  private generation: Generation = newGeneration([]);
  private readonly commits: PeriodicCommit;
  private readonly fanOut: FanOut;
  /** Batches being routed (their fetch-loop turn, and their writes). */
  private readonly batches = new Set<Promise<void>>();
  private pendingEvents = 0;
  private pendingBytes = 0;
  private readonly drained = new Set<() => void>();
  private stopping = false;
  private markWarnedAt = 0;
  /** Records Kafka refused to take: thrown in the fetch loop's next turn (see `failed`). */
  private writeFailure: unknown;
  /** Filter failures since the last warning, per destination (warned about at most once a minute). */
  private readonly filterFailures = new Map<string, { count: number; warnedAt: number; last: string }>();

  constructor(options: RouterOptions) {
    this.o = options;
    this.log = options.logger.child({ component: 'router' });
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      maxWaitTimeInMs: 100,
      // Each event becomes a record per destination: smaller fetches keep a batch's fan-out (and
      // the wait for it) short, and heartbeats and commits frequent.
      maxBytesPerPartition: 256 * 1024,
      ...sessionSettings(options.sessionTimeoutMs),
      retry: { ...CONSUMER_RETRY },
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
      collect: () => this.commitRound(),
      ...(options.attempts
        ? { beforeCommit: () => options.attempts?.flushed() ?? Promise.resolve(true) }
        : {}),
    });
  }

  async start(): Promise<void> {
    await this.o.limits.load([this.o.invalidTopic]);
    await this.fanOut.setRouting(this.o.destinations, this.o.configVersion);
    // A new generation: a partition handed on is routed by its new owner from the committed
    // offset (what was acknowledged and not committed is routed again); a partition still ours
    // goes on. Marks of partitions handed on are taken away (a graceful hand-over is not a death).
    // A rebalance begins: what is acknowledged is committed while the generation still counts
    // (best effort: the join may win the race), so the partitions' next owners route less again.
    this.consumer.on(this.consumer.events.REBALANCING, () => void this.commits.flush());
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = payload.memberAssignment[this.o.eventsTopic] ?? [];
      const previous = this.generation;
      const handedOn = previous.assigned.filter((p) => !assigned.includes(p));
      this.generation = newGeneration(assigned);
      // Partitions still ours keep their state: what they routed is committed in this generation.
      for (const partition of assigned) {
        const state = previous.partitions.get(partition);
        if (!state) continue;
        this.generation.partitions.set(partition, state);
        const acknowledged = previous.acknowledged.get(partition);
        if (acknowledged !== undefined) this.generation.acknowledged.set(partition, acknowledged);
      }
      for (const partition of handedOn) {
        const state = previous.partitions.get(partition);
        if (state) state.owned = false;
      }
      this.handOver(previous, handedOn);
      this.releaseMarks(handedOn);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.o.eventsTopic, fromBeginning: true });
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
      this.consumer.pause([{ topic: this.o.eventsTopic }]);
    } catch {
      // Not running (a start that failed): nothing to pause.
    }
    if (!(await settledBy(Promise.allSettled([...this.batches]), deadline)))
      this.log.warn('stop deadline reached: batches still being routed are routed again by the next owner');
    await this.commits.flush();
    await this.handOver(this.generation, this.generation.assigned);
    await this.releaseMarks(this.generation.assigned);
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

  /**
   * The mark another holder left on a partition and did not take away: a holder handing the
   * partition on gracefully takes its mark away as it rejoins, which may be a moment after this
   * router got the partition, so a mark is looked at again for up to MARK_RELEASE_WAIT_MS.
   */
  private async foreignMark(partition: number): Promise<WorkMark | undefined> {
    const marks = this.o.workMarks;
    if (!marks) return undefined;
    const until = Date.now() + MARK_RELEASE_WAIT_MS;
    for (;;) {
      const mark = await marks.read(partition).catch(() => undefined);
      if (!mark || mark.owner === marks.owner || Date.now() >= until) return mark;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Says where the next holders of these partitions may start (what was routed and written). */
  private handOver(g: Generation, partitions: number[]): Promise<void> {
    const handed = partitions.flatMap((partition) => {
      const next = g.acknowledged.get(partition);
      return next === undefined ? [] : [{ partition, next }];
    });
    return (
      this.o.handOvers?.write(handed).catch((err) => {
        this.log.warn({ err }, 'hand-over not written: the next holders route from the committed offsets');
      }) ?? Promise.resolve()
    );
  }

  private releaseMarks(partitions: number[]): Promise<void> {
    return (
      this.o.workMarks?.release(partitions).catch((err) => {
        this.log.warn(
          { err, partitions },
          'work marks not taken away: the next holder routes them one by one',
        );
      }) ?? Promise.resolve()
    );
  }

  /** The acknowledged offsets above the last commit, recorded as committed in their own generation. */
  private commitRound(): CommitRound {
    const g = this.generation;
    const offsets = [...g.acknowledged]
      .filter(([partition, next]) => next > (g.committed.get(partition) ?? -1))
      .map(([partition, offset]) => ({ partition, offset }));
    return {
      offsets,
      committed: () => {
        for (const o of offsets) g.committed.set(o.partition, o.offset);
      },
    };
  }

  private partitionOf(g: Generation, partition: number): PartitionState {
    let p = g.partitions.get(partition);
    if (!p) {
      p = {
        owned: true,
        routedUpTo: -1,
        pending: [],
        checked: false,
        markChecked: false,
        writes: Promise.resolve(),
      };
      g.partitions.set(partition, p);
    }
    return p;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const failure = this.writeFailure;
    if (failure) {
      this.writeFailure = undefined;
      throw failure;
    }
    const g = this.generation;
    const p = this.partitionOf(g, batch.partition);
    const marks = this.o.workMarks;
    if (!p.checked) {
      p.checked = true;
      // Handed over gracefully: what the previous holder routed and wrote is not routed again.
      const handed = await this.o.handOvers?.read(batch.partition).catch(() => undefined);
      if (handed && handed.next > Number(batch.messages[0]?.offset ?? handed.next)) {
        p.routedUpTo = Math.max(p.routedUpTo, handed.next);
        if (p.pending.length === 0 && p.owned) this.generation.acknowledged.set(batch.partition, handed.next);
        this.log.info(
          { partition: batch.partition, from: handed.next },
          'partition handed over: starting where its previous holder stopped',
        );
      }
    }
    if (marks && !p.markChecked) {
      p.markChecked = true;
      const suspect = suspectOf(await this.foreignMark(batch.partition), marks.owner);
      if (suspect) {
        p.suspect = suspect;
        this.log.warn(
          { partition: batch.partition, from: suspect.from, to: suspect.to, crashes: suspect.crashes },
          'the previous holder of this partition died holding these events: routing them one at a time',
        );
      }
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
        await this.mark(batch.partition, {
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
    const marks = this.o.workMarks;
    // Marked before anything is done with them (decoding included), from the oldest offset not yet
    // written, so a death anywhere in the range is seen by the next holder. Awaited: a command
    // still in the client's pipeline when the process dies never reaches Redis.
    if (marks && !wait) {
      await this.mark(batch.partition, { from: p.pending[0]?.first ?? first, to: last, crashes: 0 });
    }
    const items: RouteItem[] = [];
    const invalid: SizedEntry[] = [];
    for (const message of messages) {
      try {
        items.push(await this.decode(message));
      } catch (err) {
        // A registry that cannot be reached is not the event's fault: read the batch again.
        if (err instanceof CourierError && err.retriable) throw err;
        invalid.push(this.invalid(message, batch.partition, err));
      }
    }
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
      },
      (err) => {
        pending.failed = true;
        this.failed(p, batch.partition, pending, err);
      },
    );
    const settled = written.finally(() => {
      this.pendingEvents -= pending.events;
      this.pendingBytes -= bytes;
      this.acknowledge(p, batch.partition);
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
    const producers = this.o.producers;
    const producer = producers[partition % producers.length] as Producer;
    const writes: Array<Promise<unknown>> = [];
    const send = (entries: SizedEntry[], after?: () => void) => {
      const write = p.writes.then(async () => {
        if (!p.owned) return; // handed on: the next holder routes it again
        if (entries.length > 0) {
          const { tooLarge } = await sendSized(producer, this.o.limits, entries);
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
      for (const f of part.filterFailures) this.filterFailed(f.destination, f.code, f.message);
      send([...part.records, ...part.deadLetters.map((d) => d.entry)], () => {
        for (const d of part.deadLetters) this.deadLettered(d);
      });
    });
    const direct = Promise.all([...writes]);
    const all = routing.then(async (summaries) => {
      await Promise.all(writes);
      for (const s of summaries) this.o.events.emit('routed', s);
    });
    return { direct, all };
  }

  /**
   * Writes a work mark, waiting at most MARK_WAIT_MS: routing does not wait on a slow or absent
   * Redis (then a death is not seen, and a poison event is not caught until Redis is back).
   */
  private async mark(partition: number, mark: Omit<WorkMark, 'owner'>): Promise<void> {
    const marks = this.o.workMarks;
    if (!marks) return;
    let timer: NodeJS.Timeout | undefined;
    const written = await Promise.race([
      marks.write(partition, mark).then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), MARK_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!written && Date.now() - this.markWarnedAt >= 60_000) {
      this.markWarnedAt = Date.now();
      this.log.warn(
        { partition },
        `work mark not acknowledged within ${MARK_WAIT_MS} ms (Redis slow or unreachable, or this process busy): routing goes on, but a poison event is not caught meanwhile`,
      );
    }
  }

  /** Advances the partition's acknowledged offset over the batches written, in order. */
  private acknowledge(p: PartitionState, partition: number): void {
    while (p.pending[0]?.done) {
      const head = p.pending.shift() as Pending;
      if (p.owned) this.generation.acknowledged.set(partition, head.next);
    }
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
    this.consumer.seek({ topic: this.o.eventsTopic, partition, offset: String(pending.first) });
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
    const entry = this.invalid(
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
    const producers = this.o.producers;
    const producer = producers[batch.partition % producers.length] as Producer;
    const write = p.writes.then(() => sendSized(producer, this.o.limits, [entry]));
    p.writes = write.catch(() => {});
    try {
      await write;
      pending.done = true;
    } catch (err) {
      this.failed(p, batch.partition, pending, err);
    }
    this.acknowledge(p, batch.partition);
  }

  /** One message as an event to route (throws for an invalid one). */
  private async decode(message: KafkaMessage): Promise<RouteItem> {
    const event = await this.o.codec.decode(message.value);
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (err) {
      throw new InvalidEventError(
        'EVENT_NOT_ENCODABLE',
        `event cannot be encoded as JSON: ${String(err)}`,
        err,
      );
    }
    // Producer headers go onward, but never a `courier-*` one: only Courier's stages write those.
    return {
      event,
      json,
      carried: {
        key: message.key ?? Buffer.from(event.id),
        value: Buffer.from(json),
        userHeaders: userHeaders(message.headers),
        meta: { eventId: event.id, eventType: event.type, attemptsBefore: 0, force: false },
      },
    };
  }

  /** Counts a filter that could not be evaluated, and says so at most once a minute per destination. */
  private filterFailed(destination: string, reason: string, message: string): void {
    this.o.events.emit('filter-failed', { destination, reason });
    const now = Date.now();
    const seen = this.filterFailures.get(destination) ?? { count: 0, warnedAt: 0, last: '' };
    seen.count += 1;
    seen.last = `${reason}: ${message}`;
    if (now - seen.warnedAt >= 60_000) {
      this.log.warn(
        { destination, reason, failures: seen.count, error: message },
        `filter of ${destination} could not be evaluated for ${seen.count} event(s) since the last warning; they were not routed there`,
      );
      seen.warnedAt = now;
      seen.count = 0;
    }
    this.filterFailures.set(destination, seen);
  }

  /** A dead letter the router wrote (now acknowledged): the pipeline event and its attempt record. */
  private deadLettered(d: RoutedDeadLetter): void {
    this.o.events.emit('dlq', { destination: d.destination, eventId: d.eventId, errorClass: d.errorClass });
    this.log.warn(
      {
        destination: d.destination,
        eventId: d.eventId,
        errorClass: d.errorClass,
        code: d.errorCode,
        error: d.error,
      },
      'event dead-lettered before delivery',
    );
    const record: AttemptRecord = {
      eventId: d.eventId,
      eventType: d.eventType,
      destination: d.destination,
      attempt: 0,
      at: new Date(d.at).toISOString(),
      latencyMs: 0,
      outcome: 'dlq',
      errorClass: d.errorClass,
      errorCode: d.errorCode,
      error: d.error,
      replay: false,
      ...(d.configVersion ? { configVersion: d.configVersion } : {}),
    };
    this.o.events.emit('attempt', record);
    this.o.attempts?.record(record);
  }

  /** The invalid-topic record for an event that cannot be routed, whatever the error was. */
  private invalid(message: KafkaMessage, partition: number, err: unknown): SizedEntry {
    const reason = err instanceof InvalidEventError ? err.code : 'EVENT_UNPROCESSABLE';
    const detail = err instanceof Error ? err.message : String(err);
    const log = { reason, partition, offset: message.offset, error: detail };
    if (err instanceof InvalidEventError) this.log.warn(log, 'invalid event');
    else this.log.error({ ...log, err }, 'event could not be handled; stored as invalid');
    this.o.events.emit('invalid', { reason, message: detail, partition, offset: message.offset });
    const topic = this.o.invalidTopic;
    return {
      topic,
      message: invalidRecord(
        {
          key: message.key,
          value: message.value,
          headers: message.headers,
          reason,
          detail,
          source: { topic: this.o.eventsTopic, partition, offset: message.offset },
        },
        this.o.limits.limitOf(topic),
      ),
    };
  }
}

/**
 * Waits for `work`, heartbeating every second meanwhile: a batch that takes long to write (a
 * large fan-out into a busy broker) is not a dead member, and the group must not think so.
 */
async function beating(work: Promise<unknown>, heartbeat: () => Promise<void>): Promise<void> {
  let done = false;
  const finish = () => {
    done = true;
  };
  work.then(finish, finish);
  while (!done) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise((r) => (timer = setTimeout(r, 1000)))]).catch(() => {});
    clearTimeout(timer);
    if (!done) await heartbeat().catch(() => {});
  }
  await work;
}

function newGeneration(assigned: number[]): Generation {
  return { acknowledged: new Map(), committed: new Map(), partitions: new Map(), assigned };
}
