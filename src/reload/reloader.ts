// Reloading the configuration file into a running Courier: load and validate it completely (a
// file with any problem changes nothing), diff it against the running configuration, refuse it
// whole when a field only a restart can change differs, and otherwise hand the diff to the
// target (the app, or a supervisor's workers) to apply. One reload at a time; triggers that
// arrive during one (SIGHUP, the file watcher, POST /-/reload) are folded into one more after it.
import { type ConfigDiff, configVersion, diffConfigs } from '../config/diff.ts';
import { loadConfig } from '../config/load.ts';
import type { CourierConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';

export type ReloadResult =
  | {
      ok: true;
      trigger: string;
      /** The configuration version now running. */
      version: string;
      /** Per destination, what changed (empty when the file changed nothing). */
      diff: Pick<ConfigDiff, 'added' | 'removed' | 'changed' | 'live'>;
    }
  | {
      ok: false;
      trigger: string;
      /** `invalid`: the file has problems · `refused`: it changes restart-only fields · `failed`: applying it failed. */
      reason: 'invalid' | 'refused' | 'failed';
      problems: string[];
      /** The configuration version still running. */
      version: string;
    };

/** What a reload is applied to. */
export interface ReloadTarget {
  /** The configuration running now. */
  readonly config: CourierConfig;
  /** Applies a validated, live-applicable diff; throws when it could not. */
  apply(next: CourierConfig, diff: ConfigDiff): Promise<void>;
}

export interface ReloaderOptions {
  path: string;
  target: ReloadTarget;
  logger: Logger;
  /** Where `config-applied` and `config-rejected` are emitted (the reload metrics). */
  events?: PipelineEmitter;
  load?: (path: string) => CourierConfig;
}

/** One summary line of what a diff does, e.g. `added billing; changed crm (url, secrets)`. */
export function describeDiff(diff: Pick<ConfigDiff, 'added' | 'removed' | 'changed' | 'live'>): string {
  const parts = [
    ...(diff.added.length > 0 ? [`added ${diff.added.join(', ')}`] : []),
    ...(diff.removed.length > 0 ? [`removed ${diff.removed.join(', ')}`] : []),
    ...diff.changed.map(
      (c) => `changed ${c.id} (${c.fields.join(', ')}${c.inPlace ? '' : '; its actor is rebuilt'})`,
    ),
    ...(diff.live.length > 0 ? [`changed ${diff.live.join(', ')}`] : []),
  ];
  return parts.length > 0 ? parts.join('; ') : 'nothing changed';
}

export class Reloader {
  private readonly options: ReloaderOptions;
  private readonly log: Logger;
  private running: Promise<ReloadResult> | undefined;
  private queued: Promise<ReloadResult> | undefined;
  /** The configuration the queued reload applies, when its caller supplied one. */
  private queuedConfig: CourierConfig | undefined;

  constructor(options: ReloaderOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'reload' });
  }

  /**
   * Reloads the file. A call while a reload runs waits for it and then reloads once more (every
   * caller meanwhile shares that one): the file may have changed again since the first began.
   */
  reload(trigger: string, supplied?: CourierConfig): Promise<ReloadResult> {
    if (!this.running) {
      this.running = this.once(trigger, supplied).finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queuedConfig = supplied;
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      const next = this.queuedConfig;
      this.queuedConfig = undefined;
      return this.reload(trigger, next);
    });
    return this.queued;
  }

  /**
   * One reload: of the file, or of a configuration already loaded and validated from it (what a
   * supervisor hands its workers, so that every worker applies the same one).
   */
  private async once(trigger: string, supplied?: CourierConfig): Promise<ReloadResult> {
    const { target } = this.options;
    const version = configVersion(target.config);
    const rejected = (reason: 'invalid' | 'refused' | 'failed', problems: string[], message: string) => {
      this.log.error({ trigger, reason, problems, version }, message);
      this.options.events?.emit('config-rejected', { problems });
      return { ok: false as const, trigger, reason, problems, version };
    };
    let next: CourierConfig;
    try {
      next = supplied ?? (this.options.load ?? ((path) => loadConfig({ path })))(this.options.path);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String((err as Error).message ?? err)];
      return rejected(
        'invalid',
        problems,
        `configuration reload failed: ${this.options.path} has ${problems.length} problem(s); the running configuration stays:\n  ${problems.join('\n  ')}`,
      );
    }
    const diff = diffConfigs(target.config, next);
    if (diff.restartNeeded.length > 0) {
      return rejected(
        'refused',
        diff.restartNeeded.map((f) => `${f}: only a restart can change this`),
        `configuration reload refused: only a restart can change ${diff.restartNeeded.join(', ')}; nothing of ${this.options.path} was applied`,
      );
    }
    const nextVersion = configVersion(next);
    const summary = { added: diff.added, removed: diff.removed, changed: diff.changed, live: diff.live };
    try {
      // Even with nothing changed: the target retries what an earlier reload could not start.
      await target.apply(next, diff);
    } catch (err) {
      return rejected(
        'failed',
        [(err as Error).message ?? String(err)],
        `configuration reload failed while applying: ${(err as Error).message}`,
      );
    }
    this.options.events?.emit('config-applied', { version: nextVersion, at: Date.now() });
    this.log.info(
      { trigger, version: nextVersion, previous: version, ...summary },
      `configuration reloaded (${trigger}): ${describeDiff(diff)}`,
    );
    return { ok: true, trigger, version: nextVersion, diff: summary };
  }
}
