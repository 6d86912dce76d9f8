// Shared by the global setup, the teardown and the fixtures: where the stack's
// files live and what devstack's ready file holds.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '..');
export const stackDir = join(repoRoot, 'e2e', '.stack');
export const logFile = join(stackDir, 'devstack.log');
export const pidFile = join(stackDir, 'devstack.pid');
/** The ready file global-setup asks devstack to write. EDGEWAY_READY_FILE points at another one. */
export const defaultReadyFile = join(stackDir, 'ready.json');

/** One regional edge process as devstack reports it; the shape belongs to devstack. */
export type Edge = Record<string, unknown>;

/** Stack is the ready file `bin/devstack -ready-file` writes once everything listens. */
export interface Stack {
  dashboard_url: string;
  api_url: string;
  database_url: string;
  mailpit_url: string;
  smtp_addr: string;
  admin_email: string;
  admin_password: string;
  edges: Edge[];
  /** The development CA that signed the edges' certificates (agents trust it with --ca); '' when absent. */
  ca_file: string;
  /** devstack's pid: SIGUSR1 restarts the bff, SIGTERM stops the stack. */
  pid: number;
}

const required: (keyof Stack)[] = ['dashboard_url', 'api_url', 'admin_email', 'admin_password'];

/** parseStack validates the ready file's JSON; it throws on a partial or foreign file. */
export function parseStack(text: string): Stack {
  const v = JSON.parse(text) as Partial<Stack>;
  const missing = required.filter((k) => typeof v[k] !== 'string' || v[k] === '');
  if (missing.length > 0) {
    throw new Error(`ready file lacks ${missing.join(', ')}`);
  }
  return {
    dashboard_url: trimSlash(v.dashboard_url!),
    api_url: trimSlash(v.api_url!),
    database_url: v.database_url ?? '',
    mailpit_url: trimSlash(v.mailpit_url ?? ''),
    smtp_addr: v.smtp_addr ?? '',
    admin_email: v.admin_email!,
    admin_password: v.admin_password!,
    edges: Array.isArray(v.edges) ? v.edges : [],
    ca_file: v.ca_file ?? '',
    pid: typeof v.pid === 'number' ? v.pid : 0,
  };
}

/** readyFilePath is the ready file of the running stack. */
export function readyFilePath(): string {
  return process.env.EDGEWAY_READY_FILE || defaultReadyFile;
}

let cached: Stack | undefined;

/** readStack reads the running stack's ready file (written before any test starts). */
export function readStack(): Stack {
  if (cached) return cached;
  const p = readyFilePath();
  if (!existsSync(p)) {
    throw new Error(`${p} does not exist: the stack is not running (run the suite with \`npx playwright test\`, whose global setup starts it)`);
  }
  cached = parseStack(readFileSync(p, 'utf8'));
  return cached;
}

/** tail returns the last n lines of a file, or '' when it cannot be read. */
export function tail(path: string, n = 60): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

/** stopGroup sends SIGTERM to the process group, then SIGKILL if it outlives graceMs. */
export async function stopGroup(pid: number, exited: Promise<unknown> | undefined, graceMs = 30_000): Promise<'clean' | 'killed' | 'gone'> {
  if (!groupAlive(pid)) return 'gone';
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + graceMs;
  if (exited) {
    await Promise.race([exited, sleep(graceMs)]);
  }
  while (groupAlive(pid) && Date.now() < deadline) await sleep(100);
  if (!groupAlive(pid)) return 'clean';
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* raced with exit */
  }
  return 'killed';
}

/** groupAlive reports whether a process of group pgid is still running (zombies do not count). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  // kill(-pgid, 0) also succeeds for zombies that an init without a reaper keeps
  // around; look at /proc for a live member.
  try {
    for (const ent of readdirSync('/proc')) {
      if (!/^\d+$/.test(ent)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${ent}/stat`, 'utf8');
      } catch {
        continue;
      }
      // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    }
    return false;
  } catch {
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
