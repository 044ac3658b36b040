// What Courier, its expression hosts (child processes) and their expression threads say to each
// other (structured-cloned messages), and the layout of the shared cursor a thread writes before
// every pair it evaluates.
import type { ShapeResult, ShapeSource } from '../cloudevents/shape.ts';

/** Int32 slots of the cursor; the pair's start time (epoch ms) is a Float64 beside it. */
export const CURSOR = {
  /** Incremented at every pair's start: unchanged between two looks means the same pair still runs. */
  seq: 0,
  /** The pair's index in the job. */
  pair: 1,
  /** 1 while a pair is being evaluated. */
  running: 2,
  /** Which expression of the pair runs: 0 filter, 1 headers, 2 transform. */
  stage: 3,
} as const;
export const CURSOR_SLOTS = 4;

/**
 * A pair's outcome: what its destination's expressions made of the event, or evaluate it again in
 * its own lane. The two commonest cross as numbers (a job's results are cloned twice on their way
 * back): 0, the filter turned the event away; 1, routed as it is.
 */
export type PairOutcome = ShapeResult | { kind: 'deferred' } | 0 | 1;

const SKIP: ShapeResult = { kind: 'skip' };
const ROUTE: ShapeResult = { kind: 'route' };

/** The outcome as a pair's result, short forms spelt out. */
export function outcomeOf(o: PairOutcome): ShapeResult | { kind: 'deferred' } {
  return o === 0 ? SKIP : o === 1 ? ROUTE : o;
}

/** The short form of a result, where there is one. */
export function wireOf(r: ShapeResult): PairOutcome {
  if (r.kind === 'skip') return 0;
  if (r.kind === 'route' && r.body === undefined && r.headers === undefined) return 1;
  return r;
}

/** A job: pairs of events and destinations of one configuration version, evaluated in order. */
export interface PoolJob {
  version: string;
  /** The events as JSON text. */
  events: string[];
  /** Flattened (event index, destination index) pairs. */
  pairs: number[];
}

export interface PoolResult {
  results: PairOutcome[];
  /** Wall time spent per destination index. */
  spentMs: number[];
}

/** Courier to a host. */
export type ToHost =
  | { kind: 'configure'; version: string; sources: ShapeSource[] }
  | { kind: 'forget'; version: string }
  /** Pairs of this destination in jobs not started yet come back deferred, unevaluated. */
  | { kind: 'defer'; version: string; destination: number }
  | ({ kind: 'job'; job: number } & PoolJob);

/** A host to Courier. */
export type FromHost =
  | { kind: 'ready' }
  | { kind: 'done'; job: number; result: PoolResult }
  | { kind: 'error'; job: number; message: string };

/** A host to its thread. */
export type ToThread =
  | { kind: 'configure'; version: string; sources: ShapeSource[] }
  | { kind: 'forget'; version: string }
  | {
      kind: 'job';
      job: number;
      version: string;
      /** The events as JSON text. */
      events: string[];
      /** Flattened (event index, destination index) pairs, evaluated in this order. */
      pairs: number[];
    };

export type FromThread =
  | { kind: 'ready' }
  | { kind: 'done'; job: number; results: PairOutcome[]; spentMs: number[] }
  | { kind: 'error'; job: number; message: string };
