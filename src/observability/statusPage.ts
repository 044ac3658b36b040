// The status page, server-rendered: one table of every destination (the `courier status` view),
// refreshing itself, and a per-event page (what `courier inspect` shows). Pure HTML rendering with
// every value escaped; it shows no secret, no URL and no header value — only destination ids,
// states, counts, status codes and error codes.

import type { EventReport } from '../attempts/inspect.ts';
import type { DeadLetterEntry } from '../dlq/deadLetters.ts';
import type { StatusReport, StatusRow } from './destinationStatus.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.35rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600;padding:.1rem .45rem;border-radius:.3rem}
.healthy{background:#d8f5d8;color:#135213}.degraded{background:#fff1c2;color:#6b4e00}
.paused{background:#ffd6d6;color:#7a1010}.circuit-open{background:#ffd6d6;color:#7a1010}
form{margin:1rem 0}small{color:#666}`;

function page(title: string, body: string, refreshSeconds?: number): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
${refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

function duration(ms: number): string {
  if (ms <= 0) return '—';
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function lastErrorText(row: StatusRow): string {
  const e = row.lastError;
  if (!e) return '';
  return [e.status === undefined ? '' : `HTTP ${e.status}`, e.errorCode ?? '', e.outcome, `at ${e.at}`]
    .filter(Boolean)
    .join(' ');
}

export function stateText(row: StatusRow): string {
  return row.reason ? `${row.state}: ${row.reason}` : row.state;
}

/** What expires next: each non-OAuth2 credential and the HTTPS certificate, with days left. Pure. */
export function expiryText(r: StatusRow): string {
  const parts = (r.credentials ?? [])
    .filter((c) => c.kind !== 'oauth2-token')
    .map((c) => `${c.kind} ${c.daysLeft} d`);
  if (r.tlsCertificate) parts.push(`TLS certificate ${r.tlsCertificate.daysLeft} d`);
  return parts.join(', ') || '—';
}

/** Why a destination's messages wait: its pause or circuit, else a backlog being worked through. */
function heldBecause(r: StatusRow): string {
  if (r.state === 'paused' || r.state === 'circuit-open') return stateText(r);
  return r.state === 'degraded' ? `backlog (${r.reason ?? 'degraded'})` : 'backlog';
}

function eventLink(eventId: string): string {
  return `<a href="/events/${encodeURIComponent(eventId)}">${escapeHtml(eventId)}</a>`;
}

function heldSection(report: StatusReport): string {
  const held = report.destinations.filter((r) => r.backlog > 0);
  const rows = held
    .map(
      (r) => `<tr data-destination="${escapeHtml(r.destination)}"><td>${escapeHtml(r.destination)}</td>
<td class="n held-count">${r.backlog}</td><td class="n">${duration(r.oldestUndeliveredMs)}</td><td class="held-why">${escapeHtml(heldBecause(r))}</td></tr>`,
    )
    .join('\n');
  return `<h2>Held</h2>
<table id="held"><thead><tr><th>destination</th><th>messages waiting</th><th>oldest</th><th>why</th></tr></thead>
<tbody>${rows || '<tr><td colspan="4">nothing is waiting</td></tr>'}</tbody></table>`;
}

function deadSection(deadLetters: Record<string, DeadLetterEntry[]>): string {
  const all = Object.entries(deadLetters)
    .flatMap(([destination, entries]) => entries.map((e) => ({ destination, e })))
    .sort((a, b) => b.e.deadLetteredAt.localeCompare(a.e.deadLetteredAt));
  const rows = all
    .map(
      ({
        destination,
        e,
      }) => `<tr data-destination="${escapeHtml(destination)}" data-event="${escapeHtml(e.eventId)}">
<td>${escapeHtml(e.deadLetteredAt)}</td><td>${escapeHtml(destination)}</td><td>${eventLink(e.eventId)}</td>
<td>${escapeHtml(e.class)}</td><td>${e.lastStatus ?? ''}</td><td>${escapeHtml((e.lastError ?? '').split(':')[0] ?? '')}</td><td class="n">${e.attempts}</td></tr>`,
    )
    .join('\n');
  return `<h2>Latest dead letters</h2>
<table id="dead-letters"><thead><tr><th>dead-lettered at</th><th>destination</th><th>event</th><th>class</th><th>last status</th><th>error</th><th>attempts</th></tr></thead>
<tbody>${rows || '<tr><td colspan="7">none</td></tr>'}</tbody></table>`;
}

export function renderStatusPage(
  report: StatusReport,
  options: {
    refreshSeconds: number;
    successWindowMs?: number;
    deadLetters?: Record<string, DeadLetterEntry[]>;
  },
): string {
  const rows = report.destinations
    .map(
      (r) => `<tr data-destination="${escapeHtml(r.destination)}" data-state="${r.state}">
<td>${escapeHtml(r.destination)}</td>
<td><span class="state ${r.state}">${escapeHtml(r.state)}</span>${r.reason ? ` <small>${escapeHtml(r.reason)}</small>` : ''}</td>
<td class="n">${r.deliveriesPerMinute}</td>
<td class="n">${r.successRate === undefined ? '—' : `${(r.successRate * 100).toFixed(1)} %`}</td>
<td class="n">${r.p50Ms ?? '—'} / ${r.p99Ms ?? '—'}</td>
<td class="n">${r.backlog}</td>
<td class="n">${duration(r.oldestUndeliveredMs)}</td>
<td class="n">${r.dlqDepth}</td>
<td>${escapeHtml(expiryText(r))}</td>
<td>${escapeHtml(lastErrorText(r))}</td></tr>`,
    )
    .join('\n');
  const tiers = Object.entries(report.retryBacklog)
    .map(([tier, n]) => `${escapeHtml(tier)}: ${n}`)
    .join(' · ');
  return page(
    'Courier status',
    `<h1>Courier status</h1>
<p><small>as of <time id="at">${escapeHtml(report.at)}</time>; refreshes every ${options.refreshSeconds} s${
      report.backlogError ? ` · Kafka offsets unreadable: ${escapeHtml(report.backlogError)}` : ''
    }${
      report.redisStateLostAt
        ? ` · <strong>Redis lost Courier's state at ${escapeHtml(report.redisStateLostAt)}</strong>: earlier deliveries may repeat`
        : ''
    }</small></p>
<table id="destinations"><thead><tr><th>destination</th><th>state</th><th>deliveries/min</th><th>success${
      options.successWindowMs ? ` (${duration(options.successWindowMs)})` : ''
    }</th>
<th>p50 / p99 ms</th><th>backlog</th><th>oldest undelivered</th><th>DLQ depth</th><th>expires</th><th>last error</th></tr></thead>
<tbody>${rows}</tbody></table>
<p><small>retry backlog: ${tiers || '—'}</small></p>
${heldSection(report)}
${deadSection(options.deadLetters ?? {})}
<form action="/events" method="get"><label>Look up an event: <input name="id" placeholder="event id" required></label>
<button type="submit">Look up</button></form>`,
    options.refreshSeconds,
  );
}

export function renderEventPage(
  eventId: string,
  found: Pick<EventReport, 'eventType' | 'destinations' | 'attempts'>,
  paused: Record<string, string>,
): { found: boolean; html: string } {
  const destinations = Object.entries(found.destinations);
  if (destinations.length === 0) {
    return {
      found: false,
      html: page(
        `Event ${eventId}`,
        `<p><a href="/">← status</a></p><h1>Event <code>${escapeHtml(eventId)}</code></h1>
<p id="not-found">Not found: no attempt of it in the delivery log (unknown, not attempted yet, or older than the log's retention).</p>`,
      ),
    };
  }
  const states = destinations
    .map(
      ([
        d,
        s,
      ]) => `<tr data-destination="${escapeHtml(d)}"><td>${escapeHtml(d)}</td><td class="event-state">${escapeHtml(s.state)}</td>
<td class="n">${s.attempt ?? ''}</td><td>${s.status ?? ''} ${escapeHtml(s.errorCode ?? '')}</td><td>${escapeHtml(s.errorClass ?? '')}</td>
<td>${escapeHtml(s.nextAttemptAt ?? '')}</td><td>${paused[d] ? `paused (${escapeHtml(paused[d])})` : ''}</td></tr>`,
    )
    .join('\n');
  const attempts = found.attempts
    .map(
      (
        a,
      ) => `<tr><td>${escapeHtml(a.at)}</td><td>${escapeHtml(a.destination)}</td><td class="n">${a.attempt}</td>
<td>${escapeHtml(a.outcome)}</td><td>${a.status ?? ''} ${escapeHtml(a.errorCode ?? '')}</td><td class="n">${a.latencyMs}</td><td>${a.replay ? 'replay' : ''}</td></tr>`,
    )
    .join('\n');
  return {
    found: true,
    html: page(
      `Event ${eventId}`,
      `<p><a href="/">← status</a></p><h1>Event <code>${escapeHtml(eventId)}</code>${
        found.eventType ? ` <small>${escapeHtml(found.eventType)}</small>` : ''
      }</h1>
<table id="event-destinations"><thead><tr><th>destination</th><th>state</th><th>attempts</th><th>last status</th><th>class</th><th>next attempt</th><th></th></tr></thead>
<tbody>${states}</tbody></table>
<h2>Attempts</h2>
<table id="attempts"><thead><tr><th>at</th><th>destination</th><th>#</th><th>outcome</th><th>status</th><th>ms</th><th></th></tr></thead>
<tbody>${attempts}</tbody></table>`,
    ),
  };
}
