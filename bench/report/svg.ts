/**
 * Line charts as inline SVG strings (no scripts, no network): latency by
 * percentile on the HdrHistogram-style axis, and rates over time.
 */

export interface Series {
  name: string;
  points: [number, number][];
  /** Dashed line (used for the peer). */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  series: Series[];
  /** 'percentile': x values are percentiles 0–100 on a log(1/(1−p)) axis. */
  xKind: 'linear' | 'percentile';
  xLabel: string;
  yLabel: string;
  /** Logarithmic y axis (for latencies spanning decades). */
  yLog?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Maps a percentile to the log(1/(1−p)) axis, 99.9999 at most. */
export function percentileX(p: number): number {
  const q = Math.min(p, 99.9999);
  return Math.log10(100 / (100 - q));
}

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1_000_000) return `${+(v / 1_000_000).toFixed(1)}M`;
  if (Math.abs(v) >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  if (Math.abs(v) < 1) return String(+v.toPrecision(2));
  return String(+v.toFixed(1));
}

/** Renders one chart. Empty series are skipped; with no data a note is drawn instead. */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 540;
  const H = o.height ?? 330;
  const rows = Math.ceil(o.series.filter((x) => x.points.length > 0).length / 2);
  const m = { l: 64, r: 34, t: 34, b: 56 + 15 * rows };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const series = o.series.filter((s) => s.points.length > 0);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(o.title)}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">${escapeXml(o.title)}</text>`,
  ];
  if (series.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data</text></svg>`);
    return parts.join('');
  }
  const xs = (x: number) => (o.xKind === 'percentile' ? percentileX(x) : x);
  const all = series.flatMap((s) => s.points);
  let xMin = Math.min(...all.map(([x]) => xs(x)));
  let xMax = Math.max(...all.map(([x]) => xs(x)));
  if (o.xKind === 'percentile') {
    xMin = 0;
    xMax = Math.max(2, Math.ceil(xMax));
  }
  if (xMax === xMin) xMax = xMin + 1;
  const ys = all.map(([, y]) => y).filter((y) => Number.isFinite(y));
  let yMin: number;
  let yMax: number;
  if (o.yLog) {
    const pos = ys.filter((y) => y > 0);
    yMin = 10 ** Math.floor(Math.log10(Math.min(...pos, 1)));
    yMax = 10 ** Math.ceil(Math.log10(Math.max(...pos, yMin * 10)));
  } else {
    yMin = 0;
    yMax = Math.max(...ys, 1) * 1.08;
  }
  const X = (x: number) => m.l + ((xs(x) - xMin) / (xMax - xMin)) * pw;
  const Y = (y: number) => {
    if (o.yLog) {
      const v = Math.max(y, yMin);
      return m.t + ph - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
    }
    return m.t + ph - ((y - yMin) / (yMax - yMin)) * ph;
  };

  // grid and ticks
  const yTicks: number[] = [];
  if (o.yLog) {
    for (let d = yMin; d <= yMax * 1.0001; d *= 10) yTicks.push(d);
  } else {
    const step = niceStep(yMax - yMin, 5);
    for (let v = 0; v <= yMax; v += step) yTicks.push(v);
  }
  for (const v of yTicks) {
    const y = Y(v).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${m.l - 6}" y="${y}" dy="4" text-anchor="end" font-size="11" fill="#555">${fmtTick(v)}</text>`,
    );
  }
  const xTicks: { at: number; label: string }[] = [];
  if (o.xKind === 'percentile') {
    const labels = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', '99.9999%'];
    for (let d = 0; d <= xMax; d++) xTicks.push({ at: d, label: labels[d] ?? '' });
  } else {
    const step = niceStep(xMax - xMin, 8);
    for (let v = Math.ceil(xMin / step) * step; v <= xMax; v += step)
      xTicks.push({ at: v, label: fmtTick(v) });
  }
  for (const t of xTicks) {
    const x = (m.l + ((t.at - xMin) / (xMax - xMin)) * pw).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`);
    parts.push(
      `<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(t.label)}</text>`,
    );
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(
    `<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(o.yLabel)}</text>`,
  );

  // lines and legend
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      .join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    const lx = m.l + (i % 2) * Math.floor(pw / 2);
    const ly = H - 40 + Math.floor(i / 2) * 15;
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 30}" y="${ly}" font-size="11">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
