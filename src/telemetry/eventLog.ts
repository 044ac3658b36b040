// Log lines that follow pipeline events the stages emit (the stages themselves only emit).
import type { PipelineEmitter } from './events.ts';
import type { Logger } from './logger.ts';

export function logPipelineEvents(events: PipelineEmitter, logger: Logger): void {
  events.on('timeout-adapted', ({ destination, timeoutMs, fromMs, p99Ms, p999Ms, cause }) => {
    logger.info(
      { destination, from: fromMs, to: timeoutMs, p99Ms, p999Ms, cause },
      `timeout of ${destination} adapted from ${fromMs} to ${timeoutMs} ms (p99 ${p99Ms} ms, p99.9 ${p999Ms} ms)`,
    );
  });
}
