// Keeps one known, harmless Node warning out of the command line's stderr, so that `courier`
// runs with plain `node` (no --disable-warning flag in the shebang): kafkajs schedules timers
// with negative delays, which Node 24 runs after 1 ms and reports as TimeoutNegativeWarning.
// Imported first by cli.ts; the library itself never patches the host process.
const emitWarning = process.emitWarning.bind(process);

process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const option = rest[0];
  const type = typeof option === 'string' ? option : (option as { type?: string } | undefined)?.type;
  const name = warning instanceof Error ? warning.name : type;
  if (name === 'TimeoutNegativeWarning') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
