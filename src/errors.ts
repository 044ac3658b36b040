// The error family: every error Courier raises on purpose carries a stable `code` (grep it in
// logs) and a `retriable` flag. Decisions branch on classes and codes, never on message text.

export class CourierError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Invalid configuration; `problems` holds one "path: message" line per problem. */
export class ConfigError extends CourierError {
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(
      'CONFIG_INVALID',
      `invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** Why an input event cannot be routed; the code goes into the `courier-error` header. */
export type InvalidEventReason =
  | 'EVENT_TOO_LARGE'
  | 'EVENT_EMPTY'
  | 'EVENT_NOT_DECODABLE'
  | 'EVENT_UNKNOWN_SCHEMA'
  | 'EVENT_SCHEMA_MISMATCH'
  | 'EVENT_MISSING_FIELD'
  | 'EVENT_BAD_FIELD'
  /** `data` nested deeper than Courier encodes safely. */
  | 'EVENT_TOO_DEEP'
  /** The decoded event could not be turned into the JSON body. */
  | 'EVENT_NOT_ENCODABLE'
  /** Any other unexpected error while handling this one event. */
  | 'EVENT_UNPROCESSABLE'
  /** The router's process died three times with this event in hand: moved aside (class crash-loop). */
  | 'CRASH_LOOP';

export class InvalidEventError extends CourierError {
  constructor(reason: InvalidEventReason, message: string, cause?: unknown) {
    super(reason, message, { cause });
  }
}

/** A CLI usage error: wrong or conflicting flags. */
export class UsageError extends CourierError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Which dependency a DependencyError is about, as the message names it. */
export type DependencyName = 'Kafka' | 'Redis' | 'the schema registry';

/**
 * A dependency (Kafka, Redis, the schema registry) that cannot be reached or refuses Courier.
 * The message is one line: which dependency, at which address (credentials masked), and why.
 */
export class DependencyError extends CourierError {
  readonly dependency: DependencyName;
  readonly address: string;
  readonly reason: string;

  constructor(options: { dependency: DependencyName; address: string; reason: string; cause?: unknown }) {
    super(
      'DEPENDENCY_UNREACHABLE',
      `cannot reach ${options.dependency} at ${options.address}: ${options.reason}`,
      {
        retriable: true,
        cause: options.cause,
      },
    );
    this.dependency = options.dependency;
    this.address = options.address;
    this.reason = options.reason;
  }
}

/** A record larger than its topic's `max.message.bytes`: it can never be written as it is. */
export class RecordTooLargeError extends CourierError {
  constructor(topic: string, bytes: number, limitBytes: number) {
    super(
      'RECORD_TOO_LARGE',
      `a record of about ${bytes} bytes does not fit topic ${topic} (max.message.bytes ${limitBytes})`,
    );
  }
}

/** Topics a role needs do not exist; `courier topics` creates them. */
export class TopicsMissingError extends CourierError {
  readonly topics: string[];

  constructor(topics: string[]) {
    super(
      'TOPICS_MISSING',
      `missing topics: ${topics.join(', ')} — run \`courier topics\` (with the same configuration) to create them`,
    );
    this.topics = topics;
  }
}

/** A Kafka consumer crashed and kafkajs will not restart it: the process must stop. */
export class ConsumerCrashedError extends CourierError {
  readonly consumer: string;
  readonly groupId: string;

  constructor(consumer: string, groupId: string, cause: unknown) {
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(
      'CONSUMER_CRASHED',
      `consumer ${consumer} (group ${groupId}) crashed and will not restart: ${why}`,
      { cause },
    );
    this.consumer = consumer;
    this.groupId = groupId;
  }
}
