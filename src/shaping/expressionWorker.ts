// The expression thread: a worker_threads isolate (heap bounded by its resourceLimits) that
// compiles destinations' expressions per configuration version and evaluates jobs of (event,
// destination) pairs one at a time. Before each pair it writes which pair runs and since when
// into a shared cursor, so the pool can stop a pair that will not yield (one huge step, a CEL
// comprehension) by ending the thread, and know whose it was. A transform is also checked between
// its own steps against the CPU time this thread has spent on it: a breach stops that evaluation
// at once and the rest of the job goes on (the destination's later pairs come back deferred, to
// be evaluated in its own lane).
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { CloudEvent } from '../cloudevents/cloudEvent.ts';
import { EvaluationStopped } from '../cloudevents/expressions.ts';
import {
  compileShape,
  cpuLimitMessage,
  type DestinationShape,
  type ShapeSource,
  shapeEvent,
} from '../cloudevents/shape.ts';
import { STAGES } from '../cloudevents/stages.ts';
import { CURSOR, type PairOutcome, type ToThread, wireOf } from './protocol.ts';

if (!parentPort) throw new Error('the expression thread runs as a worker thread');
const port = parentPort;
const cursor = new Int32Array(workerData.cursor as SharedArrayBuffer);
const wall = new Float64Array(workerData.wall as SharedArrayBuffer);
const versions = new Map<string, DestinationShape[]>();

const now = () => performance.timeOrigin + performance.now();
const cpuMs = () => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

function compile(sources: ShapeSource[]): DestinationShape[] {
  return sources.map(compileShape);
}

async function runJob(job: Extract<ToThread, { kind: 'job' }>): Promise<void> {
  const shapes = versions.get(job.version);
  if (!shapes) throw new Error(`expression thread ${threadId}: version ${job.version} was never configured`);
  const parsed: Array<CloudEvent | undefined> = new Array(job.events.length);
  const count = job.pairs.length / 2;
  const results: PairOutcome[] = new Array(count);
  const spentMs = new Array<number>(shapes.length).fill(0);
  const breached = new Set<number>();
  for (let k = 0; k < count; k++) {
    const e = job.pairs[2 * k] as number;
    const d = job.pairs[2 * k + 1] as number;
    if (breached.has(d)) {
      results[k] = { kind: 'deferred' };
      continue;
    }
    let event = parsed[e];
    if (!event) {
      event = JSON.parse(job.events[e] as string) as CloudEvent;
      parsed[e] = event;
    }
    const shape = shapes[d] as DestinationShape;
    const budget = shape.limits.cpuMs;
    let stage = 0;
    Atomics.store(cursor, CURSOR.pair, k);
    Atomics.store(cursor, CURSOR.stage, 0);
    const started = now();
    wall[0] = started;
    Atomics.add(cursor, CURSOR.seq, 1);
    Atomics.store(cursor, CURSOR.running, 1);
    // The transform's steps check the CPU time this thread spent on the pair (read only once the
    // wall clock says it could be over: a wall-clock millisecond is at most a CPU millisecond).
    const cpuStart = shape.transform ? cpuMs() : 0;
    let steps = 0;
    const step = () => {
      steps += 1;
      if ((steps & 15) !== 0 || now() - started < budget) return;
      if (cpuMs() - cpuStart >= budget)
        throw new EvaluationStopped(cpuLimitMessage(shape.limits, 'transform'));
    };
    try {
      const shaped = shapeEvent(shape, event, {
        step,
        stage: (s) => {
          stage = s;
          Atomics.store(cursor, CURSOR.stage, s);
        },
      });
      results[k] = wireOf(shaped instanceof Promise ? await shaped : shaped);
    } catch (err) {
      if (!(err instanceof EvaluationStopped)) throw err;
      results[k] = {
        kind: 'fail',
        code: 'CPU_LIMIT',
        error: cpuLimitMessage(shape.limits, STAGES[stage] ?? 'transform'),
      };
      breached.add(d);
    } finally {
      Atomics.store(cursor, CURSOR.running, 0);
    }
    spentMs[d] = (spentMs[d] ?? 0) + (now() - started);
  }
  port.postMessage({ kind: 'done', job: job.job, results, spentMs });
}

// Jobs run one after the other: the cursor describes one pair at a time.
let chain: Promise<void> = Promise.resolve();
port.on('message', (message: ToThread) => {
  if (message.kind === 'configure') {
    if (!versions.has(message.version)) versions.set(message.version, compile(message.sources));
    return;
  }
  if (message.kind === 'forget') {
    versions.delete(message.version);
    return;
  }
  // An error of the thread itself (not an expression's) fails that job; the next one runs.
  chain = chain
    .then(() => runJob(message))
    .catch((err) => {
      port.postMessage({ kind: 'error', job: message.job, message: String((err as Error)?.stack ?? err) });
    });
});
port.postMessage({ kind: 'ready' });
