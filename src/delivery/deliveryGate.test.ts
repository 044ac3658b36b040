// The gate's state machine with a fake clock, a scripted breaker and an in-memory pause store:
// every transition (breaker open, half-open with one probe, close; a pause until resumed; a
// Retry-After until a time; another instance's pause or resume seen by the poll), exactly.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { beforeEach, describe, test } from 'node:test';
import { FakeClock } from '../../test/helpers/fakeClock.ts';
import { parseConfig } from '../config/load.ts';
import type { PauseReason } from '../policy/failures.ts';
import type { PauseState } from '../redis/destinationControl.ts';
import { PipelineEmitter } from '../telemetry/events.ts';
import { createLogger } from '../telemetry/logger.ts';
import { type Breaker, type ClassifiedResult, TransientFailure } from './breaker.ts';
import { DeliveryGate, type PauseStore } from './deliveryGate.ts';

const destination = parseConfig(
  {
    kafka: { brokers: ['127.0.0.1:9092'] },
    destinations: [
      { id: 'crm', url: 'https://hooks.example.com/x', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
    ],
  },
  { source: 'test', env: {} },
).destinations[0]!;

/** A breaker the test drives: it emits transitions when told and refuses while `refusing`. */
class ScriptedBreaker extends EventEmitter implements Breaker {
  refusing = false;
  shutDown = false;
  async fire(send: () => Promise<ClassifiedResult>): Promise<ClassifiedResult> {
    if (this.refusing) throw Object.assign(new Error('open'), { code: 'EOPENBREAKER' });
    const r = await send();
    if (r.outcome.kind === 'transient') throw new TransientFailure(r);
    return r;
  }
  shutdown(): void {
    this.shutDown = true;
  }
}

/** The shared pause state as Redis holds it, in memory (what DestinationControl does). */
class MemoryPauses implements PauseStore {
  paused: { reason: PauseReason; detail?: string } | undefined;
  until = 0;
  reads = 0;
  /** When set, the next state() read waits for this promise (a slow Redis). */
  hold: Promise<void> | undefined;
  async pause(_d: string, reason: PauseReason, detail?: string): Promise<boolean> {
    if (this.paused && reason !== 'operator') return false;
    this.paused = { reason, ...(detail ? { detail } : {}) };
    return true;
  }
  async pauseUntil(_d: string, until: number): Promise<void> {
    this.until = Math.max(this.until, until);
  }
  resume(): void {
    this.paused = undefined;
    this.until = 0;
  }
  async state(_d: string, now: number): Promise<PauseState> {
    this.reads += 1;
    const snapshot: PauseState = this.paused
      ? { paused: true, ...this.paused }
      : this.until > now
        ? { paused: true, reason: 'retry-after', until: this.until }
        : { paused: false };
    if (this.hold) await this.hold;
    return snapshot;
  }
}

const ok: ClassifiedResult = { result: { status: 200, latencyMs: 1 }, outcome: { kind: 'delivered' } };
const POLL = 500;

describe('delivery gate', () => {
  let clock: FakeClock;
  let breaker: ScriptedBreaker;
  let pauses: MemoryPauses;
  let events: PipelineEmitter;
  let seen: string[];
  let flowing: boolean[];
  let gate: DeliveryGate;
  const never = new AbortController().signal;

  beforeEach(async () => {
    clock = new FakeClock();
    breaker = new ScriptedBreaker();
    pauses = new MemoryPauses();
    events = new PipelineEmitter();
    seen = [];
    flowing = [];
    for (const name of ['paused', 'resumed', 'breaker-open', 'breaker-half-open', 'breaker-close'] as const) {
      events.on(name, (e: { reason?: string }) => seen.push(e.reason ? `${name}:${e.reason}` : name));
    }
    gate = new DeliveryGate({
      destination,
      control: pauses,
      events,
      logger: createLogger({ level: 'silent' }),
      onFlowing: (f) => flowing.push(f),
      pollMs: POLL,
      clock,
      breaker,
    });
    await gate.start();
  });

  /** Starts a wait at the gate and reports whether it resolved, and whether it passed. */
  const pass = async (signal: AbortSignal) => (await gate.waitToPass(signal, () => false)) === 'pass';

  function passing(signal = never) {
    const state: { done: boolean; value?: boolean } = { done: false };
    void pass(signal).then((v) => {
      state.done = true;
      state.value = v;
    });
    return state;
  }

  test('open: a message passes at once and nothing stops the fetching', async () => {
    assert.equal(await pass(never), true);
    assert.deepEqual(gate.state(), { open: true, breaker: 'closed' });
    assert.deepEqual(flowing, []);
    assert.deepEqual(await gate.fire(async () => ok), ok);
  });

  test('breaker open → half-open lets exactly one probe through → closed lets everyone', async () => {
    breaker.emit('open');
    assert.equal(gate.reason(), 'circuit-open');
    assert.deepEqual(flowing, [false], 'the runner stops fetching');
    const waiting = [passing(), passing()];
    await clock.settle();
    assert.ok(
      waiting.every((w) => !w.done),
      'nothing passes an open circuit',
    );

    breaker.emit('halfOpen');
    await clock.settle();
    assert.deepEqual(flowing, [false, true], 'half-open fetches again: a probe needs a message');
    assert.equal(waiting.filter((w) => w.done).length, 1, 'exactly one probe');
    assert.equal(gate.reason(), 'circuit-half-open');

    breaker.emit('close');
    await clock.settle();
    assert.ok(waiting.every((w) => w.done && w.value === true));
    assert.equal(gate.reason(), undefined);
    assert.deepEqual(seen, ['breaker-open', 'breaker-half-open', 'breaker-close']);
  });

  test('a probe the breaker refuses is handed to the next waiter, and the send is rejected', async () => {
    breaker.emit('open');
    breaker.emit('halfOpen');
    const probe = passing();
    const next = passing();
    await clock.settle();
    assert.equal(probe.done, true);
    assert.equal(next.done, false);
    breaker.refusing = true;
    assert.equal(await gate.fire(async () => ok), 'rejected');
    await clock.settle();
    assert.equal(next.done, true, 'the probe went to the next waiter');
  });

  test('a transient failure through the breaker is the classified result, not an error', async () => {
    const failed: ClassifiedResult = {
      result: { status: 503, latencyMs: 1 },
      outcome: { kind: 'transient', ambiguous: false },
    };
    assert.deepEqual(await gate.fire(async () => failed), failed);
  });

  test('a pause holds every waiter until resumed on every instance; the first reason stays', async () => {
    assert.equal(await gate.pause('auth-rejected', 'HTTP 401'), true);
    assert.equal(await gate.pause('forbidden', 'HTTP 403'), false, 'paused already: no second alert');
    assert.equal(gate.reason(), 'auth-rejected');
    assert.deepEqual(flowing, [false]);
    const waiter = passing();
    await clock.advance(POLL * 3);
    assert.equal(waiter.done, false, 'still paused after several polls');

    pauses.resume(); // `courier resume`, from anywhere
    await clock.advance(POLL);
    assert.equal(waiter.done, true);
    assert.equal(waiter.value, true);
    assert.deepEqual(flowing, [false, true]);
    assert.deepEqual(seen, ['paused:auth-rejected', 'resumed']);
  });

  test("another instance's pause is seen within one poll", async () => {
    pauses.paused = { reason: 'operator' };
    assert.equal(gate.shut(), false, 'not yet read');
    await clock.advance(POLL);
    assert.equal(gate.shut(), true);
    assert.equal(gate.reason(), 'operator');
    assert.deepEqual(seen, ['paused:operator']);
  });

  test('a Retry-After holds until its time, then the gate opens by itself', async () => {
    const until = clock.now() + 1200;
    await gate.pauseUntil(until);
    assert.equal(gate.reason(), 'retry-after');
    assert.equal(gate.state().until, until);
    const waiter = passing();
    await clock.advance(1100);
    assert.equal(waiter.done, false);
    await clock.advance(200);
    assert.equal(waiter.done, true);
    assert.deepEqual(flowing, [false, true]);
    assert.equal(seen[0], 'paused:retry-after');
    assert.ok(seen.includes('resumed'));
  });

  test('a shorter Retry-After never shortens a longer one', async () => {
    await gate.pauseUntil(clock.now() + 5000);
    await gate.pauseUntil(clock.now() + 1000);
    await clock.advance(2000);
    assert.equal(gate.reason(), 'retry-after');
  });

  test('a resume clears a Retry-After on every instance too', async () => {
    await gate.pauseUntil(clock.now() + 60_000);
    const waiter = passing();
    pauses.resume();
    await clock.advance(POLL);
    assert.equal(waiter.done, true);
  });

  test('a Redis read begun before a local pause does not undo it', async () => {
    let release!: () => void;
    pauses.hold = new Promise((r) => {
      release = r;
    });
    await clock.advance(POLL); // a poll starts and waits on the slow read (which saw no pause)
    pauses.hold = undefined;
    await gate.pause('gone', 'HTTP 410');
    release();
    await clock.settle();
    assert.equal(gate.reason(), 'gone', 'the stale "not paused" answer was ignored');
  });

  test('a waiter whose signal aborts gets false; stop releases everyone and the breaker', async () => {
    breaker.emit('open');
    const abort = new AbortController();
    const a = passing(abort.signal);
    const b = passing();
    abort.abort();
    await clock.settle();
    assert.deepEqual([a.done, a.value], [true, false]);
    assert.equal(b.done, false);
    gate.stop();
    await clock.settle();
    assert.deepEqual([b.done, b.value], [true, false]);
    assert.equal(breaker.shutDown, true);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });
});
