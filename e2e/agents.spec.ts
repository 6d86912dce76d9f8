// Agents page journeys against real processes: bin/agent connects to a regional edge of the
// running stack and forwards to a tiny HTTP server started by the test. The dashboard shows the
// session live (no reload), restarts and disconnects it, hides the buttons from a read-only
// developer and refuses their forged stop; traffic through the tunnel reaches the local server.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, newAccount, signUp, uniqueEmail, invitationLink, AGENTS_URL } from './fixtures';
import { repoRoot, type Stack } from './stack';

const REGION = 'us';
const agentBin = join(repoRoot, 'bin', 'agent');

/** LocalServer is the service an agent forwards to; it answers with its own tag. */
interface LocalServer {
  port: number;
  tag: string;
  /** Every request it received, as "METHOD url host". */
  seen: string[];
  server: Server;
}

async function startLocalServer(): Promise<LocalServer> {
  const tag = `local-${Math.random().toString(36).slice(2, 10)}`;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.host ?? ''}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${tag}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, tag, seen, server };
}

/** Agent is a running bin/agent process and everything it printed. */
class Agent {
  output = '';
  exitCode: number | null | undefined; // undefined while it runs
  readonly exited: Promise<number | null>;
  private waiters = new Set<() => void>();

  constructor(readonly proc: ChildProcess) {
    const onData = (b: Buffer) => {
      this.output += b.toString();
      for (const w of this.waiters) w();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exitCode = signal ? null : code;
        for (const w of this.waiters) w();
        resolve(this.exitCode);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** waitFor resolves with the first match of re in the output from index `from` on. */
  waitFor(re: RegExp, what: string, from = 0, timeoutMs = 15_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.output.slice(from));
        if (m) return done(() => resolve(m));
        if (!this.running) return done(() => reject(new Error(`agent exited (${this.exitCode}) before ${what}:\n${this.output}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`agent: no ${what} after ${timeoutMs} ms:\n${this.output}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** online waits for the agent's session line and its HTTP forwarding line. */
  async online(from = 0): Promise<{ sessionId: string; url: string }> {
    const [, sessionId] = await this.waitFor(/^Session {2,}(\S+)\s*$/m, 'session line', from);
    const [, url] = await this.waitFor(/^Forwarding\s+(http:\/\/\S+) -> /m, 'forwarding line', from);
    return { sessionId, url };
  }

  /** stop ends the agent: SIGTERM, then SIGKILL if it is still there after a few seconds. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.running && this.proc.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(t);
  }
}

// Every agent and server a test starts; afterEach ends them (free plans allow 3 sessions).
const agents: Agent[] = [];
const servers: LocalServer[] = [];

test.afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.server.close(r))));
});

function edgeOf(stack: Stack, region: string): Record<string, unknown> | undefined {
  return stack.edges.find((e) => e.region === region);
}

/** startAgent runs `bin/agent http PORT` against the stack's edges in REGION. */
function startAgent(stack: Stack, token: string, port: number, configPath: string): Agent {
  const edges = stack.edges.map((e) => `${String(e.region)}=${String(e.agent_addr)}`).join(',');
  const args = ['http', String(port), '--authtoken', token, '--edges', edges, '--region', REGION, '--config', configPath];
  if (stack.ca_file) args.push('--ca', stack.ca_file);
  // Not the worker's EDGEWAY_* variables (the stack's URLs): the agent reads its own from there.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EDGEWAY_')));
  const agent = new Agent(spawn(agentBin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  agents.push(agent);
  return agent;
}

/** createAuthtoken creates an authtoken on the Authtokens page and returns its secret. */
async function createAuthtoken(page: Page, description: string): Promise<string> {
  await page.goto('/authtokens');
  await page.getByLabel('Description').fill(description);
  await page.getByTestId('authtoken-create').click();
  const token = (await page.getByTestId('authtoken-token').textContent())?.trim() ?? '';
  expect(token, 'the new authtoken').not.toBe('');
  return token;
}

/** openAgents opens the Agents page and waits until its live stream is up. */
async function openAgents(page: Page): Promise<void> {
  await page.goto('/agents');
  await expect(page.getByTestId('live-status')).toHaveAttribute('data-state', 'open');
}

function sessionRow(page: Page, id: string) {
  return page.locator(`[data-testid="session-row"][data-session-id="${id}"]`);
}

/** connectedAgent starts a local server and an agent for it, and waits until the agent is online. */
async function connectedAgent(stack: Stack, token: string, configPath: string) {
  const local = await startLocalServer();
  servers.push(local);
  const agent = startAgent(stack, token, local.port, configPath);
  const { sessionId, url } = await agent.online();
  return { local, agent, sessionId, url };
}

test.beforeEach(({ stack }) => {
  test.skip(!edgeOf(stack, REGION), `the stack runs no ${REGION} edge`);
});

test('an agent that connects appears live with its tunnel URL, and its region count goes up', async ({ page, stack }, testInfo) => {
  await signUp(page, newAccount('agents-live'));
  const token = await createAuthtoken(page, 'e2e live row');

  await openAgents(page);
  const count = page.getByTestId(`region-count-${REGION}`);
  const before = Number(await count.getAttribute('data-count'));
  await expect(page.getByTestId('session-row')).toHaveCount(0);

  const { sessionId, url } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));

  // No reload: the row arrives over the websocket.
  const row = sessionRow(page, sessionId);
  await expect(row).toBeVisible();
  await expect(row.getByTestId('tunnel-url')).toHaveText(url);
  await expect(row.getByTestId('tunnel-url')).toHaveAttribute('href', url);
  await expect(count).toHaveAttribute('data-count', String(before + 1));
  await expect(page.getByTestId('live-status')).toHaveAttribute('data-state', 'open');
});

test('Disconnect ends the agent process and removes its row', async ({ page, stack }, testInfo) => {
  await signUp(page, newAccount('agents-stop'));
  const token = await createAuthtoken(page, 'e2e disconnect');
  await openAgents(page);
  const { agent, sessionId } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));

  const row = sessionRow(page, sessionId);
  await expect(row).toBeVisible();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  await row.getByTestId('session-disconnect').click();

  expect(await agent.exited, `agent exit code; output:\n${agent.output}`).toBe(0);
  expect(dialogs).toHaveLength(1);
  expect(dialogs[0]).toContain(sessionId);
  await expect(row).toHaveCount(0);
  await expect(page.getByTestId(`region-count-${REGION}`)).toHaveAttribute('data-count', '0');
});

test('Restart replaces the row with one for the new session id while the agent keeps running', async ({ page, stack }, testInfo) => {
  await signUp(page, newAccount('agents-restart'));
  const token = await createAuthtoken(page, 'e2e restart');
  await openAgents(page);
  const { agent, sessionId } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));
  const pid = agent.proc.pid;

  await expect(sessionRow(page, sessionId)).toBeVisible();
  page.on('dialog', (d) => void d.accept());
  const mark = agent.output.length;
  await sessionRow(page, sessionId).getByTestId('session-restart').click();

  // The agent re-executes itself (same process) and prints its new session.
  const next = await agent.online(mark);
  expect(next.sessionId).not.toBe(sessionId);
  expect(agent.running, `agent output:\n${agent.output}`).toBe(true);
  expect(agent.proc.pid).toBe(pid);

  await expect(sessionRow(page, next.sessionId)).toBeVisible();
  await expect(sessionRow(page, next.sessionId).getByTestId('tunnel-url')).toHaveText(next.url);
  await expect(sessionRow(page, sessionId)).toHaveCount(0);
  await expect(page.getByTestId('session-row')).toHaveCount(1);
  expect(agent.running, `agent output:\n${agent.output}`).toBe(true);
});

test('a read-only developer sees the session without buttons and a forged stop is refused', async ({ browser, stack, baseURL, request }, testInfo) => {
  test.skip(!stack.mailpit_url, 'mailpit is not installed (make test installs it)');
  test.setTimeout(90_000);

  // The administrator upgrades (invitations need a paid plan) and invites a read-only developer.
  const admin = newAccount('agents-admin');
  const adminCtx = await browser.newContext({ baseURL });
  const devCtx = await browser.newContext({ baseURL });
  try {
    const a = await adminCtx.newPage();
    await signUp(a, admin);
    await a.getByTestId('nav-billing').click();
    await a.getByTestId('plan-select').selectOption('pro');
    await a.getByTestId('plan-save').click();
    await expect(a.getByTestId('billing-plan')).toHaveText('Pro');

    const colleague = uniqueEmail('agents-dev');
    await a.getByTestId('nav-team').click();
    await a.getByTestId('invite-email').fill(colleague);
    await a.getByTestId('invite-developer').selectOption('read_only');
    await a.getByTestId('invite-team').selectOption('none');
    await a.getByTestId('invite-send').click();
    await expect(a.locator(`[data-testid="invitation-row"][data-email="${colleague}"]`)).toBeVisible();

    const link = await invitationLink(request, stack.mailpit_url, colleague);
    const d = await devCtx.newPage();
    await d.goto(link);
    await expect(d.getByTestId('invitation-roles')).toHaveText('Developer: read-only');
    await d.getByTestId('accept-name').fill('Rhoda Only');
    await d.getByTestId('accept-password').fill('a long enough password');
    await d.getByTestId('accept-submit').click();
    await expect(d).toHaveURL(AGENTS_URL);
    await expect(d.getByTestId('user-email')).toHaveText(colleague);

    // The administrator's agent connects; the developer sees it live, without buttons.
    const token = await createAuthtoken(a, 'e2e read-only');
    await openAgents(a);
    await openAgents(d);
    const { agent, sessionId } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));
    await expect(sessionRow(a, sessionId).getByTestId('session-disconnect')).toBeVisible();
    const row = sessionRow(d, sessionId);
    await expect(row).toBeVisible();
    await expect(d.getByTestId('session-restart')).toHaveCount(0);
    await expect(d.getByTestId('session-disconnect')).toHaveCount(0);
    await expect(d.getByTestId('session-status')).toHaveCount(0);

    // A forged stop from the developer's browser (a fetch in their page, so the browser adds its
    // own cookies and fetch metadata) with the page's CSRF header: refused by role, not by CSRF.
    const hxHeaders = JSON.parse((await d.locator('body').getAttribute('hx-headers')) ?? '{}') as Record<string, string>;
    expect(hxHeaders['X-CSRF-Token'], 'CSRF token in the body hx-headers').toBeTruthy();
    const forge = (action: string) =>
      d.evaluate(
        async ([url, h]) => {
          const r = await fetch(url, { method: 'POST', headers: h, credentials: 'same-origin' });
          return { status: r.status, body: await r.text() };
        },
        [`/agents/${sessionId}/${action}`, hxHeaders] as const,
      );
    const stop = await forge('stop');
    expect(stop.status, stop.body).toBe(403);
    expect(stop.body).toContain('ERR_EDGEWAY_1219');
    expect(stop.body).not.toContain('ERR_EDGEWAY_CSRF');
    const restart = await forge('restart');
    expect(restart.status, restart.body).toBe(403);
    expect(restart.body).toContain('ERR_EDGEWAY_1219');

    // The agent keeps running: still listed for both, same session, and the process is alive.
    await d.reload();
    await expect(sessionRow(d, sessionId)).toBeVisible();
    await expect(sessionRow(a, sessionId)).toBeVisible();
    expect(agent.running, `agent output:\n${agent.output}`).toBe(true);
    expect(agent.output).not.toMatch(/stopped remotely|restarting on request/);

    // The same session is stoppable by someone allowed to: the refusal was about the role.
    a.on('dialog', (dlg) => void dlg.accept());
    await sessionRow(a, sessionId).getByTestId('session-disconnect').click();
    expect(await agent.exited, `agent output:\n${agent.output}`).toBe(0);
    await expect(sessionRow(d, sessionId)).toHaveCount(0);
  } finally {
    await adminCtx.close();
    await devCtx.close();
  }
});

test('a request through the tunnel reaches the local server', async ({ page, stack, request }, testInfo) => {
  await signUp(page, newAccount('agents-traffic'));
  const token = await createAuthtoken(page, 'e2e traffic');
  const { local, url } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));

  const edge = edgeOf(stack, REGION)!;
  const host = new URL(url).host;
  const path = `/hello?probe=${local.tag}`;
  const resp = await request.get(`http://${String(edge.http_addr)}${path}`, { headers: { Host: host } });
  expect(resp.status(), await resp.text()).toBe(200);
  expect(await resp.text()).toBe(`hello from ${local.tag}`);
  expect(local.seen).toHaveLength(1);
  expect(local.seen[0]).toMatch(new RegExp(`^GET ${path.replace(/[?]/g, '\\?')} `));
});

test('the page recovers its live stream after the bff restarts @bff-restart', async ({ page, stack }, testInfo) => {
  test.skip(!stack.pid, 'the ready file names no devstack pid');
  await signUp(page, newAccount('agents-bff-restart'));
  const token = await createAuthtoken(page, 'e2e bff restart');
  await openAgents(page);
  // Count the websocket (re)connections the page makes.
  await page.evaluate(() => {
    const w = window as unknown as { wsOpens: number };
    w.wsOpens = 0;
    document.addEventListener('htmx:wsOpen', () => { w.wsOpens++; });
  });

  process.kill(stack.pid, 'SIGUSR1'); // devstack restarts the bff; the edges keep their agents

  // The page notices, reconnects by itself and resyncs: without a reload, a new agent's row arrives.
  await expect.poll(() => page.evaluate(() => (window as unknown as { wsOpens: number }).wsOpens), { timeout: 30_000 }).toBeGreaterThan(0);
  await expect(page.getByTestId('live-status')).toHaveAttribute('data-state', 'open');
  const { sessionId } = await connectedAgent(stack, token, testInfo.outputPath('agent.yml'));
  await expect(sessionRow(page, sessionId)).toBeVisible({ timeout: 20_000 });
});

test('a selection survives live updates, and Disconnect selected ends every selected agent', async ({ page, stack }, testInfo) => {
  await signUp(page, newAccount('agents-bulk'));
  const token = await createAuthtoken(page, 'e2e bulk');
  await openAgents(page);
  const a = await connectedAgent(stack, token, testInfo.outputPath('a.yml'));
  await expect(sessionRow(page, a.sessionId)).toBeVisible();
  await sessionRow(page, a.sessionId).getByTestId('session-select').check();

  // Another agent connects: the table is re-rendered live, the tick stays.
  const b = await connectedAgent(stack, token, testInfo.outputPath('b.yml'));
  await expect(sessionRow(page, b.sessionId)).toBeVisible();
  await expect(sessionRow(page, a.sessionId).getByTestId('session-select')).toBeChecked();
  await sessionRow(page, b.sessionId).getByTestId('session-select').check();

  page.once('dialog', (d) => d.accept());
  await page.getByTestId('bulk-disconnect').click();
  await expect(page.getByTestId('bulk-result')).toContainText('Disconnected 2 of 2');
  expect(await a.agent.exited).toBe(0);
  expect(await b.agent.exited).toBe(0);
  await expect(page.getByTestId('session-row')).toHaveCount(0);
});
