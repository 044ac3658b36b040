// The per-destination circuit breaker (opossum). Transient failures count against it; delivered,
// permanent and auth responses do not (the destination answered). Open → the actor stops
// consuming; half-open → exactly one probe goes through.
import CircuitBreaker from 'opossum';
import type { DestinationConfig } from '../config/schema.ts';
import type { Outcome, SendResult } from '../policy/failures.ts';

/** What the gate needs of a circuit breaker (opossum's, or a scripted one in the gate's tests). */
export interface Breaker {
  /** Runs the send; rejects with TransientFailure for a transient outcome, or a rejection when open. */
  fire(send: () => Promise<ClassifiedResult>): Promise<ClassifiedResult>;
  on(event: 'open' | 'halfOpen' | 'close', listener: () => void): unknown;
  shutdown(): void;
}

export interface ClassifiedResult {
  result: SendResult;
  outcome: Outcome;
}

export class TransientFailure extends Error {
  readonly classified: ClassifiedResult;
  constructor(classified: ClassifiedResult) {
    super(`transient failure: ${classified.result.status ?? classified.result.errorCode}`);
    this.name = 'TransientFailure';
    this.classified = classified;
  }
}

export function isBreakerRejection(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'EOPENBREAKER' || code === 'ESEMLOCKED' || code === 'ESHUTDOWN';
}

export function createBreaker(config: DestinationConfig['circuitBreaker'], name: string): Breaker {
  return new CircuitBreaker<[() => Promise<ClassifiedResult>], ClassifiedResult>(
    async (attempt) => {
      const classified = await attempt();
      if (classified.outcome.kind === 'transient') throw new TransientFailure(classified);
      return classified;
    },
    {
      name,
      timeout: false,
      errorThresholdPercentage: config.errorThresholdPercentage,
      volumeThreshold: config.volumeThreshold,
      resetTimeout: config.resetTimeoutMs,
      rollingCountTimeout: config.rollingWindowMs,
      rollingCountBuckets: 10,
    },
  );
}
