// The JSON API on its own listener (stack.api_url): authentication, version header,
// error body, an API key created in the dashboard, pagination, and the OpenAPI document.
import type { APIResponse } from '@playwright/test';
import { expect, test as base } from './fixtures';

/** An API key created through the dashboard's API keys page. */
interface CreatedKey {
  description: string;
  token: string;
}

const test = base.extend<{}, { apiKeys: CreatedKey[] }>({
  // Two keys, created oldest first, by the worker's signed-up account (an administrator).
  apiKeys: [
    async ({ browser, stack, account }, use) => {
      const context = await browser.newContext({ baseURL: stack.dashboard_url, storageState: account.storageState });
      const keys: CreatedKey[] = [];
      try {
        const page = await context.newPage();
        for (const n of [1, 2]) {
          const description = `e2e key ${n} ${Date.now().toString(36)}`;
          await page.goto('/api-keys');
          await expect(page.getByTestId('page-title')).toBeVisible();
          // api-key-create opens the form (unless the page shows it already); api-key-submit
          // sends it (a page whose form is always shown may use api-key-create for both).
          const field = page.getByLabel('Description', { exact: true });
          if (!(await field.isVisible())) await page.getByTestId('api-key-create').click();
          await field.fill(description);
          const submit = page.getByTestId('api-key-submit');
          await ((await submit.count()) > 0 ? submit : page.getByTestId('api-key-create')).click();
          const shown = page.getByTestId('api-key-token');
          await expect(shown).toBeVisible();
          const token = (await shown.evaluate((el) => (el instanceof HTMLInputElement ? el.value : el.textContent ?? ''))).trim();
          expect(token, 'the API key token shown after creation').not.toBe('');
          keys.push({ description, token });
        }
      } finally {
        await context.close();
      }
      await use(keys);
    },
    { scope: 'worker', timeout: 60_000 },
  ],
});

/** expectErrorBody checks the reference's JSON error body. */
async function expectErrorBody(res: APIResponse, status: number): Promise<Record<string, unknown>> {
  expect(res.status(), await res.text()).toBe(status);
  expect(res.headers()['content-type']).toMatch(/^application\/json\b/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toEqual(
    expect.objectContaining({
      error_code: expect.any(String),
      status_code: status,
      msg: expect.any(String),
      details: expect.any(Object),
    }),
  );
  expect(body.error_code).not.toBe('');
  expect(body.msg).not.toBe('');
  expect(body.details).not.toBeNull();
  return body;
}

test.describe('API errors', () => {
  test('a request without Authorization gets 401 and the JSON error body', async ({ api }) => {
    const res = await api.get('/api_keys', { headers: { 'Edgeway-Version': '2' } });
    await expectErrorBody(res, 401);
  });

  test('an unknown API key gets 401', async ({ api }) => {
    const res = await api.get('/api_keys', {
      headers: { Authorization: 'Bearer not-a-real-key', 'Edgeway-Version': '2' },
    });
    await expectErrorBody(res, 401);
  });

  test('a request without a version header gets 400 with an error code', async ({ api, apiKeys }) => {
    const res = await api.get('/api_keys', { headers: { Authorization: `Bearer ${apiKeys[0].token}` } });
    await expectErrorBody(res, 400);
  });

  test('an unknown API version gets 400 with an error code', async ({ api, apiKeys }) => {
    const res = await api.get('/api_keys', {
      headers: { Authorization: `Bearer ${apiKeys[0].token}`, 'Edgeway-Version': '99' },
    });
    await expectErrorBody(res, 400);
  });
});

test.describe('API keys', () => {
  for (const header of ['Edgeway-Version', 'Ngrok-Version']) {
    test(`GET /api_keys with a dashboard-made key and ${header}: 2 lists the keys`, async ({ api, apiKeys }) => {
      const res = await api.get('/api_keys', {
        headers: { Authorization: `Bearer ${apiKeys[0].token}`, [header]: '2' },
      });
      const text = await res.text();
      expect(res.status(), text).toBe(200);
      expect(res.headers()['content-type']).toMatch(/^application\/json\b/);
      const body = JSON.parse(text) as { keys: Array<Record<string, unknown>>; uri: unknown; next_page_uri: unknown };
      expect(Array.isArray(body.keys)).toBe(true);
      expect(typeof body.uri).toBe('string');
      expect(body).toHaveProperty('next_page_uri');
      expect(body.next_page_uri === null || typeof body.next_page_uri === 'string').toBe(true);

      const descriptions = body.keys.map((k) => k.description);
      for (const k of apiKeys) expect(descriptions).toContain(k.description);
      for (const k of body.keys) expect(String(k.id)).toMatch(/^ak_/);
      // Keys are stored hashed and shown once: a list never contains a token.
      for (const k of apiKeys) expect(text).not.toContain(k.token);
    });
  }

  test('GET /api_keys pages with limit and next_page_uri, newest first', async ({ api, apiKeys }) => {
    const headers = { Authorization: `Bearer ${apiKeys[0].token}`, 'Edgeway-Version': '2' };
    const first = await api.get('/api_keys?limit=1', { headers });
    expect(first.status(), await first.text()).toBe(200);
    const page1 = (await first.json()) as { keys: Array<{ description: string }>; next_page_uri: string | null };
    expect(page1.keys).toHaveLength(1);
    expect(page1.keys[0].description).toBe(apiKeys[1].description);
    expect(typeof page1.next_page_uri).toBe('string');

    const second = await api.get(page1.next_page_uri!, { headers });
    expect(second.status(), await second.text()).toBe(200);
    const page2 = (await second.json()) as { keys: Array<{ description: string }> };
    expect(page2.keys.map((k) => k.description)).toContain(apiKeys[0].description);
    expect(page2.keys.map((k) => k.description)).not.toContain(apiKeys[1].description);
  });
});

test('GET /openapi.json is an OpenAPI 3.1.0 document', async ({ api }) => {
  const res = await api.get('/openapi.json');
  const text = await res.text();
  expect(res.status(), text).toBe(200);
  expect(res.headers()['content-type']).toMatch(/json/);
  const doc = JSON.parse(text) as { openapi?: unknown; paths?: Record<string, unknown> };
  expect(doc.openapi).toBe('3.1.0');
  expect(doc.paths).toHaveProperty(['/api_keys']);
});
