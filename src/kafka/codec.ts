// Decodes events from the events topic (Confluent wire format through the registry, or plain
// JSON) and encodes them for `courier produce`. Undecodable input is an InvalidEventError with
// a reason; a registry that cannot be reached is a retriable CourierError, never "invalid".
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { type CloudEvent, toCloudEvent } from '../cloudevents/cloudEvent.ts';
import type { CourierConfig } from '../config/schema.ts';
import { type TlsConfig, tlsOptions } from '../config/tls.ts';
import { CourierError, InvalidEventError } from '../errors.ts';

export const AVRO_SCHEMA_PATH = new URL('../../schemas/cloudevent.avsc', import.meta.url);

export interface EventCodecOptions {
  registryUrl?: string;
  /** Basic auth towards the registry (Confluent Cloud: the registry API key and secret). */
  registryAuth?: { username: string; password: string };
  /** TLS towards an https registry with a private CA or client certificates. */
  registryTls?: TlsConfig;
  maxEventBytes: number;
  /** Subject the Avro schema is registered under: `<eventsTopic>-value`. */
  subject: string;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
}

/** The registry part of the codec's options, from the config's `schemaRegistry` section. */
export function registryOptions(
  registry: CourierConfig['schemaRegistry'],
): Pick<EventCodecOptions, 'registryUrl' | 'registryAuth' | 'registryTls'> {
  if (!registry) return {};
  return {
    registryUrl: registry.url,
    ...(registry.username !== undefined || registry.password !== undefined
      ? { registryAuth: { username: registry.username ?? '', password: registry.password ?? '' } }
      : {}),
    ...(registry.tls ? { registryTls: registry.tls } : {}),
  };
}

/** The codec of the events topic, as the configuration describes it (router, backfill, produce). */
export function eventsCodec(config: Pick<CourierConfig, 'schemaRegistry' | 'router' | 'kafka'>): EventCodec {
  return new EventCodec({
    ...registryOptions(config.schemaRegistry),
    maxEventBytes: config.router.maxEventBytes,
    subject: `${config.kafka.eventsTopic}-value`,
  });
}

export class EventCodec {
  private readonly registry: SchemaRegistry | undefined;
  private readonly options: EventCodecOptions;
  private avroSchemaId: number | undefined;

  constructor(options: EventCodecOptions) {
    this.options = options;
    this.registry = options.registryUrl
      ? new SchemaRegistry({
          host: options.registryUrl,
          ...(options.registryAuth ? { auth: options.registryAuth } : {}),
          ...(options.registryTls
            ? { agent: new Agent({ keepAlive: true, ...tlsOptions(options.registryTls) }) }
            : {}),
        })
      : undefined;
  }

  async decode(value: Buffer | null): Promise<CloudEvent> {
    if (!value || value.length === 0) throw new InvalidEventError('EVENT_EMPTY', 'message has no value');
    if (value.length > this.options.maxEventBytes) {
      throw new InvalidEventError(
        'EVENT_TOO_LARGE',
        `event is ${value.length} bytes, over the limit of ${this.options.maxEventBytes}`,
      );
    }
    if (value[0] === 0 && value.length >= 5) return this.decodeWireFormat(value);
    const firstChar = value.subarray(0, 64).toString('utf8').trimStart()[0];
    if (firstChar === '{') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value.toString('utf8'));
      } catch (err) {
        throw new InvalidEventError('EVENT_NOT_DECODABLE', `invalid JSON: ${(err as Error).message}`);
      }
      return toCloudEvent(parsed);
    }
    throw new InvalidEventError(
      'EVENT_NOT_DECODABLE',
      'neither Confluent wire format (magic byte 0) nor a JSON object',
    );
  }

  private async decodeWireFormat(value: Buffer): Promise<CloudEvent> {
    const registry = this.registry;
    const schemaId = value.readInt32BE(1);
    if (!registry) {
      throw new InvalidEventError(
        'EVENT_NOT_DECODABLE',
        `wire-format event (schema id ${schemaId}) but no schema registry is configured`,
      );
    }
    try {
      await registry.getSchema(schemaId);
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new InvalidEventError('EVENT_UNKNOWN_SCHEMA', `schema id ${schemaId} is not in the registry`);
      }
      throw new CourierError('REGISTRY_UNAVAILABLE', `schema registry lookup of id ${schemaId} failed`, {
        retriable: true,
        cause: err,
      });
    }
    let decoded: unknown;
    try {
      decoded = await registry.decode(value);
    } catch (err) {
      throw new InvalidEventError(
        'EVENT_SCHEMA_MISMATCH',
        `payload does not decode with schema id ${schemaId}`,
        err,
      );
    }
    return toCloudEvent(decoded, { dataIsJsonText: true });
  }

  /** Registers the CloudEvent Avro schema under the subject (idempotent) and returns its id. */
  async registerAvroSchema(): Promise<number> {
    if (!this.registry)
      throw new CourierError('REGISTRY_NOT_CONFIGURED', 'Avro needs schemaRegistry.url in the configuration');
    if (this.avroSchemaId === undefined) {
      const schema = readFileSync(AVRO_SCHEMA_PATH, 'utf8');
      const { id } = await this.registry.register(
        { type: SchemaType.AVRO, schema },
        { subject: this.options.subject },
      );
      this.avroSchemaId = id;
    }
    return this.avroSchemaId;
  }

  async encodeAvro(event: CloudEvent): Promise<Buffer> {
    const id = await this.registerAvroSchema();
    return (this.registry as SchemaRegistry).encode(id, {
      specversion: event.specversion,
      id: event.id,
      type: event.type,
      source: event.source,
      time: event.time ?? null,
      subject: event.subject ?? null,
      datacontenttype: event.datacontenttype ?? null,
      data: event.data === undefined ? null : JSON.stringify(event.data),
    });
  }

  encodeJson(event: CloudEvent): Buffer {
    return Buffer.from(JSON.stringify(event));
  }
}
