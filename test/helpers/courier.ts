// Runs Courier in the test process (the same CourierApp `courier run` uses) and collects its
// pipeline events.
import { CourierApp, type Role } from '../../src/app.ts';
import type { CourierConfig } from '../../src/config/schema.ts';
import type { AttemptRecord, PipelineEmitter } from '../../src/telemetry/events.ts';
import { createLogger, type Logger } from '../../src/telemetry/logger.ts';
import { testLogger } from './stack.ts';

export interface RunningCourier {
  app: CourierApp;
  attempts: AttemptRecord[];
  invalid: Array<{ reason: string; message: string }>;
  stop(): Promise<void>;
}

export async function startCourier(
  config: CourierConfig,
  options: {
    roles?: Role[];
    sessionTimeoutMs?: number;
    logger?: Logger;
    credentialCheckMs?: number;
    events?: PipelineEmitter;
    routerCommitIntervalMs?: number;
    stateCheckMs?: number;
  } = {},
): Promise<RunningCourier> {
  const app = new CourierApp(
    {
      config,
      logger: options.logger ?? testLogger(),
      ...(options.events ? { events: options.events } : {}),
      ...(options.roles ? { roles: options.roles } : {}),
    },
    {
      sessionTimeoutMs: options.sessionTimeoutMs ?? 6000,
      pausePollMs: 100,
      ...(options.credentialCheckMs ? { credentialCheckMs: options.credentialCheckMs } : {}),
      ...(options.routerCommitIntervalMs ? { routerCommitIntervalMs: options.routerCommitIntervalMs } : {}),
      ...(options.stateCheckMs ? { stateCheckMs: options.stateCheckMs } : {}),
    },
  );
  const attempts: AttemptRecord[] = [];
  const invalid: Array<{ reason: string; message: string }> = [];
  app.events.on('attempt', (a) => attempts.push(a));
  app.events.on('invalid', (i) => invalid.push(i));
  await app.start();
  let stopped = false;
  return {
    app,
    attempts,
    invalid,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await app.stop();
    },
  };
}

/** A logger at debug level that keeps every line it writes (pino's JSON), for tests that read logs. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: {
      write: (line: string) => {
        lines.push(line);
      },
    },
  });
  return { logger, lines };
}
