// Preloaded into a service with NODE_OPTIONS="--import <this file>" (Node does
// not accept --cpu-prof in NODE_OPTIONS): samples the process with the V8
// profiler from start to exit and writes CPU.<date>.<time>.<pid>.0.001.cpuprofile
// into BENCH_CPU_PROF_DIR, the same format and name `node --cpu-prof` uses.
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
  session.post('Profiler.start');
  const started = new Date().toISOString().replace(/[-:]/g, '');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // An in-process inspector session answers synchronously, so this also works in the 'exit' handler.
    session.post('Profiler.stop', (err, result) => {
      if (err || !result) return;
      const file = path.join(
        dir,
        `CPU.${started.slice(0, 8)}.${started.slice(9, 15)}.${process.pid}.0.001.cpuprofile`,
      );
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(file, JSON.stringify(result.profile));
    });
  };
  process.on('exit', write);
}
