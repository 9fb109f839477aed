// Preloaded into a service with NODE_OPTIONS="--import <this file>" (Node does
// not accept --cpu-prof in NODE_OPTIONS): samples the main thread with the V8
// profiler and writes CPU.<date>.<time>.<pid>.0.<nnn>.cpuprofile files into
// BENCH_CPU_PROF_DIR, the format and name pattern of `node --cpu-prof`.
//
// BENCH_CPU_PROF_WINDOW=signal: nothing is sampled until SIGUSR2; each
// SIGUSR2 then starts or stops (and writes) one profile, so a load tool can
// profile exactly its measurement window. Otherwise one profile covers the
// whole life of the process. A running profile is written at exit.
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_CPU_PROF_DIR;
// NODE_OPTIONS reaches worker threads too; profile the main thread only.
if (dir && isMainThread) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.BENCH_CPU_PROF_INTERVAL_US ?? 1000),
  });
  let running = false;
  let count = 0;
  let startedAt = '';
  const start = () => {
    if (running) return;
    running = true;
    startedAt = new Date().toISOString().replace(/[-:]/g, '');
    session.post('Profiler.start');
  };
  const stop = () => {
    if (!running) return;
    running = false;
    const n = String(++count).padStart(3, '0');
    // An in-process inspector session answers synchronously, so this also works in the 'exit' handler.
    session.post('Profiler.stop', (err, result) => {
      if (err || !result) return;
      const name = `CPU.${startedAt.slice(0, 8)}.${startedAt.slice(9, 15)}.${process.pid}.0.${n}.cpuprofile`;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, name), JSON.stringify(result.profile));
    });
  };
  if (process.env.BENCH_CPU_PROF_WINDOW === 'signal') {
    process.on('SIGUSR2', () => (running ? stop() : start()));
  } else {
    start();
  }
  process.on('exit', stop);
}
