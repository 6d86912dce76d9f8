// Team journey: an administrator upgrades to Pro, invites a colleague as a read-only developer,
// the invitation email is read from the local mail server (mailpit), the colleague accepts and
// cannot open Team or Billing; the administrator promotes them and the next click works.
import { test, expect, newAccount, signUp, uniqueEmail, AGENTS_URL } from './fixtures';
import AxeBuilder from '@axe-core/playwright';
import type { APIRequestContext, Page } from '@playwright/test';

/** expectAccessible fails on serious or critical axe findings (the paid Team page and the
 * invitation page are not in a11y.spec.ts, which sees a free account). */
async function expectAccessible(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`);
  expect(bad, `axe on ${what}`).toEqual([]);
}

/** invitationLink polls mailpit for the newest message to `to` and returns its invitation link. */
async function invitationLink(request: APIRequestContext, mailpitURL: string, to: string): Promise<string> {
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

test('admin invites a read-only developer, then promotes them', async ({ browser, stack, baseURL, request }) => {
  test.skip(!stack.mailpit_url, 'mailpit is not installed (make test installs it)');
  test.setTimeout(60_000);

  const admin = newAccount('team-admin');
  const adminCtx = await browser.newContext({ baseURL });
  const a = await adminCtx.newPage();
  await signUp(a, admin);

  // Free plan: the Team page says what upgrading unlocks. Upgrade on the Billing page.
  await a.getByTestId('nav-team').click();
  await expect(a.getByTestId('team-upgrade')).toBeVisible();
  await a.getByTestId('team-upgrade-link').click();
  await a.getByTestId('plan-select').selectOption('pro');
  await a.getByTestId('plan-save').click();
  await expect(a.getByTestId('billing-plan')).toHaveText('Pro');

  // Invite a read-only developer with no team or billing access.
  const colleague = uniqueEmail('colleague');
  await a.getByTestId('nav-team').click();
  await a.getByTestId('invite-email').fill(colleague);
  await a.getByTestId('invite-developer').selectOption('read_only');
  await a.getByTestId('invite-team').selectOption('none');
  await a.getByTestId('invite-send').click();
  await expect(a.locator(`[data-testid="invitation-row"][data-email="${colleague}"]`)).toBeVisible();
  await expectAccessible(a, 'the Team page with an invitation');

  // The colleague reads the email and accepts.
  const link = await invitationLink(request, stack.mailpit_url, colleague);
  const devCtx = await browser.newContext({ baseURL });
  const d = await devCtx.newPage();
  await d.goto(link);
  await expect(d.getByTestId('invitation-roles')).toHaveText('Developer: read-only');
  await expectAccessible(d, 'the invitation page');
  await d.getByTestId('accept-name').fill('Colin League');
  await d.getByTestId('accept-password').fill('a long enough password');
  await d.getByTestId('accept-submit').click();
  await expect(d).toHaveURL(AGENTS_URL);
  await expect(d.getByTestId('user-email')).toHaveText(colleague);
  await expect(d.getByTestId('account-name')).toHaveText(admin.accountName);

  // Read-only: no Restart or Disconnect, no Team or Billing in the navigation, and refused by URL.
  await expect(d.getByTestId('session-restart')).toHaveCount(0);
  await expect(d.getByTestId('session-disconnect')).toHaveCount(0);
  await expect(d.getByTestId('nav-team')).toHaveCount(0);
  await expect(d.getByTestId('nav-billing')).toHaveCount(0);
  let resp = await d.goto('/team');
  expect(resp?.status()).toBe(403);
  resp = await d.goto('/billing');
  expect(resp?.status()).toBe(403);
  await expect(d.getByText('ERR_EDGEWAY_1217')).toBeVisible();
  // The link worked once.
  const otherCtx = await browser.newContext({ baseURL });
  expect((await (await otherCtx.newPage()).goto(link))?.status()).toBe(410);
  await otherCtx.close();

  // The administrator promotes them: team read-only and billing access.
  await a.reload();
  const row = a.locator(`[data-testid="member-row"][data-email="${colleague}"]`);
  await row.getByText('Change roles').click();
  await expectAccessible(a, 'the Team page with a role form open');
  await row.locator('select[name="team"]').selectOption('read_only');
  await row.locator('input[name="billing"]').check();
  await row.getByTestId('roles-save').click();
  await expect(a.locator(`[data-testid="member-row"][data-email="${colleague}"] [data-testid="member-roles"]`)).toHaveText(
    'Developer: read-only, Team: read-only, Billing: access',
  );

  // The colleague's next click sees it.
  await d.goto('/agents');
  await d.getByTestId('nav-team').click();
  await expect(d.getByTestId('page-title')).toHaveText('Team');
  await d.getByTestId('nav-billing').click();
  await expect(d.getByTestId('billing-plan')).toHaveText('Pro');

  await adminCtx.close();
  await devCtx.close();
});
