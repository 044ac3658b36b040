// `courier replay`: re-sends a destination's dead letters (or delivered events), paced, after a
// readiness check.
import type { CourierConfig } from '../../config/schema.ts';
import { replay, runReplay } from '../../dlq/replay.ts';
import { UsageError } from '../../errors.ts';
import type { Flags } from '../args.ts';
import { type CommandContext, destinationOf, isoTime, oneOf, positiveInt, printJson } from '../flags.ts';

/** The parsed flags of `courier replay`, checked before anything connects. */
export function replayOptions(config: CourierConfig, flags: Flags) {
  const from = isoTime(flags, 'from');
  const to = isoTime(flags, 'to');
  if (from !== undefined && to !== undefined && Date.parse(to) <= Date.parse(from)) {
    throw new UsageError('--to must be after --from');
  }
  return {
    destination: destinationOf(config, flags, 'replay'),
    from,
    to,
    rate: positiveInt(flags, 'rate', 10),
    dryRun: flags['dry-run'] === true,
    source: oneOf(flags, 'source', ['dlq', 'delivered'], 'dlq'),
  };
}

export async function replayCommand(ctx: CommandContext): Promise<number> {
  const { from, to, ...o } = replayOptions(ctx.config, ctx.flags);
  const options = {
    config: ctx.config,
    logger: ctx.logger,
    ...o,
    // Without --from, replay continues from the replay group's committed offsets.
    from: from as string,
    ...(to !== undefined ? { to } : {}),
  };
  if (!ctx.json) return replay({ ...options, print: (line) => console.log(line) });
  const lines: string[] = [];
  const summary = await runReplay({ ...options, print: (line) => lines.push(line) });
  printJson({ destination: o.destination, source: o.source, dryRun: o.dryRun, ...summary, messages: lines });
  return 0;
}
