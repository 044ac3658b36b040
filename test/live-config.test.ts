// Live configuration: one `courier run` (its pid unchanged throughout) and a steady stream of
// events to two destinations, while the file changes under it — a third destination is added, the
// second one's URL changes, its secret is rotated (both signing during the overlap) and it is
// removed; a broken file and a change to kafka.brokers change nothing and are reported. The first
// destination's consumer group never rejoins and its deliveries never stop. Then the same with
// `--workers 2`, and `courier config diff` against the running configuration.
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import type { CourierConfig } from '../src/config/schema.ts';
import { COURIER_HEADER, headerString } from '../src/kafka/headers.ts';
import { consumerGroups, topicNames } from '../src/kafka/topics.ts';
import { sign } from '../src/net/signer.ts';
import { CourierProcesses, courierCli, type LogLine, writeConfig } from './helpers/cli.ts';
import { eventJson, openProducer } from './helpers/measure.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from './helpers/receiver.ts';
import {
  createKafkaForTest,
  provision,
  SECRET,
  type TestDestination,
  testConfig,
  uniqueName,
  waitFor,
} from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

const NEW_SECRET = `whsec_${Buffer.from('a rotated signing secret, 32 byt').toString('base64')}`;

/** Whether a request's webhook-signature header holds a valid v1 signature made with `secret`. */
function signedWith(r: ReceivedRequest, secret: string): boolean {
  const expected = sign({
    id: String(r.headers['webhook-id']),
    timestampSeconds: Number(r.headers['webhook-timestamp']),
    body: r.body,
    secrets: [secret],
  });
  return String(r.headers['webhook-signature']).split(' ').includes(expected);
}

/** Writes the file the way a ConfigMap update or an editor does: whole, by rename. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

/** The event ids of a topic's records below the group's committed offsets. */
async function committedRecords(config: CourierConfig, topic: string, groupId: string): Promise<string[]> {
  const kafka = createKafkaForTest(config);
  const admin = kafka.admin();
  await admin.connect();
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  await admin.disconnect();
  const done = new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  const wanted = [...done.values()].reduce((n, o) => n + Math.max(0, o), 0);
  const ids: string[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (Number(message.offset) < (done.get(partition) ?? 0))
        ids.push(headerString(message.headers, COURIER_HEADER.eventId) ?? '');
    },
  });
  await waitFor(() => ids.length >= wanted, {
    message: `${wanted} committed records of ${topic}`,
    timeoutMs: 60_000,
  });
  await consumer.disconnect();
  return ids;
}

async function scenario(workers: number): Promise<void> {
  const A = await startReceiver();
  const B1 = await startReceiver();
  const B2 = await startReceiver();
  const C = await startReceiver();
  const receivers: Receiver[] = [A, B1, B2, C];
  const first: TestDestination = { id: 'first', url: A.url };
  const second: TestDestination = { id: 'second', url: B1.url };
  const base = testConfig([first, second], {
    observability: { reloadEndpoint: true },
    kafka: { sessionTimeoutMs: 10_000 },
  });
  await provision(base);
  // The file as an operator writes it: what the test changes is the destinations section.
  const fileWith = (destinations: TestDestination[], kafka: Record<string, unknown> = {}) => {
    const doc = JSON.parse(JSON.stringify(base)) as Record<string, unknown> & {
      kafka: Record<string, unknown>;
    };
    return stringify({
      ...doc,
      kafka: { ...doc.kafka, ...kafka },
      destinations: destinations.map((d) => ({
        ...base.destinations.find((b) => b.id === 'first'),
        secrets: [SECRET],
        ...d,
      })),
    });
  };
  const path = writeConfig(base);
  replaceFile(path, fileWith([first, second]));
  const logs: LogLine[] = [];
  const child = processes.start(path, ['--workers', String(workers)], { logLevel: 'info', logs });
  const pid = child.pid;
  const firstGroup = consumerGroups(base).deliver('first');
  const joinsOfFirst = () =>
    logs.filter((l) => l.msg === 'joined consumer group' && l.groupId === firstGroup);
  const generationsOfFirst = () =>
    logs
      .filter((l) => l.msg === 'consumer group generation' && l.groupId === firstGroup)
      .map((l) => l.generationId);
  // The supervisor's outcome (or the one process's): never a worker's own 'supervisor' reload.
  const outcomes = () =>
    logs.filter(
      (l) => /^configuration reload(ed| failed| refused)/.test(l.msg) && l.trigger !== 'supervisor',
    );
  const started = () => logs.filter((l) => l.msg === 'courier started').length === workers;
  await waitFor(started, { message: 'courier started', timeoutMs: 60_000 });
  const port = Number(logs.find((l) => l.msg === 'observability endpoint listening')?.port);
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };

  // A steady stream: one event every 20 ms, each with its produce time.
  const producer = await openProducer(base);
  const produced: Array<{ id: string; at: number }> = [];
  let streaming = true;
  const stream = (async () => {
    for (let n = 0; streaming; n++) {
      const id = `live-${workers}-${n}`;
      const at = Date.now();
      await producer.send([{ key: `k${n % 16}`, value: eventJson(id) }]);
      produced.push({ id, at });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const ids = (r: Receiver) => new Set(r.accepted.map((a) => a.json.id));
  // Waits for the outcome of one reload: the first after the change that `is` recognises (one
  // change can be seen twice, by the watcher and by a signal; the second finds nothing to do).
  const reloaded = async (
    what: string,
    change: () => unknown | Promise<unknown>,
    is: (outcome: LogLine) => boolean,
  ) => {
    const before = outcomes().length;
    await change();
    const find = () => outcomes().slice(before).find(is);
    await waitFor(() => find() !== undefined, {
      message: () => `the reload: ${what} (${JSON.stringify(outcomes().slice(before))})`,
      timeoutMs: 120_000,
    });
    // When the test saw it: everything produced later was produced after the reload applied.
    return { ...(find() as LogLine), at: Date.now() } as LogLine & { at: number };
  };
  const changedFields = (l: LogLine, id: string) =>
    ((l.changed as Array<{ id: string; fields: string[] }> | undefined) ?? []).find((c) => c.id === id)
      ?.fields ?? [];

  try {
    // Every worker in the first group, its partitions assigned, each member's generation logged
    // after its last join: the generation every reload must keep.
    await waitFor(() => ids(A).size > 20 && ids(B1).size > 20, {
      message: 'both destinations deliver',
      timeoutMs: 60_000,
    });
    const settled = () => {
      const lastJoin = new Map<number, number>();
      const partitions = new Map<number, number[]>();
      logs.forEach((l, i) => {
        if (l.msg === 'joined consumer group' && l.groupId === firstGroup) {
          lastJoin.set(l.pid, i);
          partitions.set(l.pid, l.partitions as number[]);
        }
      });
      const assigned = [...partitions.values()].reduce((n, p) => n + p.length, 0);
      const generationAfterJoin = [...lastJoin].every(([p, i]) =>
        logs.some(
          (l, j) => j > i && l.pid === p && l.msg === 'consumer group generation' && l.groupId === firstGroup,
        ),
      );
      return lastJoin.size === workers && assigned === 3 && generationAfterJoin;
    };
    await waitFor(settled, { message: 'the first group settled', timeoutMs: 90_000 });
    const joinsBefore = joinsOfFirst().length;
    const generation = generationsOfFirst().at(-1);
    const generationsBefore = generationsOfFirst().length;

    // 1. A third destination, added to the file: its topics appear and it receives new events.
    const third: TestDestination = { id: 'third', url: C.url };
    const added = await reloaded(
      'add third',
      () => replaceFile(path, fileWith([first, second, third])),
      (l) => (l.added as string[] | undefined)?.includes('third') === true,
    );
    assert.match(added.msg, /^configuration reloaded/, JSON.stringify(added));
    await waitFor(() => produced.some((p) => p.at > added.at && ids(C).has(p.id)), {
      message: 'the third destination receives new events',
      timeoutMs: 60_000,
    });

    // A backfill of the new destination: the events produced before it was added, from the events
    // topic, for it alone (the others see none of this), events it already has skipped.
    const streamStart = produced[0]?.at ?? 0;
    if (workers === 1) {
      const backfill = await courierCli([
        'replay',
        '--config',
        path,
        '--destination',
        'third',
        '--source',
        'events',
        '--from',
        new Date(streamStart - 1000).toISOString(),
        '--to',
        new Date(added.at).toISOString(),
        '--rate',
        '2000',
      ]);
      assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
      assert.match(backfill.stdout, /backfill of third from .*: read \d+, sent [1-9]\d*/);
    }

    // 2. The second one's URL changes: new sends go to B2, those in flight finish at B1.
    const moved = await reloaded(
      'move second',
      () => replaceFile(path, fileWith([first, { ...second, url: B2.url }, third])),
      (l) => changedFields(l, 'second').includes('url'),
    );
    assert.match(moved.msg, /^configuration reloaded/, JSON.stringify(moved));
    await waitFor(() => produced.some((p) => p.at > moved.at && ids(B2).has(p.id)), {
      message: 'B2 receives the second destination events',
      timeoutMs: 60_000,
    });
    const lateAtB1 = B1.accepted.filter(
      (r) => (produced.find((p) => p.id === r.json.id)?.at ?? 0) > moved.at,
    );
    assert.deepEqual(
      lateAtB1.map((r) => r.json.id),
      [],
      'nothing produced after the move reaches the old URL',
    );

    // 3. Rotation: the new secret first, the old one still valid; then the old one removed.
    const overlap = await reloaded(
      'add a secret',
      () =>
        replaceFile(
          path,
          fileWith([first, { ...second, url: B2.url, secrets: [NEW_SECRET, SECRET] }, third]),
        ),
      (l) => changedFields(l, 'second').includes('secrets'),
    );
    await waitFor(
      () => B2.accepted.some((r) => (produced.find((p) => p.id === r.json.id)?.at ?? 0) > overlap.at),
      {
        message: 'deliveries during the overlap',
        timeoutMs: 60_000,
      },
    );
    for (const r of B2.accepted.filter(
      (x) => (produced.find((p) => p.id === x.json.id)?.at ?? 0) > overlap.at,
    )) {
      assert.ok(
        signedWith(r, NEW_SECRET) && signedWith(r, SECRET),
        `both signatures on ${r.json.id}: ${r.headers['webhook-signature']} new ${signedWith(r, NEW_SECRET)} old ${signedWith(r, SECRET)} nth ${r.nth}`,
      );
    }
    // SIGHUP reloads too (the file is as it was: nothing to do).
    const hup = await reloaded(
      'SIGHUP',
      () => child.kill('SIGHUP'),
      (l) => l.trigger === 'SIGHUP',
    );
    assert.match(hup.msg, /^configuration reloaded \(SIGHUP\): nothing changed/);
    // Through POST /-/reload: it answers what changed. The file watcher sees the same change after
    // its debounce, and on a busy machine it can apply the file before the POST arrives: then the
    // POST answers that nothing is left to change, and the watcher's reload carries the diff.
    const beforePost = outcomes().length;
    replaceFile(path, fileWith([first, { ...second, url: B2.url, secrets: [NEW_SECRET] }, third]));
    const posted = await fetch(`http://127.0.0.1:${port}/-/reload`, { method: 'POST' });
    const answer = (await posted.json()) as {
      ok: boolean;
      diff?: { changed: Array<{ id: string; fields: string[] }> };
    };
    assert.equal(posted.status, 200, JSON.stringify(answer));
    const answered = (answer.diff?.changed ?? []).map((c) => [c.id, c.fields]);
    if (answered.length > 0) assert.deepEqual(answered, [['second', ['secrets']]]);
    else {
      const byWatcher = outcomes()
        .slice(beforePost)
        .find((l) => l.trigger === 'file changed' && changedFields(l, 'second').length > 0);
      assert.ok(byWatcher, `neither the POST nor the watcher applied the change: ${JSON.stringify(answer)}`);
      assert.deepEqual(changedFields(byWatcher, 'second'), ['secrets']);
    }
    const rotatedAt = Date.now();
    await waitFor(
      () => B2.accepted.some((r) => (produced.find((p) => p.id === r.json.id)?.at ?? 0) > rotatedAt),
      {
        message: 'deliveries after the rotation',
        timeoutMs: 60_000,
      },
    );
    for (const r of B2.accepted.filter(
      (x) => (produced.find((p) => p.id === x.json.id)?.at ?? 0) > rotatedAt,
    )) {
      assert.ok(signedWith(r, NEW_SECRET), `new signature on ${r.json.id}`);
      assert.equal(
        String(r.headers['webhook-signature']).split(' ').length,
        1,
        'the old secret signs no more',
      );
    }

    // A change no running actor can take in place (its concurrency): the third's actor alone is
    // rebuilt, its group alone rejoins, and it loses nothing (checked at the end).
    third.concurrency = 4;
    const rebuilt = await reloaded(
      'rebuild third',
      () => replaceFile(path, fileWith([first, { ...second, url: B2.url, secrets: [NEW_SECRET] }, third])),
      (l) => changedFields(l, 'third').includes('concurrency'),
    );
    assert.match(rebuilt.msg, /changed third \(concurrency; its actor is rebuilt\)/);
    await waitFor(() => produced.some((p) => p.at > rebuilt.at && ids(C).has(p.id)), {
      message: 'the rebuilt third delivers',
      timeoutMs: 60_000,
    });

    // 4. A broken file: the problems are reported by path, and everything runs on as it was.
    const broken = await reloaded(
      'broken file',
      () =>
        replaceFile(
          path,
          fileWith([
            first,
            { ...second, url: 'not a url', secrets: [NEW_SECRET], retry: { maxAttempts: -1 } },
            third,
          ]),
        ),
      (l) => l.msg.startsWith('configuration reload failed'),
    );
    assert.match(broken.msg, /^configuration reload failed/);
    assert.ok(
      (broken.problems as string[]).some((p) => p.includes('destinations[1].url')),
      JSON.stringify(broken),
    );
    assert.ok(
      (broken.problems as string[]).some((p) => p.includes('maxAttempts')),
      JSON.stringify(broken),
    );
    await waitFor(async () => (await metric('courier_config_last_reload_successful')) === 0, {
      message: 'the reload metric says 0',
    });
    const brokenAt = Date.now();
    await waitFor(() => produced.some((p) => p.at > brokenAt && ids(B2).has(p.id)), {
      message: 'the second destination still delivers',
      timeoutMs: 60_000,
    });

    // 5. kafka.brokers changed along with a removal: refused whole, naming the field.
    const refused = await reloaded(
      'brokers',
      () => replaceFile(path, fileWith([first, third], { brokers: [...base.kafka.brokers, '127.0.0.1:1'] })),
      (l) => l.msg.startsWith('configuration reload refused'),
    );
    assert.match(refused.msg, /^configuration reload refused/);
    assert.ok(
      (refused.problems as string[]).some((p) => p.startsWith('kafka.brokers')),
      JSON.stringify(refused),
    );
    const refusedAt = Date.now();
    await waitFor(() => produced.some((p) => p.at > refusedAt && ids(B2).has(p.id)), {
      message: 'the second destination was not removed',
      timeoutMs: 60_000,
    });

    // `courier config diff`: the file against what runs now, and against another file.
    const diff = await courierCli(['config', 'diff', '--config', path]);
    assert.equal(diff.code, 4, diff.stdout + diff.stderr);
    assert.match(diff.stdout, /kafka\.brokers: only a restart can change this/);
    assert.match(diff.stdout, /- second: removed/);
    const runningFile = writeConfig(base);
    replaceFile(runningFile, fileWith([first, { ...second, url: B2.url, secrets: [NEW_SECRET] }, third]));
    const live = await courierCli(['config', 'diff', '--config', runningFile, '--json']);
    assert.equal(live.code, 0, live.stderr);
    assert.equal((JSON.parse(live.stdout) as { reload: string }).reload, 'nothing', live.stdout);
    const against = await courierCli(['config', 'diff', '--config', path, '--against', runningFile]);
    assert.equal(against.code, 4);

    // 6. The second destination removed: it stops after its in-flight work.
    const removed = await reloaded(
      'remove second',
      () => replaceFile(path, fileWith([first, third])),
      (l) => (l.removed as string[] | undefined)?.includes('second') === true,
    );
    assert.match(removed.msg, /^configuration reloaded/, JSON.stringify(removed));
    assert.equal(await metric('courier_config_last_reload_successful'), 1);
    // courier status: which version runs where (every worker is an instance).
    const status = await courierCli(['status', '--config', path]);
    assert.ok(
      status.stdout.includes(`config: ${removed.version} on ${workers} instance(s)`),
      status.stdout + status.stderr,
    );
    const stoppedAt = Date.now();
    await waitFor(() => produced.some((p) => p.at > stoppedAt && ids(A).has(p.id) && ids(C).has(p.id)), {
      message: 'first and third deliver after the removal',
      timeoutMs: 60_000,
    });
    const lateAtB2 = B2.requests.filter(
      (r) => (produced.find((p) => p.id === r.json.id)?.at ?? 0) > stoppedAt,
    );
    assert.deepEqual(
      lateAtB2.map((r) => r.json.id),
      [],
      'nothing produced after the removal is sent to it',
    );

    // The end: the stream stops; first and third get every event once, second every event it consumed.
    streaming = false;
    await stream;
    const all = produced.map((p) => p.id);
    await waitFor(() => all.every((id) => ids(A).has(id)), {
      message: () => `first has all ${all.length} (${ids(A).size})`,
      timeoutMs: 120_000,
    });
    // With the backfill, every event; without, every one produced once the third was running.
    const thirdShould = produced.filter((p) => workers === 1 || p.at > added.at).map((p) => p.id);
    await waitFor(() => thirdShould.every((id) => ids(C).has(id)), {
      message: 'third has every event since',
      timeoutMs: 120_000,
    });
    for (const r of [A, C]) {
      const twice = r.requests.filter((x) => x.nth > 1).map((x) => x.json.id);
      assert.deepEqual(twice, [], 'nothing sent twice');
    }
    // Second: each record its group committed past was delivered exactly once, across both URLs
    // (records after the commit, left when it was removed, wait in its topic).
    const names = topicNames(base);
    const committed = await committedRecords(
      base,
      names.dest('second'),
      consumerGroups(base).deliver('second'),
    );
    assert.ok(committed.length > 0, 'the second destination consumed records');
    const secondIds = [...B1.accepted, ...B2.accepted].map((r) => r.json.id);
    assert.equal(new Set(secondIds).size, secondIds.length, 'the second destination got nothing twice');
    const delivered = new Set(secondIds);
    assert.deepEqual(
      committed.filter((id) => !delivered.has(id)),
      [],
      'every record it committed was delivered',
    );

    // The attempt log says which version routed an event: the last one was routed after the removal.
    const last = produced.at(-1)?.id as string;
    await waitFor(
      async () => {
        const out = await courierCli(['inspect', last, '--config', path]);
        return out.stdout.split('\n').filter((l) => l.includes(`config ${removed.version}`)).length >= 2;
      },
      { message: `inspect ${last} shows config ${removed.version} for first and third`, timeoutMs: 60_000 },
    );

    // Throughout: one process (or supervisor), and the first group never rebalanced.
    assert.equal(child.pid, pid);
    assert.equal(child.exitCode, null, 'courier run is still running');
    assert.equal(joinsOfFirst().length, joinsBefore, 'the first group never rejoined');
    assert.deepEqual(
      [...new Set(generationsOfFirst().slice(generationsBefore - 1))],
      [generation],
      'its generation is unchanged',
    );
  } finally {
    if (process.env.LIVE_LOGS)
      writeFileSync(
        `${process.env.LIVE_LOGS}-${workers}.json`,
        logs.map((l) => JSON.stringify(l)).join('\n'),
      );
    streaming = false;
    await stream.catch(() => {});
    await producer.close();
    await processes.stop(child, 'SIGTERM');
    for (const r of receivers) await r.close();
  }
}

test('one courier run takes a changing file live: add, move, rotate, refuse, remove', () => scenario(1));

test('the same with --workers 2: the supervisor validates once and every worker applies it', () =>
  scenario(2));
