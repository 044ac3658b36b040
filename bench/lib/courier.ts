// What the benches run of Courier and read back from it, written once: the CLI's argument lists
// and a metric's value in /metrics' text.

/** Courier's CLI, from the source tree. */
export const COURIER_CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/**
 * `node` arguments for `courier run --config <path>`: extra Node flags first (a profile, heap
 * sizes), then the run's own arguments (`--workers 1` unless given).
 */
export function courierRunArgs(
  configPath: string,
  options: { nodeArgs?: readonly string[]; args?: readonly string[] } = {},
): string[] {
  return [
    ...(options.nodeArgs ?? []),
    '--disable-warning=TimeoutNegativeWarning',
    COURIER_CLI,
    'run',
    '--config',
    configPath,
    ...(options.args ?? ['--workers', '1']),
  ];
}

/** `node` arguments for `courier topics --config <path>` (creates or checks every topic). */
export function courierTopicsArgs(configPath: string): string[] {
  return [COURIER_CLI, 'topics', '--config', configPath];
}

/** A metric's value in Prometheus' text format (its first series, labels or not); NaN if absent. */
export function metricValue(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}
