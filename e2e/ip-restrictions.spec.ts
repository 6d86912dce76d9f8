// IP restrictions: lock yourself out of the dashboard on purpose, then get back in with the
// recovery email, against the real stack (bff, PostgreSQL, mailpit).
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, newAccount, signUp, test } from './fixtures';
import type { Stack } from './stack';

async function expectAccessible(page: Page, what: string): Promise<void> {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const results = await new AxeBuilder({ page }).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), `${what} (${colorScheme})`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: null });
}

interface MailpitSummary {
  ID: string;
  To: { Address: string }[];
  Subject: string;
}

/** recoveryLink waits for the recovery email to address and returns the link in it. */
async function recoveryLink(stack: Stack, address: string): Promise<string> {
  test.skip(!stack.mailpit_url, 'the stack runs without mailpit');
  let id = '';
  await expect
    .poll(
      async () => {
        const res = await fetch(`${stack.mailpit_url}/api/v1/search?query=${encodeURIComponent(`to:"${address}"`)}`);
        const body = (await res.json()) as { messages: MailpitSummary[] };
        id = body.messages.find((m) => m.Subject.includes('restore dashboard access'))?.ID ?? '';
        return id;
      },
      { message: `recovery email to ${address}`, timeout: 15_000 },
    )
    .not.toBe('');
  const res = await fetch(`${stack.mailpit_url}/api/v1/message/${id}`);
  const message = (await res.json()) as { Text: string };
  const link = message.Text.match(/https?:\/\/\S+\/ip-recovery\/ewr_\S+/)?.[0];
  expect(link, `a recovery link in:\n${message.Text}`).toBeTruthy();
  return link!;
}

test('deny my own address on the dashboard, confirm, get blocked, recover by email', async ({ page, stack }) => {
  test.setTimeout(90_000);
  const a = newAccount('iplock');
  await signUp(page, a);

  await page.getByTestId('nav-ip-restrictions').click();
  await expect(page.getByTestId('page-title')).toHaveText('IP Restrictions');
  await expect(page.getByTestId('ip-semantics')).toContainText('deny wins');
  const ip = (await page.getByTestId('client-ip').textContent())!.trim();
  expect(ip).toBe('127.0.0.1');
  const cidr = ip.includes(':') ? `${ip}/128` : `${ip}/32`;

  // A policy that denies the test client's address.
  await page.getByLabel('Description', { exact: true }).fill('Deny the test client');
  await page.getByTestId('policy-create').click();
  const policy = page.getByTestId('policy').filter({ hasText: 'Deny the test client' });
  await expect(policy).toBeVisible();
  await expect(policy.getByTestId('rules-empty')).toBeVisible();
  await policy.getByLabel('CIDR').fill('127.0.0.5/24');
  await policy.getByLabel('Action').selectOption('deny');
  await policy.getByTestId('rule-add').click();
  await expect(policy.getByTestId('field-error-cidr')).toContainText('did you mean 127.0.0.0/24?');
  await policy.getByLabel('CIDR').fill(cidr);
  await policy.getByLabel('Action').selectOption('deny');
  await policy.getByTestId('rule-add').click();
  await expect(policy.getByTestId('rule-row').filter({ hasText: cidr })).toHaveAttribute('data-action', 'deny');
  await expectAccessible(page, 'IP restrictions page');

  // Attach it to the dashboard restriction, enforced: the self-lockout warning says why.
  const dashboard = page.getByTestId('restriction-dashboard');
  await dashboard.getByLabel(/Deny the test client/).check();
  await dashboard.getByLabel(/Enforce/).check();
  await dashboard.getByTestId('restriction-save').click();
  const warning = dashboard.getByTestId('lockout-warning');
  await expect(warning).toContainText(`your IP address ${ip}`);
  await expect(warning).toContainText(cidr);
  await expect(warning).toContainText('Deny the test client');
  await expectAccessible(page, 'self-lockout warning');

  // Confirm: saved, and the next page is blocked, naming the IP, the restriction and the policy.
  await page.getByTestId('restriction-confirm').click();
  await expect(page.getByTestId('restriction-dashboard').getByTestId('restriction-saved')).toBeVisible();
  const response = await page.goto('/agents');
  expect(response?.status()).toBe(403);
  const blocked = page.getByTestId('ip-blocked');
  await expect(blocked).toHaveAttribute('data-error-code', 'ERR_EDGEWAY_1212');
  await expect(page.getByTestId('blocked-ip')).toHaveText(ip);
  await expect(page.getByTestId('blocked-restriction')).toHaveText(/^ipx_/);
  await expect(page.getByTestId('blocked-policy')).toContainText('Deny the test client');
  await expectAccessible(page, 'blocked page');

  // Ask for the recovery email (the form knows who we are) and follow its link.
  await expect(page.getByLabel('Email')).toHaveValue(a.email);
  await page.getByTestId('recovery-request').click();
  await expect(page.getByTestId('recovery-sent')).toBeVisible();
  const link = await recoveryLink(stack, a.email);
  expect(link.startsWith(stack.dashboard_url)).toBe(true);

  await page.goto(link);
  await expect(page.getByTestId('page-title')).toHaveText('Restore dashboard access');
  await expect(page.getByTestId('recovery-ip')).toHaveText(ip);
  await expectAccessible(page, 'recovery page');
  await page.getByLabel(/Allow my address/).check();
  await page.getByTestId('recovery-apply').click();

  // Access is back: the restriction stays enforced and now allows this address.
  await expect(page).toHaveURL(/\/ip-restrictions/);
  await expect(page.getByTestId('client-ip-decision')).toHaveAttribute('data-allowed', 'true');
  await expect(page.getByTestId('restriction-dashboard')).toHaveAttribute('data-enforced', 'true');
  await page.goto('/agents');
  await expect(page.getByTestId('page-title')).toHaveText('Agents');

  // The link worked once.
  await page.goto(link);
  await expect(page.getByTestId('recovery-error')).toContainText('already used');
});
