/** The Markdown summary of a benchmark run (bench/results/<date>.md). */
import type { SuiteResult } from './model.js';
import { allTables, cassandraLine, isNumeric, machineLine, type Table } from './tables.js';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function markdownTable(t: Table): string {
  const lines = [
    `| ${t.header.map(cell).join(' | ')} |`,
    `|${t.header
      .map((_, i) =>
        i > 0 && t.rows.length > 0 && t.rows.every((r) => isNumeric(r[i] ?? '')) ? ' ---: ' : ' --- ',
      )
      .join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function renderMarkdown(s: SuiteResult): string {
  const env = Object.entries(s.target.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const out: string[] = [
    `# gmessenger benchmark, ${s.startedAt.slice(0, 16).replace('T', ' ')} UTC${s.quick ? ' (quick)' : ''}`,
    '',
    `- Command: \`${s.command}\``,
    `- Machine: ${machineLine(s)}`,
    `- System under test: ${s.target.description}${env ? ` (\`${env}\`)` : ''}`,
    ...(s.cassandra ? [`- On Cassandra: ${cassandraLine(s.cassandra)}`] : []),
    `- Peer: ${s.peer?.description ?? 'not run'}`,
    ...(s.registration
      ? [
          `- Users: ${s.registration.users} registered in ${(s.registration.ms / 1000).toFixed(1)} s (argon2id, 8 at a time)`,
        ]
      : []),
    `- The load generator runs on the same machine and is included in every figure.`,
    '',
  ];
  for (const t of allTables(s)) {
    out.push(`## ${t.title}`, '');
    if (t.intro) out.push(t.intro, '');
    out.push(markdownTable(t), '');
  }
  return out.join('\n');
}
