// One expression thread: a worker_threads isolate that evaluates destinations' expressions with a
// bounded heap (`resourceLimits`), one job at a time, in FIFO order. It runs inside an expression
// host process (expressionHost.ts), never in Courier's own: V8 enforces a worker's heap limit only
// as best it can, and some allocations that break it abort the whole process (nodejs/node#47224),
// which then is the host, not Courier.
//
// A pair that will not stop is stopped from outside: a watchdog looks at every busy thread's
// cursor; once the pair under way has run longer than its destination's CPU budget in wall time,
// it reads the thread's own CPU time (`worker.cpuUsage()`), and ends the thread when the pair has
// used its whole budget of CPU since then. So a pair is never stopped before it has had its
// budget in CPU time, whatever else the machine does, and is stopped within about twice it. A
// thread that ran out of heap, or died otherwise, ends the same way. Either way the pair under way
// is its destination's failure (named after the limit), that destination's other pairs of the job
// come back deferred, and the rest of the job is evaluated again on a fresh thread.
import { Worker } from 'node:worker_threads';
import type { ShapeFailureCode, ShapeSource } from '../cloudevents/shape.ts';
import { STAGES } from '../cloudevents/stages.ts';
import type { Logger } from '../telemetry/logger.ts';
import { blamePair, SerialJobs } from './jobQueue.ts';
import {
  CURSOR,
  CURSOR_SLOTS,
  type FromThread,
  type PairOutcome,
  type PoolJob,
  type PoolResult,
  type ToThread,
} from './protocol.ts';

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './expressionWorker.ts' : './expressionWorker.js',
  import.meta.url,
);

export interface ExpressionThreadOptions {
  /** Heap of the thread (MiB). */
  memoryMb: number;
  /** The expressions of each configuration version, as jobs name them. */
  sourcesOf: (version: string) => ShapeSource[];
  logger: Logger;
  /** How often the pair under way is looked at while a job runs (ms; default 10). */
  watchEveryMs?: number;
}

/** Why a thread ended under a job. */
type Ending = { pair: number; stage: number; code: ShapeFailureCode; why: string };

type Attempt = { done: PoolResult } | { ended: Ending | undefined };

interface Running {
  job: number;
  /** The thread the job was given to. */
  worker: Worker;
  /** The cursor's pair counter when the job was posted: a pair of it started once this moved. */
  seqAtStart: number;
  /** The destination of each pair of the job being attempted, and their CPU budgets. */
  budgetOf: (pair: number) => number;
  resolve: (a: Attempt) => void;
  /** The thread's CPU time (ms) when the pair under way (`seq`) had run its budget in wall time. */
  mark?: { seq: number; cpuMs: number };
  looking: boolean;
  ending?: Ending;
}

const now = () => performance.timeOrigin + performance.now();
const cpuOf = (u: { user: number; system: number }) => (u.user + u.system) / 1000;

export class ExpressionThread {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private configured = new Set<string>();
  private readonly cursorBuffer = new SharedArrayBuffer(4 * CURSOR_SLOTS);
  private readonly cursor = new Int32Array(this.cursorBuffer);
  private readonly wallBuffer = new SharedArrayBuffer(8);
  private readonly wall = new Float64Array(this.wallBuffer);
  private readonly jobQueue = new SerialJobs();
  private running: Running | undefined;
  private lastError: (Error & { code?: string }) | undefined;
  private jobs = 0;
  private closed = false;
  /** Per version, destinations whose pairs are not evaluated here any more (see `defer`). */
  private readonly deferred = new Map<string, Set<number>>();
  private readonly options: ExpressionThreadOptions;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: ExpressionThreadOptions) {
    this.options = options;
  }

  /** Jobs queued or running on this thread. */
  get load(): number {
    return this.jobQueue.load;
  }

  /** Runs a job after the ones queued before it. */
  run(job: PoolJob): Promise<PoolResult> {
    return this.jobQueue.run(job, (j) => this.evaluate(j));
  }

  private async evaluate(job: PoolJob): Promise<PoolResult> {
    const count = job.pairs.length / 2;
    const results: PairOutcome[] = new Array(count);
    const spentMs: number[] = [];
    const sources = this.options.sourcesOf(job.version);
    const destOf = (k: number) => job.pairs[2 * k + 1] as number;
    const deferred = this.deferred.get(job.version);
    let remaining = Array.from({ length: count }, (_, k) => k);
    if (deferred) {
      for (const k of remaining) if (deferred.has(destOf(k))) results[k] = { kind: 'deferred' };
      remaining = remaining.filter((k) => !deferred.has(destOf(k)));
    }
    // Deaths before any pair of the job started: not a pair's doing (tried again), unless they repeat.
    let unattributed = 0;
    while (remaining.length > 0) {
      if (this.closed) throw new Error('the expression threads were closed');
      const pairs = remaining.flatMap((k) => [job.pairs[2 * k] as number, destOf(k)]);
      const attempt = await this.attempt({ version: job.version, events: job.events, pairs }, (p) => {
        const d = destOf(remaining[p] as number);
        return sources[d]?.limits.cpuMs ?? 100;
      });
      if ('done' in attempt) {
        attempt.done.results.forEach((r, i) => {
          results[remaining[i] as number] = r;
        });
        attempt.done.spentMs.forEach((ms, d) => {
          spentMs[d] = (spentMs[d] ?? 0) + ms;
        });
        break;
      }
      // The thread ended under the job: the pair under way is its destination's failure; that
      // destination's other pairs are deferred. Before any pair started, the job is tried again
      // (twice); then its first pair takes the blame, so that the job always moves on.
      if (!attempt.ended && unattributed < 2) {
        unattributed += 1;
        continue;
      }
      const ended = attempt.ended ?? {
        pair: 0,
        stage: 0,
        code: 'THREAD_DIED',
        why: 'the expression thread ended before evaluating anything',
      };
      const k = remaining[ended.pair] ?? (remaining[0] as number);
      remaining = blamePair({ results, spentMs, remaining, destOf }, k, {
        kind: 'fail',
        code: ended.code,
        error: failureText(ended, sources[destOf(k)], this.options.memoryMb),
      });
    }
    return { results, spentMs };
  }

  /** One try at a job on the current thread (started when there is none). */
  private async attempt(job: PoolJob, budgetOf: (pair: number) => number): Promise<Attempt> {
    await this.ensureStarted();
    const worker = this.worker as Worker;
    if (!this.configured.has(job.version)) {
      this.post({ kind: 'configure', version: job.version, sources: this.options.sourcesOf(job.version) });
      this.configured.add(job.version);
    }
    this.jobs += 1;
    const id = this.jobs;
    return new Promise<Attempt>((resolve) => {
      this.running = {
        job: id,
        worker,
        seqAtStart: Atomics.load(this.cursor, CURSOR.seq),
        budgetOf,
        resolve,
        looking: false,
      };
      this.watch();
      worker.postMessage({ kind: 'job', job: id, ...job } satisfies ToThread);
    });
  }

  private post(message: ToThread): void {
    this.worker?.postMessage(message);
  }

  /** This destination's pairs in jobs not started yet come back deferred (it has a lane of its own now). */
  defer(version: string, destination: number): void {
    const set = this.deferred.get(version) ?? new Set<number>();
    set.add(destination);
    this.deferred.set(version, set);
  }

  forget(version: string): void {
    this.deferred.delete(version);
    if (!this.configured.delete(version)) return;
    this.post({ kind: 'forget', version });
  }

  private ensureStarted(): Promise<void> {
    if (this.worker && this.ready) return this.ready;
    Atomics.store(this.cursor, CURSOR.running, 0);
    const young = Math.max(4, Math.min(16, Math.floor(this.options.memoryMb / 16)));
    const worker = new Worker(WORKER_URL, {
      workerData: { cursor: this.cursorBuffer, wall: this.wallBuffer },
      resourceLimits: {
        maxOldGenerationSizeMb: this.options.memoryMb,
        maxYoungGenerationSizeMb: young,
        stackSizeMb: 4,
      },
      stdout: false,
      stderr: false,
    });
    this.worker = worker;
    this.configured = new Set();
    this.lastError = undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromThread) => {
        if (m.kind === 'ready') resolve();
        else this.onMessage(m);
      };
      worker.on('message', onMessage);
      worker.on('error', (err) => {
        this.lastError = err;
      });
      worker.once('exit', (code) => {
        reject(this.lastError ?? new Error(`expression thread exited (${code}) before it was ready`));
        this.onExit(worker, code);
      });
    });
    // Not a process-level failure: a start that fails is awaited by the job that wanted it.
    this.ready.catch(() => {});
    return this.ready;
  }

  private onMessage(m: FromThread): void {
    const r = this.running;
    if (!r || m.kind === 'ready' || m.job !== r.job) return;
    if (m.kind === 'done') {
      this.running = undefined;
      r.resolve({ done: { results: m.results, spentMs: m.spentMs } });
      return;
    }
    // The thread's own failure under this job: end it, blaming the pair under way.
    this.end(r, { code: 'THREAD_DIED', why: m.message.split('\n')[0] ?? 'error' });
  }

  private onExit(worker: Worker, code: number): void {
    if (this.worker === worker) {
      this.worker = undefined;
      this.ready = undefined;
    }
    const r = this.running;
    if (!r || r.worker !== worker) return;
    this.running = undefined;
    if (r.ending) {
      r.resolve({ ended: r.ending });
      return;
    }
    const started = Atomics.load(this.cursor, CURSOR.seq) !== r.seqAtStart;
    const pair = Atomics.load(this.cursor, CURSOR.pair);
    const stage = Atomics.load(this.cursor, CURSOR.stage);
    const oom = this.lastError?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const why = this.lastError ? this.lastError.message : `exit code ${code}`;
    if (!this.closed)
      this.options.logger.warn(
        { code, err: this.lastError?.message, errCode: this.lastError?.code, started, pair, stage },
        started
          ? 'expression thread ended under a job: the pair under way fails, the rest is evaluated again'
          : 'expression thread ended before a pair of its job started: trying the job again',
      );
    r.resolve({
      ended: started ? { pair, stage, code: oom ? 'MEMORY_LIMIT' : 'THREAD_DIED', why } : undefined,
    });
  }

  /** Ends the thread for the pair under way. */
  private end(r: Running, why: { code: ShapeFailureCode; why: string }): void {
    if (r.ending) return;
    r.ending = {
      pair: Atomics.load(this.cursor, CURSOR.pair),
      stage: Atomics.load(this.cursor, CURSOR.stage),
      ...why,
    };
    // No later job goes to the thread being ended (its answer to this one may still come first).
    if (this.worker === r.worker) {
      this.worker = undefined;
      this.ready = undefined;
    }
    void r.worker.terminate();
  }

  /** Looks at the pair under way every few ms while a job runs. */
  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.look()) return;
      clearInterval(this.timer);
      this.timer = undefined;
    }, this.options.watchEveryMs ?? 10);
    this.timer.unref();
  }

  /** The watchdog's look; false when no job runs. */
  private look(): boolean {
    const r = this.running;
    if (!r) return false;
    const worker = r.worker;
    if (r.ending || r.looking || Atomics.load(this.cursor, CURSOR.running) !== 1) return true;
    const seq = Atomics.load(this.cursor, CURSOR.seq);
    const pair = Atomics.load(this.cursor, CURSOR.pair);
    const budget = r.budgetOf(pair);
    if (now() - (this.wall[0] as number) < budget) return true;
    r.looking = true;
    worker
      .cpuUsage()
      .then((usage) => {
        if (this.running !== r || Atomics.load(this.cursor, CURSOR.seq) !== seq) return;
        if (r.mark?.seq !== seq) r.mark = { seq, cpuMs: cpuOf(usage) };
        else if (cpuOf(usage) - r.mark.cpuMs >= budget)
          this.end(r, { code: 'CPU_LIMIT', why: 'one step ran past the budget' });
      })
      .catch(() => {})
      .finally(() => {
        r.looking = false;
      });
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const r = this.running;
    const worker = this.worker;
    this.running = undefined;
    r?.resolve({ ended: { pair: 0, stage: 0, code: 'THREAD_DIED', why: 'closed' } });
    await worker?.terminate();
  }
}

function failureText(ended: Ending, source: ShapeSource | undefined, memoryMb: number): string {
  const stage = STAGES[ended.stage] ?? 'expression';
  switch (ended.code) {
    case 'CPU_LIMIT':
      return `cpu limit: the ${stage} used more than the destination's ${source?.limits.cpuMs ?? '?'} ms of CPU time for this event in one step (expressionLimits.cpuMs); its thread was ended`;
    case 'MEMORY_LIMIT':
      return `memory limit: the ${stage} needed more than the expression thread's ${memoryMb} MiB heap (router.expressionMemoryMb); its thread was ended`;
    default:
      return `the expression thread died evaluating the ${stage}: ${ended.why}`;
  }
}
