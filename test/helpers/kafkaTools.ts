// Runs Apache Kafka's own command-line tools (e.g. ConsumerGroupCommand, what
// kafka-consumer-groups.sh runs) from the jars the local stack resolved. stack/stack.sh keeps
// them in $COURIER_STACK_DIR (default: <repo>/.stack)/kafka-<kafka.version from stack/pom.xml>/lib,
// so they exist once the stack has been brought up from this checkout; a checkout whose stack
// runs from elsewhere (a git worktree) points COURIER_STACK_DIR at that stack's directory.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The directory holding the stack's Kafka jars, located the way stack/stack.sh does it. */
export function kafkaLibDir(): string {
  const stackDir = process.env.COURIER_STACK_DIR ?? join(ROOT, '.stack');
  const pom = readFileSync(join(ROOT, 'stack', 'pom.xml'), 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (!version) throw new Error('stack/pom.xml names no kafka.version');
  const lib = join(stackDir, `kafka-${version}`, 'lib');
  if (!existsSync(join(lib, `kafka-tools-${version}.jar`))) {
    throw new Error(
      `Kafka ${version} jars not found in ${lib}: bring the stack up (npm run stack:up) from this checkout, ` +
        'or set COURIER_STACK_DIR to the directory of the stack that is running',
    );
  }
  return lib;
}

/** Runs a Kafka tool class with the stack's jars on the classpath; resolves with its output. */
export function kafkaTool(
  mainClass: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  return new Promise((resolve) => {
    execFile(
      java,
      ['-Xmx256m', '-cp', `${kafkaLibDir()}/*`, mainClass, ...args],
      { timeout: options.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
