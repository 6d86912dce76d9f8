// Global setup: build the binaries and start the real stack with
// `bin/devstack -ephemeral -ready-file e2e/.stack/ready.json` in its own process group.
// The tests find the stack through the ready file (see fixtures.ts) and the
// EDGEWAY_* environment variables exported here. global-teardown.ts stops it.
//
// Environment:
//   EDGEWAY_READY_FILE=path  use a stack that is already running (e.g. `make run` with a
//                            ready file); nothing is built, started or stopped.
//   E2E_SKIP_BUILD=1         do not run `go build` (the caller built bin/ already).
//   E2E_STACK_TIMEOUT=secs   how long to wait for the ready file (default 120).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FullConfig } from '@playwright/test';
import { defaultReadyFile, logFile, parseStack, pidFile, repoRoot, stackDir, stopGroup, tail, type Stack } from './stack';

/** RunningStack is what the teardown needs; the runner process holds it between setup and teardown. */
export interface RunningStack {
  child: ChildProcess;
  exited: Promise<number | null>;
}

declare global {
  // eslint-disable-next-line no-var
  var __edgewayStack: RunningStack | undefined;
}

export default async function globalSetup(_config: FullConfig): Promise<void> {
  const external = process.env.EDGEWAY_READY_FILE;
  if (external) {
    const stack = parseStack(readFileSync(external, 'utf8'));
    exportStack(stack, external);
    console.log(`e2e: using the running stack from ${external} (${stack.dashboard_url})`);
    return;
  }

  if (process.env.E2E_SKIP_BUILD !== '1') build();

  const bin = join(repoRoot, 'bin', 'devstack');
  if (!existsSync(bin)) {
    throw new Error(`e2e: ${bin} does not exist after the build (is cmd/devstack there?)`);
  }

  mkdirSync(stackDir, { recursive: true });
  rmSync(defaultReadyFile, { force: true });
  const log = openSync(logFile, 'w');
  console.log(`e2e: starting bin/devstack -ephemeral (log: e2e/.stack/devstack.log)`);
  const child = spawn(bin, ['-ephemeral', '-ready-file', defaultReadyFile], {
    cwd: repoRoot,
    detached: true, // own process group: the teardown signals the whole group
    stdio: ['ignore', log, log],
    env: process.env,
  });
  closeSync(log);
  if (child.pid === undefined) {
    throw new Error(`e2e: could not start ${bin}`);
  }
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  globalThis.__edgewayStack = { child, exited };
  writeFileSync(pidFile, `${pid}\n`);
  // Last resort when the runner dies without running the teardown (Ctrl-C, crash):
  // the stack is in its own process group, so it would not see the terminal's SIGINT.
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  });

  const timeoutMs = Number(process.env.E2E_STACK_TIMEOUT || 120) * 1000;
  const started = Date.now();
  let stack: Stack | undefined;
  let lastProblem = 'no ready file yet';
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  while (!stack) {
    if (exitCode !== undefined) {
      throw new Error(`e2e: devstack exited (code ${exitCode}) before it was ready.\n--- tail of e2e/.stack/devstack.log ---\n${tail(logFile)}`);
    }
    if (Date.now() - started > timeoutMs) {
      await stopGroup(pid, exited);
      throw new Error(
        `e2e: devstack was not ready after ${timeoutMs / 1000}s (${lastProblem}).\n--- tail of e2e/.stack/devstack.log ---\n${tail(logFile)}`,
      );
    }
    if (existsSync(defaultReadyFile)) {
      try {
        stack = parseStack(readFileSync(defaultReadyFile, 'utf8'));
      } catch (e) {
        lastProblem = `ready file not usable yet: ${(e as Error).message}`; // may be half-written
      }
    }
    if (!stack) await sleep(200);
  }

  for (const url of [stack.dashboard_url, stack.api_url]) {
    const ok = await answers(url, timeoutMs - (Date.now() - started));
    if (!ok) {
      await stopGroup(pid, exited);
      throw new Error(`e2e: devstack wrote its ready file but ${url} does not answer.\n--- tail of e2e/.stack/devstack.log ---\n${tail(logFile)}`);
    }
  }
  exportStack(stack, defaultReadyFile);
  console.log(`e2e: stack ready in ${((Date.now() - started) / 1000).toFixed(1)}s: dashboard ${stack.dashboard_url}, api ${stack.api_url}`);
}

function build(): void {
  console.log('e2e: go build -o bin/ ./cmd/...');
  const t = Date.now();
  const r = spawnSync('go', ['build', '-o', 'bin/', './cmd/...'], { cwd: repoRoot, stdio: 'inherit', env: process.env });
  if (r.error) throw new Error(`e2e: go build: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`e2e: go build -o bin/ ./cmd/... failed (exit ${r.status})`);
  console.log(`e2e: built in ${((Date.now() - t) / 1000).toFixed(1)}s`);
}

/** exportStack hands the stack to the workers, which inherit the runner's environment. */
function exportStack(stack: Stack, readyFile: string): void {
  process.env.EDGEWAY_READY_FILE = readyFile;
  process.env.EDGEWAY_DASHBOARD_URL = stack.dashboard_url;
  process.env.EDGEWAY_API_URL = stack.api_url;
  process.env.EDGEWAY_MAILPIT_URL = stack.mailpit_url;
  process.env.EDGEWAY_ADMIN_EMAIL = stack.admin_email;
  process.env.EDGEWAY_ADMIN_PASSWORD = stack.admin_password;
}

/** answers waits until url gives any HTTP response. */
async function answers(url: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + Math.max(withinMs, 5_000);
  while (Date.now() < deadline) {
    try {
      await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2_000) });
      return true;
    } catch {
      await sleep(200);
    }
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
