/**
 * Reads V8 `.cpuprofile` files (written by `node --cpu-prof`) and reduces each
 * to its top functions by self time — where a process spent its CPU.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ProfileSummary } from '../report/model.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time per function of one profile, largest first. */
export function topFunctions(profile: CpuProfile, limit = 12): Omit<ProfileSummary, 'file' | 'process'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { fn: string; where: string; us: number }>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let totalUs = 0;
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    const dt = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    const cf = node.callFrame;
    const where = cf.url
      ? `${cf.url
          .replace(/^file:\/\//, '')
          .replace(/^.*\/node_modules\//, 'node_modules/')
          .replace(process.cwd() + '/', '')}:${cf.lineNumber + 1}`
      : '';
    const key = `${cf.functionName}|${where}`;
    const e = selfUs.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    selfUs.set(key, e);
    totalUs += dt;
  }
  const top = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, share: totalUs > 0 ? e.us / totalUs : 0 }));
  return { totalMs: totalUs / 1000, top };
}

/**
 * Summarizes every profile in `dir`, in file order. `names` maps pids to
 * process names and `windows` numbers (1, 2, ...) to what ran while the
 * profile was taken (the pid and the number are part of the file name:
 * CPU.<date>.<time>.<pid>.<tid>.<n>.cpuprofile).
 */
export function summarizeProfiles(
  dir: string,
  names: Map<number, string> = new Map(),
  windows: Map<number, string> = new Map(),
): ProfileSummary[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return files.sort().map((file) => {
    const parts = file.split('.');
    const pid = Number(parts[3]);
    const n = Number(parts[5]);
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const during = windows.get(n);
    return {
      file: path.join(dir, file),
      process: `${names.get(pid) ?? `pid ${pid}`}${during ? `, during ${during}` : ''}`,
      ...topFunctions(profile),
    };
  });
}
