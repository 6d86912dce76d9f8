// Fixtures for every spec: import { test, expect } from './fixtures'.
//   stack    - the running stack (devstack's ready file): URLs, demo admin login
//   baseURL  - the dashboard URL, so page.goto('/login') and request.post('/logout') work
//   api      - an APIRequestContext whose baseURL is the API listener
//   account  - a fresh account signed up once per worker, and its signed-in storage state
// and helpers for the journeys the specs share (sign up, log in).
import { randomBytes } from 'node:crypto';
import { test as base, expect, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { readStack, type Stack } from './stack';

export { expect };

/** Credentials of a user the tests signed up. */
export interface Account {
  accountName: string;
  name: string;
  email: string;
  password: string;
}

/** SignedIn is an account plus a browser storage state that is logged in as it. */
export interface SignedIn extends Account {
  storageState: Awaited<ReturnType<BrowserContext['storageState']>>;
}

/** uniqueEmail returns an address no other test (or earlier run) has used. */
export function uniqueEmail(tag = 'user'): string {
  return `e2e-${tag}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}@example.com`;
}

/** newAccount returns sign-up data for a new account with a unique email. */
export function newAccount(tag = 'user'): Account {
  const id = randomBytes(3).toString('hex');
  return {
    accountName: `E2E ${tag} ${id}`,
    name: `Tess Tester ${id}`,
    email: uniqueEmail(tag),
    password: `correct-horse-${randomBytes(6).toString('hex')}`,
  };
}

/** AGENTS_URL matches the page a user lands on after sign-up and login. */
export const AGENTS_URL = /\/agents(?:[?#].*)?$/;
/** LOGIN_URL matches the login page, with or without ?next=. */
export const LOGIN_URL = /\/login(?:[?#].*)?$/;
/** SIGNUP_URL matches the sign-up page. */
export const SIGNUP_URL = /\/signup(?:[?#].*)?$/;

/** fillSignup fills the sign-up form (on /signup) and submits it. */
export async function fillSignup(page: Page, a: Account): Promise<void> {
  await page.getByLabel('Account name').fill(a.accountName);
  await page.getByLabel('Your name').fill(a.name);
  await page.getByLabel('Email', { exact: true }).fill(a.email);
  await page.getByLabel('Password', { exact: true }).fill(a.password);
  await page.getByTestId('signup-submit').click();
}

/** signUp creates the account through the sign-up page and waits until it is signed in. */
export async function signUp(page: Page, a: Account): Promise<void> {
  await page.goto('/signup');
  await fillSignup(page, a);
  await expect(page).toHaveURL(AGENTS_URL);
  await expect(page.getByTestId('user-email')).toHaveText(a.email);
}

/** fillLogin fills the login form (on /login) and submits it. */
export async function fillLogin(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByTestId('login-submit').click();
}

/** logIn signs in through the login page and waits for the dashboard. */
export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/login');
  await fillLogin(page, email, password);
  await expect(page).toHaveURL(AGENTS_URL);
  await expect(page.getByTestId('user-email')).toHaveText(email);
}

/** signedInAccount signs up a new account in a throw-away context and returns its session. */
async function signedInAccount(browser: Browser, baseURL: string, tag: string): Promise<SignedIn> {
  const a = newAccount(tag);
  const context = await browser.newContext({ baseURL });
  try {
    const page = await context.newPage();
    await signUp(page, a);
    return { ...a, storageState: await context.storageState() };
  } finally {
    await context.close();
  }
}

type TestFixtures = {
  api: APIRequestContext;
};

type WorkerFixtures = {
  stack: Stack;
  account: SignedIn;
};

export const test = base.extend<TestFixtures, WorkerFixtures>({
  stack: [
    async ({}, use) => {
      await use(readStack());
    },
    { scope: 'worker' },
  ],

  baseURL: async ({ stack }, use) => {
    await use(stack.dashboard_url);
  },

  api: async ({ playwright, stack }, use) => {
    const ctx = await playwright.request.newContext({ baseURL: stack.api_url });
    await use(ctx);
    await ctx.dispose();
  },

  account: [
    async ({ browser, stack }, use, workerInfo) => {
      await use(await signedInAccount(browser, stack.dashboard_url, `w${workerInfo.workerIndex}`));
    },
    { scope: 'worker', timeout: 60_000 },
  ],
});

/** invitationLink polls mailpit for the newest message to `to` and returns its invitation link. */
export async function invitationLink(request: APIRequestContext, mailpitURL: string, to: string): Promise<string> {
  let link = '';
  await expect
    .poll(
      async () => {
        const list = await request.get(`${mailpitURL}/api/v1/messages`);
        const { messages } = (await list.json()) as { messages: { ID: string; To: { Address: string }[] }[] };
        const msg = messages.find((m) => m.To.some((a) => a.Address.toLowerCase() === to.toLowerCase()));
        if (!msg) return '';
        const full = await request.get(`${mailpitURL}/api/v1/message/${msg.ID}`);
        const { Text } = (await full.json()) as { Text: string };
        link = /https?:\/\/\S+\/invitations\/ewi_\S+/.exec(Text)?.[0] ?? '';
        return link;
      },
      { message: `invitation email to ${to} in mailpit`, timeout: 20_000 },
    )
    .not.toBe('');
  return link;
}
