/** Child processes of one module for tests that SIGKILL a service: the source through tsx, or its build. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../../launcher/index.js';

/**
 * Node arguments that run the module `rel` (relative to `base`, a module URL, without extension): the
 * TypeScript source through tsx when `base` is a source file, the compiled file when it runs from dist/.
 */
function entry(base: string, rel: string): string[] {
  const fromSource = base.endsWith('.ts');
  const file = fileURLToPath(new URL(`${rel}.${fromSource ? 'ts' : 'js'}`, base));
  return fromSource ? ['--import', 'tsx', file] : [file];
}

/** Runs module `rel` (relative to `base`) with only PATH, HOME and `env` in its environment; stdout is piped. */
export function spawnModule(
  base: string,
  rel: string,
  args: string[],
  env: Record<string, string>,
): ChildProcess {
  return spawn(process.execPath, [...entry(base, rel), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** SIGKILLs a child unless it has exited, and waits for its exit. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
