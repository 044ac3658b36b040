// What the router holds of the events topic, partition by partition: the batches being written
// (in offset order), how far each partition is routed and acknowledged, and what was committed,
// per consumer-group generation. A rebalance that keeps a partition here keeps its state (what it
// routed is committed in the new generation, and not routed again); a partition handed on says in
// Redis where its next holder may start (redis/handOvers.ts), and its work is the next holder's.
import type { CommitRound } from '../kafka/periodicCommit.ts';
import type { Suspect } from '../policy/crashLoop.ts';
import type { Logger } from '../telemetry/logger.ts';

/** Graceful hand-overs of partitions (redis/handOvers.ts); the port the router needs. */
export interface PartitionHandOvers {
  write(partitions: ReadonlyArray<{ partition: number; next: number }>): Promise<void>;
  read(partition: number): Promise<{ next: number } | undefined>;
}

/** A batch whose records are being written. */
export interface Pending {
  /** The next offset to read once it is all written. */
  next: number;
  first: number;
  events: number;
  done: boolean;
  failed: boolean;
}

/** Per partition, for as long as this router holds it (across generations that keep it here). */
export interface PartitionState {
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

function newGeneration(assigned: number[]): Generation {
  return { acknowledged: new Map(), committed: new Map(), partitions: new Map(), assigned };
}

export class Holdings {
  private generation: Generation = newGeneration([]);
  private readonly handOvers: PartitionHandOvers | undefined;
  private readonly log: Logger;

  constructor(handOvers: PartitionHandOvers | undefined, log: Logger) {
    this.handOvers = handOvers;
    this.log = log;
  }

  /** The partitions of the current generation. */
  get assigned(): number[] {
    return this.generation.assigned;
  }

  /**
   * A new generation with these partitions: those still here keep their state; those handed on
   * are no longer owned, and their hand-over is written. Returns the partitions handed on.
   */
  rejoined(assigned: number[]): number[] {
    const previous = this.generation;
    const handedOn = previous.assigned.filter((p) => !assigned.includes(p));
    this.generation = newGeneration(assigned);
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
    void this.handOver(previous, handedOn);
    return handedOn;
  }

  /** At a stop: where the next holders of every partition held may start. */
  handOverAll(): Promise<void> {
    return this.handOver(this.generation, this.generation.assigned);
  }

  /** The state of a partition in this generation (new, or kept through a rebalance). */
  partition(partition: number): PartitionState {
    const g = this.generation;
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

  /**
   * At a partition's first batch here: when its previous holder handed it over gracefully, what
   * that holder routed and wrote is not routed again.
   */
  async takeOver(p: PartitionState, partition: number, firstOffset: number | undefined): Promise<void> {
    if (p.checked) return;
    p.checked = true;
    const handed = await this.handOvers?.read(partition).catch(() => undefined);
    if (!handed || handed.next <= (firstOffset ?? handed.next)) return;
    p.routedUpTo = Math.max(p.routedUpTo, handed.next);
    if (p.pending.length === 0 && p.owned) this.generation.acknowledged.set(partition, handed.next);
    this.log.info(
      { partition, from: handed.next },
      'partition handed over: starting where its previous holder stopped',
    );
  }

  /** Advances the partition's acknowledged offset over the batches written, in order. */
  acknowledge(p: PartitionState, partition: number): void {
    while (p.pending[0]?.done) {
      const head = p.pending.shift() as Pending;
      if (p.owned) this.generation.acknowledged.set(partition, head.next);
    }
  }

  /** The acknowledged offsets above the last commit, recorded as committed in their own generation. */
  commitRound(): CommitRound {
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

  /** Says where the next holders of these partitions may start (what was routed and written). */
  private handOver(g: Generation, partitions: number[]): Promise<void> {
    const handed = partitions.flatMap((partition) => {
      const next = g.acknowledged.get(partition);
      return next === undefined ? [] : [{ partition, next }];
    });
    return (
      this.handOvers?.write(handed).catch((err) => {
        this.log.warn({ err }, 'hand-over not written: the next holders route from the committed offsets');
      }) ?? Promise.resolve()
    );
  }
}
