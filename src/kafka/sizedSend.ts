// Every produce sized to the target topic's real limit. The broker refuses a record batch larger
// than the topic's `max.message.bytes` (default 1 MiB) with a non-retriable error, so a large
// fan-out, a backlog forwarded in one go or an oversized record would kill the role that sent it.
// Here a send is split into requests whose estimated size per topic stays well inside each
// topic's limit; a record that can never fit is handed back to the caller, never sent.
import type { Admin, IHeaders, Kafka, Message, Producer, RecordMetadata, TopicMessages } from 'kafkajs';
import type { Logger } from '../telemetry/logger.ts';

/** Kafka's default `message.max.bytes` / `max.message.bytes`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** Share of a topic's limit one request may use for that topic (the estimate is conservative too). */
export const DEFAULT_FILL_RATIO = 0.85;
/** Record batch header (magic v2). */
const BATCH_OVERHEAD = 61;
/** Upper bound of a record's fixed fields: length, attributes, timestamp and offset deltas, key and value lengths, header count (varints). */
const RECORD_OVERHEAD = 40;
/** Upper bound of a header's two length varints. */
const HEADER_OVERHEAD = 10;

const TOPIC_RESOURCE = 2; // kafkajs ConfigResourceTypes.TOPIC
const BROKER_RESOURCE = 4; // kafkajs ConfigResourceTypes.BROKER

export interface SizedEntry {
  topic: string;
  message: Message;
}

function byteLength(v: string | Buffer | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function headersBytes(headers: IHeaders | undefined): number {
  let n = 0;
  for (const [name, value] of Object.entries(headers ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) n += HEADER_OVERHEAD + Buffer.byteLength(name) + byteLength(v as string | Buffer);
  }
  return n;
}

/** Upper bound of one record's size inside a record batch (uncompressed). */
export function estimateRecordBytes(message: Message): number {
  return (
    RECORD_OVERHEAD +
    byteLength(message.key as string | Buffer | null | undefined) +
    byteLength(message.value as string | Buffer | null) +
    headersBytes(message.headers)
  );
}

/** Whether one record alone, in its own batch, fits a topic whose limit is `limitBytes`. */
export function fitsAlone(message: Message, limitBytes: number): boolean {
  return BATCH_OVERHEAD + estimateRecordBytes(message) <= limitBytes;
}

export interface SendPlan {
  /** Requests to send in order; each holds per topic at most its budget (or one record that fits alone). */
  requests: TopicMessages[][];
  /** Records that can never fit their topic, with their estimated size and the limit. */
  tooLarge: Array<SizedEntry & { bytes: number; limitBytes: number }>;
}

/**
 * Splits entries into requests. Order within a topic is kept across requests; each topic's share
 * of a request stays at or under `fillRatio` of its limit. A record larger than that budget but
 * fitting the limit goes alone; a record over the limit is returned in `tooLarge`.
 */
export function planSends(
  entries: Iterable<SizedEntry>,
  limitOf: (topic: string) => number,
  options: { fillRatio?: number } = {},
): SendPlan {
  const ratio = options.fillRatio ?? DEFAULT_FILL_RATIO;
  // Per topic: a list of chunks; request i takes chunk i of every topic.
  const chunks = new Map<string, { list: Message[][]; bytes: number }>();
  const tooLarge: SendPlan['tooLarge'] = [];
  for (const { topic, message } of entries) {
    const limitBytes = limitOf(topic);
    const bytes = estimateRecordBytes(message);
    if (BATCH_OVERHEAD + bytes > limitBytes) {
      tooLarge.push({ topic, message, bytes, limitBytes });
      continue;
    }
    const budget = Math.floor(limitBytes * ratio) - BATCH_OVERHEAD;
    let t = chunks.get(topic);
    if (!t) {
      t = { list: [[]], bytes: 0 };
      chunks.set(topic, t);
    }
    const current = t.list[t.list.length - 1] as Message[];
    if (current.length > 0 && t.bytes + bytes > budget) {
      t.list.push([message]);
      t.bytes = bytes;
    } else {
      current.push(message);
      t.bytes += bytes;
    }
  }
  const requests: TopicMessages[][] = [];
  for (const [topic, { list }] of chunks) {
    list.forEach((messages, i) => {
      if (messages.length === 0) return;
      const request = requests[i] ?? [];
      request.push({ topic, messages });
      requests[i] = request;
    });
  }
  return { requests, tooLarge };
}

/**
 * Each topic's `max.message.bytes`, read once and cached: the topic's own config (which already
 * inherits the broker default), else the broker's `message.max.bytes`, else Kafka's default.
 */
export class TopicLimits {
  private readonly kafka: Kafka;
  private readonly log: Logger | undefined;
  private readonly limits = new Map<string, number>();
  private brokerLimit: number | undefined;
  private loading: Promise<void> = Promise.resolve();

  constructor(options: { kafka: Kafka; logger?: Logger }) {
    this.kafka = options.kafka;
    this.log = options.logger?.child({ component: 'topic-limits' });
  }

  /** The cached limit; a topic not loaded yet gets the broker's (or Kafka's default). */
  limitOf(topic: string): number {
    return this.limits.get(topic) ?? this.brokerLimit ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Reads the limits of the topics not cached yet (one admin round trip); never throws. */
  load(topics: Iterable<string>): Promise<void> {
    const wanted = [...new Set(topics)].filter((t) => !this.limits.has(t));
    if (wanted.length === 0) return this.loading;
    this.loading = this.loading.then(() => this.read(wanted.filter((t) => !this.limits.has(t))));
    return this.loading;
  }

  private async read(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const found = await readTopicLimits(admin, topics).catch((err) => {
        this.log?.warn({ err, topics }, 'topic max.message.bytes not readable; using the broker limit');
        return new Map<string, number>();
      });
      if (found.size < topics.length && this.brokerLimit === undefined) {
        this.brokerLimit = await readBrokerLimit(admin).catch((err) => {
          this.log?.warn({ err }, 'broker message.max.bytes not readable; using Kafka default');
          return DEFAULT_MAX_MESSAGE_BYTES;
        });
      }
      for (const t of topics)
        this.limits.set(t, found.get(t) ?? this.brokerLimit ?? DEFAULT_MAX_MESSAGE_BYTES);
    } catch (err) {
      this.log?.warn({ err, topics }, 'topic limits not readable; using Kafka default');
      for (const t of topics) this.limits.set(t, this.brokerLimit ?? DEFAULT_MAX_MESSAGE_BYTES);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

async function readTopicLimits(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['max.message.bytes'] })),
  });
  const out = new Map<string, number>();
  for (const r of described.resources) {
    if (r.errorCode !== 0) continue;
    const v = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
    if (Number.isInteger(v) && v > 0) out.set(r.resourceName, v);
  }
  return out;
}

async function readBrokerLimit(admin: Admin): Promise<number> {
  const { brokers } = await admin.describeCluster();
  const first = brokers[0];
  if (!first) return DEFAULT_MAX_MESSAGE_BYTES;
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: BROKER_RESOURCE, name: String(first.nodeId), configNames: ['message.max.bytes'] }],
  });
  const v = Number(described.resources[0]?.configEntries[0]?.configValue);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_MAX_MESSAGE_BYTES;
}

export interface SizedSendResult {
  /** Records acknowledged. */
  sent: number;
  /** Records never sent because they exceed their topic's limit; the caller decides. */
  tooLarge: SendPlan['tooLarge'];
  /** Each request as sent, with the broker's answer (base offset per partition). */
  written: Array<{ topicMessages: TopicMessages[]; metadata: RecordMetadata[] }>;
}

/**
 * Sends entries in requests sized to each topic's limit, one after another (order within a topic
 * kept), acknowledged by all in-sync replicas. Records over their topic's limit are not sent and
 * come back in `tooLarge`. A failed request rejects; the requests before it stay written.
 */
export async function sendSized(
  producer: Producer,
  limits: TopicLimits,
  entries: SizedEntry[],
  options: { fillRatio?: number } = {},
): Promise<SizedSendResult> {
  await limits.load(entries.map((e) => e.topic));
  const plan = planSends(entries, (t) => limits.limitOf(t), options);
  let sent = 0;
  const written: SizedSendResult['written'] = [];
  for (const topicMessages of plan.requests) {
    const metadata = await producer.sendBatch({ acks: -1, topicMessages });
    written.push({ topicMessages, metadata });
    for (const t of topicMessages) sent += t.messages.length;
  }
  return { sent, tooLarge: plan.tooLarge, written };
}
