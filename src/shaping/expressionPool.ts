// The expression hosts: child processes (expressionHost.ts), each evaluating jobs on one expression
// thread, one job at a time in FIFO order. Host 0 takes the shared lane's jobs, the others the
// jobs of destinations in lanes of their own (the least loaded one).
//
// Within a host, a pair past its CPU budget or out of heap ends that host's thread and is named in
// the job's results. A host that dies under a job (an allocation V8 could not contain aborts the
// whole host) cannot say which pair killed it: its job is evaluated again one pair per job on a
// new host, so the next death names the pair — that destination's failure (`MEMORY_LIMIT` when
// the host aborted, `THREAD_DIED` otherwise), its other pairs deferred — and the rest goes on.
// Courier's own process never runs an operator's expression.
import { type ChildProcess, fork } from 'node:child_process';
import type { ShapeFailureCode, ShapeSource } from '../cloudevents/shape.ts';
import type { Logger } from '../telemetry/logger.ts';
import { blamePair, SerialJobs } from './jobQueue.ts';
import type { FromHost, PairOutcome, PoolJob, PoolResult, ToHost } from './protocol.ts';

const HOST_PATH = new URL(
  import.meta.url.endsWith('.ts') ? './expressionHost.ts' : './expressionHost.js',
  import.meta.url,
).pathname;

export interface ExpressionPoolOptions {
  /** Hosts in all, at least 2: the shared lane's and at least one for lanes of their own. */
  hosts: number;
  /** Heap of each host's expression thread (MiB). */
  memoryMb: number;
  logger: Logger;
}

type Attempt = { done: PoolResult } | { died: { code: number | null; signal: string | null; why: string } };

class ExpressionHost {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private configured = new Set<string>();
  private readonly jobQueue = new SerialJobs();
  private jobs = 0;
  private running: { job: number; resolve: (a: Attempt) => void } | undefined;
  private closed = false;
  /** Destinations deferred here, said again to a replaced host. */
  private deferred: Array<{ version: string; destination: number }> = [];
  /** The last lines the host wrote that were not log lines (V8's report of a fatal error). */
  private tail: string[] = [];
  private readonly pool: ExpressionPool;
  readonly index: number;

  constructor(pool: ExpressionPool, index: number) {
    this.pool = pool;
    this.index = index;
  }

  /** Jobs queued or running on this host. */
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
    const destOf = (k: number) => job.pairs[2 * k + 1] as number;
    let remaining = Array.from({ length: count }, (_, k) => k);
    // After a death nobody could put down to a pair: one pair per job until the next death.
    let onePairAtATime = false;
    while (remaining.length > 0) {
      if (this.closed) throw new Error('the expression hosts were closed');
      const taken = onePairAtATime ? remaining.slice(0, 1) : remaining;
      const attempt = await this.attempt({
        version: job.version,
        events: job.events,
        pairs: taken.flatMap((k) => [job.pairs[2 * k] as number, destOf(k)]),
      });
      if ('done' in attempt) {
        attempt.done.results.forEach((r, i) => {
          results[taken[i] as number] = r;
        });
        attempt.done.spentMs.forEach((ms, d) => {
          if (ms !== null && ms !== undefined) spentMs[d] = (spentMs[d] ?? 0) + ms;
        });
        const handled = new Set(taken);
        remaining = remaining.filter((k) => !handled.has(k));
        continue;
      }
      if (taken.length > 1) {
        this.pool.log.warn(
          { host: this.index, pairs: taken.length, why: attempt.died.why },
          'expression host died under a job: evaluating it again one pair at a time to find which',
        );
        onePairAtATime = true;
        continue;
      }
      const k = taken[0] as number;
      const aborted = attempt.died.signal === 'SIGABRT' || attempt.died.code === 134;
      const code: ShapeFailureCode = aborted ? 'MEMORY_LIMIT' : 'THREAD_DIED';
      const source = this.pool.sourcesOf(job.version)[destOf(k)];
      remaining = blamePair({ results, spentMs, remaining, destOf }, k, {
        kind: 'fail',
        code,
        error: aborted
          ? `memory limit: the expressions of ${source?.id ?? 'this destination'} allocated more than their host could hold (router.expressionMemoryMb ${this.pool.memoryMb} MiB; ${attempt.died.why}); the host was replaced`
          : `the expression host died evaluating it (${attempt.died.why}); it was replaced`,
      });
      onePairAtATime = false;
    }
    return { results, spentMs };
  }

  private async attempt(job: PoolJob): Promise<Attempt> {
    await this.ensureStarted();
    const child = this.child as ChildProcess;
    if (!this.configured.has(job.version)) {
      this.send({ kind: 'configure', version: job.version, sources: this.pool.sourcesOf(job.version) });
      this.configured.add(job.version);
      for (const d of this.deferred) if (d.version === job.version) this.send({ kind: 'defer', ...d });
    }
    this.jobs += 1;
    const id = this.jobs;
    return new Promise<Attempt>((resolve) => {
      this.running = { job: id, resolve };
      if (!child.connected) return; // it died meanwhile: its exit resolves this
      this.send({ kind: 'job', job: id, ...job });
    });
  }

  private send(message: ToHost): void {
    try {
      this.child?.send(message);
    } catch {
      // The host died meanwhile: its exit says so to the job waiting on it.
    }
  }

  forget(version: string): void {
    this.deferred = this.deferred.filter((d) => d.version !== version);
    if (!this.configured.delete(version)) return;
    this.send({ kind: 'forget', version });
  }

  defer(version: string, destination: number): void {
    this.deferred.push({ version, destination });
    this.send({ kind: 'defer', version, destination });
  }

  /** Starts the host when it is not running (at once on `start()`, else on the first job). */
  ensureStarted(): Promise<void> {
    if (this.child && this.ready) return this.ready;
    const child = fork(HOST_PATH, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, COURIER_EXPRESSION_MEMORY_MB: String(this.pool.memoryMb) },
      execArgv: ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=2'],
    });
    this.child = child;
    this.configured = new Set();
    this.tail = [];
    let rest = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('{')) process.stderr.write(`${line}\n`);
        else if (/FATAL ERROR|Error/.test(line)) this.tail = [...this.tail.slice(-4), line.trim()];
      }
    });
    this.ready = new Promise<void>((resolve, reject) => {
      child.on('message', (m: FromHost) => {
        if (m.kind === 'ready') resolve();
        else this.onMessage(m);
      });
      child.once('exit', (code, signal) => {
        reject(new Error(`expression host exited (${signal ?? code}) before it was ready`));
        this.onExit(child, code, signal);
      });
      child.on('error', () => {
        // Reported through its exit.
      });
    });
    this.ready.catch(() => {});
    return this.ready;
  }

  private onMessage(m: FromHost): void {
    const r = this.running;
    if (!r || m.kind === 'ready' || m.job !== r.job) return;
    this.running = undefined;
    if (m.kind === 'done') r.resolve({ done: m.result });
    // The host could not run the job at all (not an expression's doing): a death of sorts.
    else r.resolve({ died: { code: null, signal: null, why: m.message } });
  }

  private onExit(child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = undefined;
    const r = this.running;
    this.running = undefined;
    const fatal = this.tail.find((l) => l.startsWith('FATAL ERROR')) ?? this.tail.at(-1);
    this.tail = [];
    const why = `${signal ?? `exit code ${code}`}${fatal ? `: ${fatal}` : ''}`;
    if (!this.closed) this.pool.log.warn({ host: this.index, code, signal, why }, 'expression host ended');
    r?.resolve({ died: { code, signal, why } });
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    this.running?.resolve({ died: { code: null, signal: null, why: 'closed' } });
    this.running = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

export class ExpressionPool {
  private readonly hosts: ExpressionHost[];
  private readonly versions = new Map<string, ShapeSource[]>();
  readonly memoryMb: number;
  readonly log: Logger;

  constructor(options: ExpressionPoolOptions) {
    if (options.hosts < 2) throw new Error('the expression pool needs at least 2 hosts');
    this.memoryMb = options.memoryMb;
    this.log = options.logger.child({ component: 'expressions' });
    this.hosts = Array.from({ length: options.hosts }, (_, i) => new ExpressionHost(this, i));
  }

  /** Starts every host now (rather than at its first job); resolves once they are ready. */
  async start(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.ensureStarted()));
  }

  /** The expressions of a configuration version (indexed as jobs name destinations). */
  configure(version: string, sources: ShapeSource[]): void {
    this.versions.set(version, sources);
  }

  /** A version no job will name any more. */
  forget(version: string): void {
    this.versions.delete(version);
    for (const h of this.hosts) h.forget(version);
  }

  /** The shared lane's host leaves this destination's pairs of jobs not started yet unevaluated. */
  defer(version: string, destination: number): void {
    this.hosts[0]?.defer(version, destination);
  }

  sourcesOf(version: string): ShapeSource[] {
    const sources = this.versions.get(version);
    if (!sources) throw new Error(`expression version ${version} is not configured`);
    return sources;
  }

  /** Evaluates a job: on the shared lane's host, or the least loaded of the others. */
  run(lane: 'shared' | 'own', job: PoolJob): Promise<PoolResult> {
    const host =
      lane === 'shared'
        ? (this.hosts[0] as ExpressionHost)
        : this.hosts.slice(1).reduce((a, b) => (b.load < a.load ? b : a));
    return host.run(job);
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.close()));
  }
}
