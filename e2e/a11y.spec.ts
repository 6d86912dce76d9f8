// Every page passes axe-core with no serious or critical violation, in light and dark.
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

/** The dashboard's navigation: data-testid nav-<key> links to path. */
const navPages = [
  { key: 'agents', path: '/agents' },
  { key: 'endpoints', path: '/endpoints' },
  { key: 'authtokens', path: '/authtokens' },
  { key: 'api-keys', path: '/api-keys' },
  { key: 'team', path: '/team' },
  { key: 'ip-restrictions', path: '/ip-restrictions' },
  { key: 'events', path: '/events' },
  { key: 'billing', path: '/billing' },
  { key: 'settings', path: '/settings' },
] as const;

const publicPages = ['/login', '/signup'] as const;

const schemes = ['light', 'dark'] as const;

/** expectNoSeriousViolations runs axe on the page as it is and fails on serious or critical findings. */
async function expectNoSeriousViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 5)
        .map((n) => `      ${n.target.join(' ')}${n.failureSummary ? `\n        ${n.failureSummary.replace(/\n/g, '\n        ')}` : ''}`)
        .join('\n');
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} node${v.nodes.length === 1 ? '' : 's'})\n    ${v.helpUrl}\n${nodes}`;
    })
    .join('\n');
  expect(bad, `axe found serious or critical violations on ${what}:\n${report}`).toEqual([]);
}

for (const colorScheme of schemes) {
  test.describe(`${colorScheme} color scheme`, () => {
    test.use({ colorScheme });

    for (const path of publicPages) {
      test(`${path} has no serious accessibility violations`, async ({ page }) => {
        await page.emulateMedia({ colorScheme });
        await page.goto(path);
        await expect(page.getByTestId('page-title')).toBeVisible();
        expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(colorScheme === 'dark');
        await expectNoSeriousViolations(page, `${path} (${colorScheme})`);
      });
    }

    test.describe('signed in', () => {
      test.use({ storageState: async ({ account }, use) => use(account.storageState) });

      for (const { key, path } of navPages) {
        test(`${path} has no serious accessibility violations`, async ({ page, account }) => {
          await page.emulateMedia({ colorScheme });
          // Reach the page the way a user does: through the navigation.
          await page.goto('/agents');
          await expect(page.getByTestId('user-email')).toHaveText(account.email);
          const link = page.getByTestId(`nav-${key}`);
          await expect(link).toBeVisible();
          if (path !== '/agents') await link.click();
          await expect(page).toHaveURL(new RegExp(`${path.replace(/[-/]/g, '\\$&')}(?:[?#].*)?$`));
          await expect(page.getByTestId('page-title')).toBeVisible();
          await expect(page.getByTestId('page-title')).not.toBeEmpty();
          await expect(link).toHaveAttribute('aria-current', 'page');
          await expectNoSeriousViolations(page, `${path} (${colorScheme})`);
        });
      }
    });
  });
}
