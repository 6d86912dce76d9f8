// Global teardown: stop the stack global-setup.ts started. SIGTERM goes to devstack's
// whole process group (devstack stops its children cleanly); whatever still runs 30 s
// later gets SIGKILL. A stack given through EDGEWAY_READY_FILE is left alone.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { FullConfig } from '@playwright/test';
import { logFile, pidFile, stopGroup, tail } from './stack';

export default async function globalTeardown(_config: FullConfig): Promise<void> {
  const running = globalThis.__edgewayStack;
  let pid = running?.child.pid;
  if (pid === undefined && existsSync(pidFile)) {
    pid = Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
  }
  if (pid === undefined) return; // external stack, or setup never started one
  const result = await stopGroup(pid, running?.exited);
  rmSync(pidFile, { force: true });
  globalThis.__edgewayStack = undefined;
  if (result === 'killed') {
    console.warn(`e2e: devstack (pgid ${pid}) did not stop within 30s of SIGTERM and was killed.\n--- tail of e2e/.stack/devstack.log ---\n${tail(logFile, 30)}`);
  } else if (result === 'clean') {
    const code = running ? await running.exited : null;
    console.log(`e2e: devstack stopped${code !== null && code !== 0 ? ` (exit ${code})` : ''}`);
  }
}
