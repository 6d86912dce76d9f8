import { defineConfig, devices } from '@playwright/test';

// The Playwright suite runs against the real stack: e2e/global-setup.ts builds the
// binaries and starts `bin/devstack -ephemeral` (PostgreSQL, bff, one edge per region,
// mail), e2e/global-teardown.ts stops it. Tests read its addresses through e2e/fixtures.ts.
//
// Browser: the system Chromium (Debian package `chromium`), never a downloaded one.
// Override the path with CHROMIUM_PATH.
const isCI = !!process.env.CI;

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  globalSetup: './e2e/global-setup.ts',
  globalTeardown: './e2e/global-teardown.ts',
  fullyParallel: false,
  forbidOnly: isCI,
  retries: isCI ? 1 : 0,
  workers: 2,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    // global-setup.ts exports the dashboard URL before the workers start; the workers
    // load this file again, so they see it. fixtures.ts also sets it from the ready file.
    baseURL: process.env.EDGEWAY_DASHBOARD_URL,
    headless: true,
    trace: 'on-first-retry',
    screenshot: 'only-on-failure',
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
  },
  projects: [
    {
      name: 'chromium',
      // Tests tagged @bff-restart restart the shared bff: they run alone, after everything else.
      grepInvert: /@bff-restart/,
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--disable-quic',
          ],
        },
      },
    },
    {
      name: 'bff-restart',
      grep: /@bff-restart/,
      dependencies: ['chromium'],
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
          args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
        },
      },
    },
  ],
});
