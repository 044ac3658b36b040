// The process logger: pino, one child per component, secrets redacted wherever they might hide.
import { type DestinationStream, type Logger, pino } from 'pino';

/** Field paths whose values never reach a log line (signing secrets, auth headers, signatures). */
export const REDACT_PATHS = [
  'secret',
  'secrets',
  'signature',
  'authorization',
  'headers',
  'requestHeaders',
  '*.secret',
  '*.secrets',
  '*.signature',
  '*.authorization',
  '*.headers',
  '*.requestHeaders',
  '*["webhook-signature"]',
  'request.webhookSignature',
  'destinations[*].secrets',
  'destinations[*].headers',
  'config.destinations[*].secrets',
  'config.destinations[*].headers',
  // Destination credentials: the whole auth block, and its secret fields wherever they go.
  'auth',
  'clientSecret',
  'client_secret',
  'password',
  'accessToken',
  'access_token',
  'privateKey',
  '*.auth',
  '*.clientSecret',
  '*.client_secret',
  '*.password',
  '*.accessToken',
  '*.access_token',
  '*.privateKey',
  'tls.key',
  '*.tls.key',
  'destinations[*].auth',
  'config.destinations[*].auth',
];

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'courier',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

export type { Logger };
