// Runs the `courier` command line (src/cli/main.ts) as a child process with a config file.
import { execFile } from 'node:child_process';
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

export function courierCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', CLI, ...args],
      { env: { ...process.env, LOG_LEVEL: 'warn', ...options.env }, timeout: options.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
