// The processes the benchmark starts, and what /proc says about them: CPU time and memory of a
// process together with all its descendants (cluster workers included). Every child is started
// in its own process group and every group is killed at the end, even on failure.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // /proc's unit is 100 Hz on every Linux we target.
}

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

const children = new Set<Child>();

export interface StartOptions {
  name: string;
  args: string[];
  log: string;
  env?: NodeJS.ProcessEnv;
  ipc?: boolean;
}

/** Starts `node <args>` (this very Node binary) in its own process group, output to a log file. */
export function startNode(options: StartOptions): Child {
  const fd = openSync(options.log, 'a');
  const proc = spawn(process.execPath, options.args, {
    detached: true,
    stdio: ['ignore', fd, fd, ...(options.ipc ? (['ipc'] as const) : [])],
    env: { ...process.env, ...options.env },
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`could not start ${options.name}`);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    proc.once('error', () => resolve(-1));
  });
  const child: Child = { name: options.name, pid: proc.pid, proc, log: options.log, exited };
  children.add(child);
  exited.then(() => children.delete(child));
  return child;
}

/** Runs a command to completion (e.g. `courier topics`); throws with its log on failure. */
export async function runNode(options: StartOptions & { timeoutMs?: number }): Promise<void> {
  const child = startNode(options);
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.timeoutMs ?? 60_000);
  const code = await child.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${options.name} exited with ${code}; see ${options.log}`);
}

function killGroup(child: Child, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM to the child itself (a supervisor forwards it to its workers, as it would for an
 * operator), then SIGKILL to its whole process group after `graceMs` or once it has exited, so
 * nothing it started outlives it.
 */
export async function stop(child: Child, graceMs = 10_000): Promise<void> {
  if (!children.has(child)) {
    killGroup(child, 'SIGKILL'); // the leader is gone; make sure its group is too
    return;
  }
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    // exiting already
  }
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
  killGroup(child, 'SIGKILL');
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, 5_000)));
}

/** Last resort, synchronous (process 'exit'): kill every group still known. */
export function killAllNow(): void {
  for (const c of children) killGroup(c, 'SIGKILL');
}

/** The pid and every live descendant (walks /proc/<pid>/task/<tid>/children). */
export function processTree(root: number): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    out.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) queue.push(Number(k));
      } catch {
        // thread ended
      }
    }
  }
  return out;
}

function statFields(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU milliseconds used by a process tree: user + system of every live process, plus what its
 * reaped children used (cutime + cstime), so a worker that exited still counts.
 */
export function treeCpuMs(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (!f) continue;
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return (ticks * 1000) / ticksPerSecond;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface MemorySample {
  /** Sum of VmRSS over the tree, MiB. */
  totalMiB: number;
  /** Largest single process, MiB. */
  maxProcessMiB: number;
  processes: number;
}

export function treeRss(root: number): MemorySample {
  const pids = processTree(root);
  const rss = pids.map((p) => statusKiB(p, 'VmRSS') / 1024);
  return {
    totalMiB: rss.reduce((a, b) => a + b, 0),
    maxProcessMiB: rss.reduce((a, b) => Math.max(a, b), 0),
    processes: rss.filter((r) => r > 0).length,
  };
}

/** Sum of each process's high-water mark (VmHWM), MiB: an upper bound of the tree's peak. */
export function treeHwmMiB(root: number): number {
  return processTree(root).reduce((a, p) => a + statusKiB(p, 'VmHWM') / 1024, 0);
}

/** Samples a tree's RSS every `intervalMs` and keeps the peaks until stopped. */
export class RssSampler {
  peakTotalMiB = 0;
  peakProcessMiB = 0;
  maxProcesses = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly roots: () => number[];

  constructor(roots: () => number[], intervalMs = 200) {
    this.roots = roots;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  sample(): void {
    let total = 0;
    let processes = 0;
    for (const root of this.roots()) {
      const s = treeRss(root);
      total += s.totalMiB;
      processes += s.processes;
      this.peakProcessMiB = Math.max(this.peakProcessMiB, s.maxProcessMiB);
    }
    this.peakTotalMiB = Math.max(this.peakTotalMiB, total);
    this.maxProcesses = Math.max(this.maxProcesses, processes);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Whether a child started here is still running. */
export function isRunning(child: Child): boolean {
  return children.has(child);
}

/** Socket inodes held open by a process tree (its /proc/<pid>/fd links `socket:[inode]`). */
function treeSocketInodes(root: number): Set<string> {
  const inodes = new Set<string>();
  for (const pid of processTree(root)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1] as string);
      } catch {
        // closed meanwhile
      }
    }
  }
  return inodes;
}

/** Established TCP connections of a process tree to a remote port (e.g. the brokers' 9092). */
export function treeConnectionsTo(root: number, remotePort: number): number {
  const inodes = treeSocketInodes(root);
  const hexPort = remotePort.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[] = [];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; st 01 = ESTABLISHED
      if (f.length < 10 || f[3] !== '01' || !f[2]?.endsWith(`:${hexPort}`)) continue;
      if (inodes.has(f[9] as string)) count += 1;
    }
  }
  return count;
}
