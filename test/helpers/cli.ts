// Runs the `courier` command line (src/cli/main.ts) as a child process with a config file.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { CourierConfig } from '../../src/config/schema.ts';

export const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export function writeConfig(config: CourierConfig | Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'courier-test-'));
  const path = join(dir, 'courier.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

export function courierCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; input?: string } = {},
) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', CLI, ...args],
      {
        env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 256 * 1024 * 1024,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // Standard input: what the test gives, else nothing (a command that reads it gets EOF).
    child.stdin?.end(options.input ?? '');
  });
}

/** One pino line of a `courier run`'s stderr. */
export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  [field: string]: unknown;
}

/** `courier run` processes started by a test; `killAll` ends any still running (call it in `after`). */
export class CourierProcesses {
  private readonly children = new Set<ChildProcess>();

  /**
   * Starts `courier run` with the config file; its stderr (errors only) goes to the test's stderr.
   * One worker process unless `args` say otherwise, so that a signal reaches the process that
   * delivers.
   */
  start(
    configPath: string,
    args: string[] = [],
    options: { logLevel?: string; logs?: LogLine[]; env?: NodeJS.ProcessEnv } = {},
  ): ChildProcess {
    const workers = args.includes('--workers') ? [] : ['--workers', '1'];
    const logs = options.logs;
    const child = spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', CLI, 'run', '--config', configPath, ...workers, ...args],
      {
        stdio: ['ignore', 'ignore', logs ? 'pipe' : 'inherit'],
        env: { ...process.env, LOG_LEVEL: options.logLevel ?? 'error', ...options.env },
      },
    );
    if (logs && child.stderr) {
      // Every JSON log line, parsed; anything else (a crash's stack) goes to the test's stderr.
      let rest = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          try {
            logs.push(JSON.parse(line) as LogLine);
          } catch {
            process.stderr.write(`${line}\n`);
          }
        }
      });
    }
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Sends the signal and waits for the process to exit; a graceful stop has `graceMs` to finish. */
  async stop(child: ChildProcess, signal: 'SIGKILL' | 'SIGTERM', graceMs = 60_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      child.kill('SIGKILL');
      throw new Error(`courier run (pid ${child.pid}) did not exit within ${graceMs} ms of ${signal}`);
    }
  }

  /** How many started processes are still running. */
  alive(): number {
    return this.children.size;
  }

  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}
