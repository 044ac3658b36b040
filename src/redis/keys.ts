// Every Redis key Courier uses, in one place, all under the topic prefix so that separate
// deployments never collide. Every key of one destination carries the hash tag
// `{<prefix>:<destination>}`, so each script's, pipeline's or transaction's keys share a slot on a
// Redis Cluster (a destination's keys stay on one shard; destinations spread). Pure.

export function redisKeys(prefix: string) {
  const dest = (d: string) => `{${prefix}:${d}}`;
  const obs = (d: string) => `${dest(d)}:obs`;
  return {
    /** GCRA state of the destination's rate limit. */
    rate: (d: string) => `${dest(d)}:rate`,
    /**
     * One UTC day's delivery base key of a destination: its shards and the index of days are
     * named from it (lua/_marks.lua); versions before the sharding kept the day's marks in it.
     */
    deliveries: (d: string, day: number) => `${dest(d)}:e:${day}`,
    /** The in-flight lock of one event being sent to a destination. */
    inflight: (d: string, eventId: string) => `${dest(d)}:i:${eventId}`,
    /** How many claims of one event never completed (their process died holding it); an hour. */
    held: (d: string, eventId: string) => `${dest(d)}:h:${eventId}`,
    /** A pause until resumed (operator, credentials, 410). */
    paused: (d: string) => `${dest(d)}:paused`,
    /** A Retry-After wait: until when (epoch ms). */
    backoff: (d: string) => `${dest(d)}:backoff`,
    /** The destination's shared OAuth2 access token, and the lock of the one instance refreshing it. */
    oauthToken: (d: string) => `${dest(d)}:oauth`,
    oauthLock: (d: string) => `${dest(d)}:oauth:lock`,
    /** A time bucket of the rolling counters behind `courier status` and the alerts. */
    statsBucket: (d: string, index: number) => `${obs(d)}:stats:${index}`,
    lastError: (d: string) => `${obs(d)}:last-error`,
    lastDelivered: (d: string) => `${obs(d)}:last-delivered`,
    pendingSince: (d: string) => `${obs(d)}:pending-since`,
    breaker: (d: string) => `${obs(d)}:breaker`,
    /** The adapted request timeout of a destination with `timeoutMs: auto` (ms). */
    adaptedTimeout: (d: string) => `${obs(d)}:timeout`,
    /** The destination's HTTPS certificate as last seen in a handshake (notAfter, issuer, subject). */
    tlsCertificate: (d: string) => `${obs(d)}:tls`,
    /** One alert's state, shared by every instance. */
    alert: (d: string, code: string) => `${obs(d)}:alert:${code}`,
    /**
     * The configuration an instance last applied (secrets as fingerprints), what `courier config
     * diff` compares a file with; and per instance, the version it runs.
     */
    activeConfig: `${prefix}:config:active`,
    /**
     * Written once and never expired: its absence while Courier runs means Redis lost its data
     * (an empty replica after a failover, FLUSHALL, eviction); the moment that was noticed.
     */
    stateMarker: `${prefix}:state-marker`,
    stateLostAt: `${prefix}:state-lost-at`,
    configVersions: `${prefix}:config:instances`,
    /** Where the next holders of a consumer group's partitions may start (redis/handOvers.ts). */
    handOvers: (groupId: string) => `${prefix}:handover:${groupId}`,
    /** A running process's liveness key (redis/liveness.ts). */
    alive: (id: string) => `${prefix}:alive:${id}`,
    /** The marks holders of a consumer group's partitions leave before working (policy/crashLoop.ts). */
    workMarks: (groupId: string) => `${prefix}:work:${groupId}`,
    // The attempt log's Bloom filters of event ids, per partition of the attempts topic; all in
    // one slot, so one script updates a partition's list, sizes and newest bitmap together.
    attemptFilters: (partition: number) => `{${prefix}:af}:${partition}`,
    attemptFilterSizes: (partition: number) => `{${prefix}:af}:${partition}:sizes`,
    attemptFilterBits: (partition: number) => `{${prefix}:af}:${partition}:bits:`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
