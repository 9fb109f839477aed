/**
 * The HTML report of a benchmark run (bench/results/<date>.html): one
 * self-contained file, inline CSS and SVG charts, no scripts and no network.
 */
import { Histogram, type HistogramJSON } from '../lib/histogram.js';
import type { ScenarioEntry, SuiteResult } from './model.js';
import { escapeXml, lineChart, type Series } from './svg.js';
import { allTables, cassandraLine, isNumeric, machineLine, type Table } from './tables.js';

/** Latency by percentile; the maximum is drawn at its own rank (1 − 1/count), not at 100 %. */
function percentileSeries(name: string, h: HistogramJSON, dashed: boolean): Series {
  const last = h.count > 1 ? 100 - 100 / h.count : 50;
  return {
    name,
    dashed,
    points: Histogram.fromJSON(h)
      .distribution(5)
      .filter((p) => p.percentile < last || p.percentile === 100)
      .map((p) => [p.percentile === 100 ? last : p.percentile, p.valueUs / 1000] as [number, number]),
  };
}

function rateSeries(name: string, counts: number[], slotMs: number, dashed: boolean): Series {
  return { name, dashed, points: counts.map((c, i) => [((i + 1) * slotMs) / 1000, (c * 1000) / slotMs]) };
}

const label = (e: ScenarioEntry) =>
  `${e.system === 'socketio' ? 'Socket.IO' : e.store === 'cassandra' ? 'gmessenger on Cassandra' : 'gmessenger'}: ${e.title}`;

const restLabel = (e: Extract<ScenarioEntry, { kind: 'rest' }>) =>
  `${e.result?.name ?? e.title}${e.store === 'cassandra' ? ' (Cassandra)' : ''}`;

function charts(s: SuiteResult): string[] {
  const out: string[] = [];
  const dialogs = s.scenarios.filter((e) => e.kind === 'dialog' && e.result) as Extract<
    ScenarioEntry,
    { kind: 'dialog' }
  >[];
  const fanouts = s.scenarios.filter((e) => e.kind === 'fanout' && e.result) as Extract<
    ScenarioEntry,
    { kind: 'fanout' }
  >[];
  const rests = s.scenarios.filter((e) => e.kind === 'rest' && e.result) as Extract<
    ScenarioEntry,
    { kind: 'rest' }
  >[];
  const storm = s.scenarios.find((e) => e.kind === 'reconnect' && e.result) as
    Extract<ScenarioEntry, { kind: 'reconnect' }> | undefined;
  if (dialogs.length) {
    out.push(
      lineChart({
        title: 'Dialogs: end-to-end latency by percentile',
        series: dialogs.map((e) => percentileSeries(label(e), e.result!.e2e, e.system === 'socketio')),
        xKind: 'percentile',
        xLabel: 'percentile',
        yLabel: 'latency (ms, log scale)',
        yLog: true,
      }),
      lineChart({
        title: 'Dialogs: messages delivered per second',
        series: dialogs.map((e) =>
          rateSeries(
            label(e),
            e.result!.timeline.delivered,
            e.result!.timeline.slotMs,
            e.system === 'socketio',
          ),
        ),
        xKind: 'linear',
        xLabel: 'seconds since the start of sending',
        yLabel: 'messages/s',
      }),
    );
  }
  if (fanouts.length) {
    out.push(
      lineChart({
        title: 'Fan-out: time until the last member has the message, by percentile',
        series: fanouts.map((e) => percentileSeries(label(e), e.result!.lastMember, e.system === 'socketio')),
        xKind: 'percentile',
        xLabel: 'percentile',
        yLabel: 'latency (ms, log scale)',
        yLog: true,
      }),
      lineChart({
        title: 'Fan-out: deliveries per second',
        series: fanouts.map((e) =>
          rateSeries(
            label(e),
            e.result!.timeline.delivered,
            e.result!.timeline.slotMs,
            e.system === 'socketio',
          ),
        ),
        xKind: 'linear',
        xLabel: 'seconds since the start of sending',
        yLabel: 'deliveries/s',
      }),
    );
  }
  if (rests.length) {
    out.push(
      lineChart({
        title: 'REST: latency by percentile',
        series: rests.map((e) =>
          percentileSeries(restLabel(e), e.result!.histogram, e.store === 'cassandra'),
        ),
        xKind: 'percentile',
        xLabel: 'percentile',
        yLabel: 'latency (ms, log scale)',
        yLog: true,
      }),
      lineChart({
        title: 'REST: requests per second',
        series: rests.map((e) =>
          rateSeries(
            restLabel(e),
            e.result!.timeline.responses,
            e.result!.timeline.slotMs,
            e.store === 'cassandra',
          ),
        ),
        xKind: 'linear',
        xLabel: 'seconds',
        yLabel: 'requests/s',
      }),
    );
  }
  if (storm?.result) {
    const d = Histogram.fromJSON(storm.result.catchUp).distribution(5);
    const n = storm.result.clients;
    const caught = storm.result.caughtUp;
    out.push(
      lineChart({
        title: `Reconnect storm: clients caught up over time (${caught} of ${n})`,
        series: [
          {
            name: 'clients caught up (%)',
            points: [
              [0, 0] as [number, number],
              ...d.map((p) => [p.valueUs / 1000, (p.percentile * caught) / n] as [number, number]),
            ],
          },
        ],
        xKind: 'linear',
        xLabel: 'ms since every client reconnected at once',
        yLabel: '% of clients',
      }),
    );
  }
  return out;
}

function htmlTable(t: Table): string {
  const head = t.header.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r
          .map((c, i) => {
            const cls =
              c === 'met'
                ? ' class="ok"'
                : c === 'missed'
                  ? ' class="bad"'
                  : i > 0 && isNumeric(c)
                    ? ' class="num"'
                    : '';
            return `<td${cls}>${escapeXml(c)}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<h2>${escapeXml(t.title)}</h2>${t.intro ? `<p>${escapeXml(t.intro)}</p>` : ''}<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function renderHtml(s: SuiteResult): string {
  const tables = allTables(s);
  const env = Object.entries(s.target.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const title = `gmessenger benchmark, ${s.startedAt.slice(0, 16).replace('T', ' ')} UTC${s.quick ? ' (quick)' : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;white-space:nowrap}td.ok{color:#0a7d20;font-weight:600}td.bad{color:#b00020;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee;max-width:100%;height:auto}
code{background:#f4f4f4;padding:1px 4px;border-radius:3px}ul{padding-left:20px}
</style></head><body>
<h1>${escapeXml(title)}</h1>
<ul>
<li>Command: <code>${escapeXml(s.command)}</code></li>
<li>Machine: ${escapeXml(machineLine(s))}</li>
<li>System under test: ${escapeXml(s.target.description)}${env ? ` (<code>${escapeXml(env)}</code>)` : ''}</li>
${s.cassandra ? `<li>On Cassandra: ${escapeXml(cassandraLine(s.cassandra))}</li>\n` : ''}<li>Peer: ${escapeXml(s.peer?.description ?? 'not run')}</li>
<li>The load generator runs on the same machine and is included in every figure.</li>
</ul>
${tables[0] ? htmlTable(tables[0]) : ''}
<h2>Charts</h2>
<div class="charts">${charts(s).join('\n')}</div>
${tables.slice(1).map(htmlTable).join('\n')}
</body></html>
`;
}
