// Sign-up, login and logout journeys, form errors and CSRF, against the real stack.
import {
  AGENTS_URL,
  LOGIN_URL,
  SIGNUP_URL,
  expect,
  fillLogin,
  fillSignup,
  logIn,
  newAccount,
  signUp,
  test,
} from './fixtures';

test.describe('sign up, log out, log in', () => {
  test('a new account lands on Agents and shows who is signed in', async ({ page }) => {
    const a = newAccount('signup');
    await page.goto('/signup');
    await expect(page.getByTestId('page-title')).toBeVisible();
    await fillSignup(page, a);

    await expect(page).toHaveURL(AGENTS_URL);
    await expect(page.getByTestId('page-title')).toBeVisible();
    await expect(page.getByTestId('user-email')).toHaveText(a.email);
    await expect(page.getByTestId('user-name')).toHaveText(a.name);
    await expect(page.getByTestId('account-name')).toHaveText(a.accountName);
  });

  test('log out ends the session and log in starts a new one', async ({ page }) => {
    const a = newAccount('relogin');
    await signUp(page, a);

    await page.getByTestId('logout').click();
    await expect(page).toHaveURL(LOGIN_URL);
    await expect(page.getByTestId('login-submit')).toBeVisible();

    // The old session is gone: the dashboard sends us back to the login page.
    await page.goto('/agents');
    await expect(page).toHaveURL(LOGIN_URL);
    await expect(page.getByTestId('user-email')).toHaveCount(0);

    await fillLogin(page, a.email, a.password);
    await expect(page).toHaveURL(AGENTS_URL);
    await expect(page.getByTestId('user-email')).toHaveText(a.email);
    await expect(page.getByTestId('user-name')).toHaveText(a.name);
    await expect(page.getByTestId('account-name')).toHaveText(a.accountName);
  });

  test('the demo administrator from the ready file can log in', async ({ page, stack }) => {
    await logIn(page, stack.admin_email, stack.admin_password);
    await expect(page.getByTestId('account-name')).not.toBeEmpty();
  });
});

test.describe('login errors', () => {
  test('a wrong password shows an error and stays on the login page', async ({ page }) => {
    const a = newAccount('wrongpw');
    await signUp(page, a);
    await page.context().clearCookies();

    await page.goto('/login');
    await fillLogin(page, a.email, `${a.password}-wrong`);

    const error = page.getByTestId('form-error');
    await expect(error).toBeVisible();
    await expect(error).toHaveAttribute('role', 'alert');
    await expect(page.getByRole('alert')).toContainText(/\S/);
    await expect(page).toHaveURL(LOGIN_URL);
    await expect(page.getByTestId('user-email')).toHaveCount(0);
  });

  test('an unknown email shows the same kind of error', async ({ page }) => {
    await page.goto('/login');
    await fillLogin(page, newAccount('nobody').email, 'whatever-password-123');
    await expect(page.getByTestId('form-error')).toBeVisible();
    await expect(page).toHaveURL(LOGIN_URL);
  });
});

test.describe('sign-up errors', () => {
  test('a short password and a bad email show field errors, then a fixed form works', async ({ page }) => {
    const a = newAccount('invalid');
    await page.goto('/signup');
    await fillSignup(page, { ...a, email: 'not-an-email', password: 'short' });

    await expect(page.getByTestId('field-error-password')).toBeVisible();
    await expect(page.getByTestId('field-error-email')).toBeVisible();
    await expect(page).toHaveURL(SIGNUP_URL);
    await expect(page.getByTestId('user-email')).toHaveCount(0);
    // The fields the user typed are kept (never the password).
    await expect(page.getByLabel('Account name')).toHaveValue(a.accountName);
    await expect(page.getByLabel('Your name')).toHaveValue(a.name);
    await expect(page.getByLabel('Password', { exact: true })).toHaveValue('');

    // Nothing half-written blocks a correct second attempt.
    await page.getByLabel('Email', { exact: true }).fill(a.email);
    await page.getByLabel('Password', { exact: true }).fill(a.password);
    await page.getByTestId('signup-submit').click();
    await expect(page).toHaveURL(AGENTS_URL);
    await expect(page.getByTestId('user-email')).toHaveText(a.email);
  });

  test('an email that is already registered shows a field error', async ({ page }) => {
    const first = newAccount('dup');
    await signUp(page, first);
    await page.context().clearCookies();

    await page.goto('/signup');
    await fillSignup(page, { ...newAccount('dup2'), email: first.email });
    await expect(page.getByTestId('field-error-email')).toBeVisible();
    await expect(page).toHaveURL(SIGNUP_URL);
    await expect(page.getByTestId('user-email')).toHaveCount(0);

    // The first user is untouched by the failed attempt.
    await logIn(page, first.email, first.password);
    await expect(page.getByTestId('account-name')).toHaveText(first.accountName);
  });

  test('an email that differs only in letter case counts as already registered', async ({ page }) => {
    const first = newAccount('dupcase');
    await signUp(page, first);
    await page.context().clearCookies();

    await page.goto('/signup');
    await fillSignup(page, { ...newAccount('dupcase2'), email: first.email.toUpperCase() });
    await expect(page.getByTestId('field-error-email')).toBeVisible();
    await expect(page).toHaveURL(SIGNUP_URL);
  });
});

test.describe('CSRF', () => {
  for (const path of ['/logout', '/signup', '/login']) {
    test(`a POST to ${path} without the CSRF token is refused with 403`, async ({ request }) => {
      const a = newAccount('csrf');
      const res = await request.post(path, {
        form: { account_name: a.accountName, name: a.name, email: a.email, password: a.password },
        maxRedirects: 0,
      });
      expect(res.status(), `POST ${path} without a token`).toBe(403);
    });
  }

  test('a refused sign-up wrote nothing: the same email can sign up afterwards', async ({ request, page }) => {
    const a = newAccount('csrfsignup');
    const res = await request.post('/signup', {
      form: { account_name: a.accountName, name: a.name, email: a.email, password: a.password },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    await signUp(page, a);
  });

  test('a signed-in session cannot be logged out without the token', async ({ page }) => {
    const a = newAccount('csrflogout');
    await signUp(page, a);

    // page.request shares the browser's cookies, so the session cookie is sent;
    // only the token is missing, as in a cross-site form post.
    const res = await page.request.post('/logout', { form: {}, maxRedirects: 0 });
    expect(res.status()).toBe(403);
    const wrong = await page.request.post('/logout', { form: { _csrf: 'not-the-token' }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);

    await page.reload();
    await expect(page).toHaveURL(AGENTS_URL);
    await expect(page.getByTestId('user-email')).toHaveText(a.email);
  });
});
