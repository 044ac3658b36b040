// Watches the configuration file — and every file it reads through `${file:…}` (mounted secrets)
// — for changes to their content: an editor's save, a `mv` over it, or a Kubernetes ConfigMap or
// Secret update (the kubelet swaps a `..data` symlink in the file's directory, so the file's own
// inode never changes — the directories are what is watched). Events are debounced and the
// contents hashed: only a real change calls `onChange`, once per change. A slow poll backs the
// watch up where inotify does not reach (network filesystems, some container mounts).
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileReferences } from '../config/load.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface ConfigWatcherOptions {
  path: string;
  onChange: () => void;
  logger: Logger;
  /** Quiet time after the last event before the files are read (default 300 ms). */
  debounceMs?: number;
  /** The backstop poll (default 5 s). */
  pollMs?: number;
}

export class ConfigWatcher {
  private readonly options: ConfigWatcherOptions;
  private readonly path: string;
  private last: string | undefined;
  private readonly watchers = new Map<string, FSWatcher>();
  private debounce: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: ConfigWatcherOptions) {
    this.options = options;
    this.path = resolve(options.path);
  }

  start(): void {
    this.last = this.read()?.hash;
    this.watchDirectories();
    this.poll = setInterval(() => this.look(), this.options.pollMs ?? 5000);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    clearTimeout(this.debounce);
    clearInterval(this.poll);
  }

  /** The files and one hash of all their contents; undefined while the config cannot be read (mid-swap). */
  private read(): { files: string[]; hash: string } | undefined {
    let text: Buffer;
    try {
      text = readFileSync(this.path);
    } catch {
      return undefined;
    }
    const files = [this.path, ...fileReferences(text.toString('utf8')).map((f) => resolve(f))];
    const hash = createHash('sha256').update(text);
    for (const f of files.slice(1)) {
      try {
        hash.update(f).update(readFileSync(f));
      } catch {
        hash.update(`${f}: unreadable`);
      }
    }
    return { files, hash: hash.digest('hex') };
  }

  /** Watches the directory of every file the configuration reads (a new reference adds one). */
  private watchDirectories(): void {
    const dirs = new Set((this.read()?.files ?? [this.path]).map((f) => dirname(f)));
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        // A ConfigMap swap names `..data` or a timestamped directory, not the file: any event in
        // the directory means a look (a hash of a few small files).
        const w = watch(dir, { persistent: false }, () => this.soon());
        w.on('error', (err) => this.options.logger.warn({ err, dir }, 'config watch failed; polling only'));
        this.watchers.set(dir, w);
      } catch (err) {
        this.options.logger.warn({ err, dir }, 'cannot watch a config directory; polling only');
      }
    }
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.look(), this.options.debounceMs ?? 300);
    this.debounce.unref();
  }

  /**
   * One look at the files (what each directory event, after the debounce, and each poll does):
   * true, and `onChange` told, when their contents changed since the last look.
   */
  look(): boolean {
    if (this.stopped) return false;
    const now = this.read();
    // Unreadable for a moment (a rename in progress): wait for the next event or poll.
    if (now === undefined || now.hash === this.last) return false;
    this.last = now.hash;
    this.watchDirectories();
    this.options.onChange();
    return true;
  }
}
