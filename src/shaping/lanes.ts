// Which lane a destination's expressions are evaluated in, and in what order their results are
// handed on. Every destination starts in the shared lane (one job per batch for all of them, on
// the shared thread). A destination whose expressions break a limit (CPU time, memory, a dead
// thread) or take more than `slowPairMs` an event on average in a shared job moves to a lane of
// its own, for as long
// as its expressions stay the same: from then on it only ever waits for itself. In its own lane,
// `breachesToSuspend` breaches in a row suspend its evaluation for a cool-down (30 s, doubling up to
// 10 min while it goes on breaking them): meanwhile its events are its dead letters at once, not
// evaluated (they hold the event, so a replay after fixing the expression shapes them again). One
// event evaluated fine after the cool-down ends the suspension.
//
// Results of one destination are handed on in the order its pairs were given (a reorder buffer of
// tickets per destination), whichever lane and job they came from: a key's events stay in order.
import type { ShapeFailureCode, ShapeResult, ShapeSource } from '../cloudevents/shape.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { ExpressionPool } from './expressionPool.ts';
import { outcomeOf, type PairOutcome, type PoolResult } from './protocol.ts';

/** Failures that say the expressions themselves are dangerous (not just this event). */
const BREACHES: ReadonlySet<ShapeFailureCode> = new Set(['CPU_LIMIT', 'MEMORY_LIMIT', 'THREAD_DIED']);

export interface LanesOptions {
  pool: Pick<ExpressionPool, 'run'> & Partial<Pick<ExpressionPool, 'defer'>>;
  logger: Logger;
  /** A destination taking more than this per event in a shared job moves to its own lane (default 1 ms). */
  slowPairMs?: number;
  /** Breaches in a row that suspend a destination's evaluation (default 3). */
  breachesToSuspend?: number;
  /** First suspension (ms; default 30 s), doubled while breaches go on, up to `maxSuspendMs` (10 min). */
  suspendMs?: number;
  maxSuspendMs?: number;
  /** Pairs of one job in a destination's own lane (default 256). */
  ownJobPairs?: number;
  now?: () => number;
  /** Told when a destination moves to its own lane or is suspended. */
  onChange?: (change: { destination: string; lane: 'own' | 'suspended'; reason: string }) => void;
}

/** One batch's work: its events, and the (event, destination) pairs to evaluate. */
export interface LaneBatch {
  version: string;
  events: string[];
  /** Flattened (event index, destination index) pairs; destinations index `sources`. */
  pairs: number[];
  sources: readonly ShapeSource[];
}

/** Results for some pairs of one destination (indexes into the batch's pairs), in their order. */
export type Deliver = (destination: number, pairs: number[], results: ShapeResult[]) => void;

interface Ticket {
  number: number;
  /** Pairs of this destination in the batch, and how many were handed on. */
  total: number;
  handed: number;
  held: Array<{ pairs: number[]; results: ShapeResult[] }>;
  deliver: Deliver;
  destination: number;
  state: DestinationState;
  done: () => void;
}

interface OwnWork {
  ticket: Ticket;
  batch: LaneBatch;
  /** Pairs (indexes into the batch's pairs) still to evaluate, in order. */
  pairs: number[];
}

interface DestinationState {
  fingerprint: string;
  own: boolean;
  queue: OwnWork[];
  busy: boolean;
  consecutive: number;
  suspendedUntil: number;
  suspendMs: number;
  lastBreach: string;
  nextTicket: number;
  /** The ticket whose results are handed on now; later ones wait in `tickets`. */
  nextToHand: number;
  tickets: Map<number, Ticket>;
}

export class ExpressionLanes {
  private readonly options: Required<Omit<LanesOptions, 'onChange'>> & Pick<LanesOptions, 'onChange'>;
  private readonly state = new Map<string, DestinationState>();

  constructor(options: LanesOptions) {
    this.options = {
      slowPairMs: 1,
      breachesToSuspend: 3,
      suspendMs: 30_000,
      maxSuspendMs: 600_000,
      ownJobPairs: 256,
      now: Date.now,
      ...options,
    };
  }

  private stateOf(source: ShapeSource): DestinationState {
    const fingerprint = JSON.stringify(source);
    let s = this.state.get(source.id);
    if (!s) {
      s = {
        fingerprint,
        own: false,
        queue: [],
        busy: false,
        consecutive: 0,
        suspendedUntil: 0,
        suspendMs: this.options.suspendMs,
        lastBreach: '',
        nextTicket: 0,
        nextToHand: 0,
        tickets: new Map(),
      };
      this.state.set(source.id, s);
    } else if (s.fingerprint !== fingerprint) {
      // New expressions start over in the shared lane; results still on their way keep their order.
      s.fingerprint = fingerprint;
      s.own = false;
      s.consecutive = 0;
      s.suspendedUntil = 0;
      s.suspendMs = this.options.suspendMs;
    }
    return s;
  }

  /** Destinations no configuration names any more. */
  retain(ids: ReadonlySet<string>): void {
    for (const [id, s] of this.state) if (!ids.has(id) && s.tickets.size === 0) this.state.delete(id);
  }

  /** Evaluates a batch's pairs; resolves once every result was handed to `deliver`. */
  evaluate(batch: LaneBatch, deliver: Deliver): Promise<void> {
    const byDestination = new Map<number, number[]>();
    for (let k = 0; k < batch.pairs.length / 2; k++) {
      const d = batch.pairs[2 * k + 1] as number;
      const list = byDestination.get(d) ?? [];
      if (list.length === 0) byDestination.set(d, list);
      list.push(k);
    }
    const shared: number[] = [];
    const waits: Array<Promise<void>> = [];
    const tickets = new Map<number, Ticket>();
    for (const [d, pairs] of byDestination) {
      const s = this.stateOf(batch.sources[d] as ShapeSource);
      const ticket = this.ticket(s, d, pairs.length, deliver);
      tickets.set(d, ticket);
      waits.push(new Promise<void>((resolve) => (ticket.done = resolve)));
      if (s.own) this.enqueue(s, { ticket, batch, pairs });
      else shared.push(...pairs);
    }
    if (shared.length > 0) {
      void this.runShared(batch, shared, tickets).catch((err) => {
        this.options.logger.error({ err }, 'shared expression job failed');
        for (const k of shared) {
          const d = batch.pairs[2 * k + 1] as number;
          this.hand(tickets.get(d) as Ticket, [k], [threadLost(err)]);
        }
      });
    }
    return Promise.all(waits).then(() => undefined);
  }

  private ticket(s: DestinationState, destination: number, total: number, deliver: Deliver): Ticket {
    const t: Ticket = {
      number: s.nextTicket,
      total,
      handed: 0,
      held: [],
      deliver,
      destination,
      state: s,
      done: () => {},
    };
    s.nextTicket += 1;
    s.tickets.set(t.number, t);
    return t;
  }

  private async runShared(batch: LaneBatch, pairs: number[], tickets: Map<number, Ticket>): Promise<void> {
    const result = await this.options.pool.run('shared', jobOf(batch, pairs));
    const perDestination = new Map<number, { pairs: number[]; results: ShapeResult[]; deferred: number[] }>();
    pairs.forEach((k, i) => {
      const d = batch.pairs[2 * k + 1] as number;
      const entry = perDestination.get(d) ?? { pairs: [], results: [], deferred: [] };
      perDestination.set(d, entry);
      const r = outcomeOf(result.results[i] as PairOutcome);
      if (r.kind === 'deferred') entry.deferred.push(k);
      else {
        entry.pairs.push(k);
        entry.results.push(r);
      }
    });
    for (const [d, entry] of perDestination) {
      const source = batch.sources[d] as ShapeSource;
      const s = this.stateOf(source);
      const ticket = tickets.get(d) as Ticket;
      const breach = entry.results.find((r) => r.kind === 'fail' && BREACHES.has(r.code));
      const spent = (result.spentMs[d] ?? 0) / Math.max(1, entry.pairs.length + entry.deferred.length);
      // A job sent before an earlier one moved the destination out: what it says again is old news.
      if ((breach || entry.deferred.length > 0 || spent > this.options.slowPairMs) && !s.own) {
        s.own = true;
        // Shared jobs already queued leave its pairs to its own lane, unevaluated.
        this.options.pool.defer?.(batch.version, d);
        const reason = breach
          ? `its expressions broke a limit: ${breach.kind === 'fail' ? breach.error : ''}`
          : `its expressions took ${spent.toFixed(1)} ms an event in a shared job (over ${this.options.slowPairMs} ms)`;
        this.options.logger.warn(
          { destination: source.id, reason },
          'destination expressions moved to a lane of their own: other destinations no longer wait for them',
        );
        this.options.onChange?.({ destination: source.id, lane: 'own', reason });
        if (breach) this.counted(s, source, [breach]);
      }
      this.hand(ticket, entry.pairs, entry.results);
      if (entry.deferred.length > 0) this.enqueue(s, { ticket, batch, pairs: entry.deferred }, true);
    }
  }

  /** Queues work in a destination's own lane (deferred work of a ticket goes ahead of later tickets). */
  private enqueue(s: DestinationState, work: OwnWork, ahead = false): void {
    if (work.pairs.length === 0) return;
    if (ahead) {
      const at = s.queue.findIndex((w) => w.ticket.number > work.ticket.number);
      if (at < 0) s.queue.push(work);
      else s.queue.splice(at, 0, work);
    } else s.queue.push(work);
    void this.pump(s);
  }

  private async pump(s: DestinationState): Promise<void> {
    if (s.busy) return;
    s.busy = true;
    try {
      for (;;) {
        const work = s.queue[0];
        if (!work) return;
        // Deferred work may be queued ahead meanwhile: what is done leaves by identity.
        const done = () => s.queue.splice(s.queue.indexOf(work), 1);
        const source = work.batch.sources[work.ticket.destination] as ShapeSource;
        if (this.options.now() < s.suspendedUntil) {
          done();
          this.hand(
            work.ticket,
            work.pairs,
            work.pairs.map(() => suspended(s, source, this.options.now())),
          );
          continue;
        }
        const pairs = work.pairs.slice(0, this.options.ownJobPairs);
        let result: PoolResult;
        try {
          result = await this.options.pool.run('own', jobOf(work.batch, pairs));
        } catch (err) {
          done();
          this.hand(
            work.ticket,
            work.pairs,
            work.pairs.map(() => threadLost(err)),
          );
          continue;
        }
        const handed: number[] = [];
        const results: ShapeResult[] = [];
        for (let i = 0; i < pairs.length; i++) {
          const r = outcomeOf(result.results[i] as PairOutcome);
          if (r.kind === 'deferred') break;
          handed.push(pairs[i] as number);
          results.push(r);
          this.counted(s, source, [r]);
        }
        this.hand(work.ticket, handed, results);
        work.pairs = work.pairs.slice(handed.length);
        if (work.pairs.length === 0) done();
      }
    } finally {
      s.busy = false;
    }
  }

  /** Counts breaches in a row (and successes, which end them); suspends at the threshold. */
  private counted(s: DestinationState, source: ShapeSource, results: ShapeResult[]): void {
    for (const r of results) {
      if (r.kind === 'fail' && BREACHES.has(r.code)) {
        s.consecutive += 1;
        s.lastBreach = r.error;
        if (s.consecutive >= this.options.breachesToSuspend) {
          s.suspendedUntil = this.options.now() + s.suspendMs;
          const reason = `${s.consecutive} events in a row broke its limits (last: ${r.error})`;
          this.options.logger.error(
            { destination: source.id, suspendMs: s.suspendMs, reason },
            'destination expressions suspended: its events are dead-lettered unevaluated until the cool-down ends (replay them once the expression is fixed)',
          );
          this.options.onChange?.({ destination: source.id, lane: 'suspended', reason });
          s.suspendMs = Math.min(s.suspendMs * 2, this.options.maxSuspendMs);
          s.consecutive = this.options.breachesToSuspend - 1;
        }
      } else {
        // Evaluated within its limits: a suspension is over for good.
        if (s.suspendedUntil > 0) {
          s.suspendedUntil = 0;
          s.suspendMs = this.options.suspendMs;
        }
        s.consecutive = 0;
      }
    }
  }

  /** Hands results on in ticket order. */
  private hand(ticket: Ticket, pairs: number[], results: ShapeResult[]): void {
    if (pairs.length === 0) return;
    ticket.held.push({ pairs, results });
    const s = ticket.state;
    for (;;) {
      const head = s.tickets.get(s.nextToHand);
      if (!head) return;
      for (const part of head.held.splice(0)) {
        head.handed += part.pairs.length;
        head.deliver(head.destination, part.pairs, part.results);
      }
      if (head.handed < head.total) return;
      s.tickets.delete(head.number);
      s.nextToHand += 1;
      head.done();
    }
  }
}

/** A job of some of a batch's pairs, carrying only the events they name (renumbered). */
function jobOf(
  batch: LaneBatch,
  pairs: readonly number[],
): { version: string; events: string[]; pairs: number[] } {
  const index = new Map<number, number>();
  const events: string[] = [];
  const flat: number[] = [];
  for (const k of pairs) {
    const e = batch.pairs[2 * k] as number;
    let at = index.get(e);
    if (at === undefined) {
      at = events.length;
      index.set(e, at);
      events.push(batch.events[e] as string);
    }
    flat.push(at, batch.pairs[2 * k + 1] as number);
  }
  return { version: batch.version, events, pairs: flat };
}

function suspended(s: DestinationState, source: ShapeSource, now: number): ShapeResult {
  return {
    kind: 'fail',
    code: 'SUSPENDED',
    error: `not evaluated: ${source.id}'s expressions are suspended until ${new Date(s.suspendedUntil).toISOString()} after breaking their limits on several events in a row (last: ${s.lastBreach}); ${Math.max(0, Math.round((s.suspendedUntil - now) / 1000))} s left`,
  };
}

function threadLost(err: unknown): ShapeResult {
  return {
    kind: 'fail',
    code: 'THREAD_DIED',
    error: `the expression threads could not evaluate it: ${(err as Error)?.message ?? String(err)}`,
  };
}
