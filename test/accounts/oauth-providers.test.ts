import t from 'tap'
import { ADMIN_EMAIL, build, CookieJar, type Harness, providerCallback, signInFlow, type TestContext } from '../helpers/build.js'
import { type FakeProvider, type GitHubAccount, type GoogleAccount, startFakeProvider } from '../helpers/fake-oauth.js'

// GitHub and Google sign-in run against fakes of their OAuth and user APIs: the app's preset
// paths, client authentication, PKCE and profile reading are the real code, only the hosts move.

const CLIENT = { id: 'provider-test-client', secret: 'provider-test-secret' }
const OTHER_EMAIL = 'someone@example.com'

async function app (t: TestContext, provider: 'github' | 'google', fake: FakeProvider<unknown>): Promise<Harness> {
  t.teardown(fake.close)
  return await build(t, { OAUTH_PROVIDER: provider, OAUTH_CLIENT_ID: CLIENT.id, OAUTH_CLIENT_SECRET: CLIENT.secret }, {
    config: (config) => { config.oauth!.endpoints = fake.endpoints }
  })
}

async function github (t: TestContext, account: GitHubAccount) {
  const fake = await startFakeProvider('github', CLIENT, account)
  return { fake, h: await app(t, 'github', fake) }
}

async function google (t: TestContext, account: GoogleAccount) {
  const fake = await startFakeProvider('google', CLIENT, account)
  return { fake, h: await app(t, 'google', fake) }
}

/** /login, the provider's authorize page (which signs its current account in), /login/callback. */
async function signIn (h: Harness, next = '/') {
  const jar = new CookieJar()
  const { start, done } = await signInFlow(h.send(jar), null, next)
  return { jar, start, done }
}

async function isAdmin (h: Harness, jar: CookieJar): Promise<boolean> {
  const page = await h.request(jar, { url: '/admin/content/new' })
  if (page.statusCode !== 200 && page.statusCode !== 403) throw new Error(`/admin/content/new answered ${page.statusCode}`)
  return page.statusCode === 200
}

const users = async (h: Harness) => await h.app.db.selectFrom('users').selectAll().execute()

function octocat (emails: GitHubAccount['emails'], name: string | null = 'The Octocat'): GitHubAccount {
  return { id: 583231, login: 'octocat', name, emails }
}

t.test('GitHub: sign-in goes through the preset paths with PKCE and the client secret, and records the GitHub user', async (t) => {
  const { fake, h } = await github(t, octocat([{ email: 'octo@example.com', primary: true, verified: true }]))
  const { jar, start, done } = await signIn(h, '/library')
  const authorize = new URL(start.headers.location as string)
  t.equal(authorize.origin + authorize.pathname, `${fake.url}/login/oauth/authorize`)
  t.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
  t.equal(done.statusCode, 302, done.body.slice(0, 300))
  t.equal(done.headers.location, '/library')
  t.equal(fake.tokensIssued, 1, 'the token endpoint accepted the client secret and the PKCE verifier')

  const [user, ...more] = await users(h)
  t.equal(more.length, 0)
  t.match(user, { provider: 'github', subject: '583231', email: 'octo@example.com', email_verified: 1, name: 'The Octocat' })
  t.equal((await h.request(jar, { url: '/library' })).statusCode, 200, 'signed in')
  t.notOk(await isAdmin(h, jar))

  // The same GitHub id later, without a display name: the same account, named by its login.
  fake.account = octocat([{ email: 'octo@example.com', primary: true, verified: true }], null)
  t.equal((await signIn(h)).done.statusCode, 302)
  t.match(await users(h), [{ subject: '583231', name: 'octocat' }])
})

t.test('GitHub: a token request whose PKCE verifier does not match is refused and signs nobody in', async (t) => {
  const { fake, h } = await github(t, octocat([{ email: 'octo@example.com', primary: true, verified: true }]))
  const jar = new CookieJar()
  const start = await h.request(jar, { url: '/login' })
  t.ok(jar.cookies.has('oauth2-code-verifier'))
  jar.cookies.set('oauth2-code-verifier', 'a-verifier-that-does-not-match-the-challenge-xx')
  const callback = await providerCallback(start, null)
  const done = await h.request(jar, { url: callback.pathname + callback.search })
  t.equal(done.statusCode, 400)
  t.equal(fake.tokensIssued, 0)
  t.equal((await users(h)).length, 0)
})

t.test('GitHub: admin rights come only from a primary email that GitHub verified', async (t) => {
  const cases: Array<{ name: string, emails: GitHubAccount['emails'], email: string | null, verified: number, admin: boolean }> = [
    {
      name: 'verified primary admin email: admin',
      emails: [{ email: OTHER_EMAIL, primary: false, verified: true }, { email: ADMIN_EMAIL.toUpperCase(), primary: true, verified: true }],
      email: ADMIN_EMAIL.toUpperCase(),
      verified: 1,
      admin: true
    },
    {
      name: 'unverified primary admin email: not admin, even with another verified email',
      emails: [{ email: ADMIN_EMAIL, primary: true, verified: false }, { email: OTHER_EMAIL, primary: false, verified: true }],
      email: ADMIN_EMAIL,
      verified: 0,
      admin: false
    },
    {
      name: 'verified but secondary admin email: not admin; the primary is the email',
      emails: [{ email: OTHER_EMAIL, primary: true, verified: true }, { email: ADMIN_EMAIL, primary: false, verified: true }],
      email: OTHER_EMAIL,
      verified: 1,
      admin: false
    },
    {
      name: 'no primary email at all: no email, not admin',
      emails: [{ email: ADMIN_EMAIL, primary: false, verified: true }],
      email: null,
      verified: 0,
      admin: false
    }
  ]
  for (const [i, c] of cases.entries()) {
    await t.test(c.name, async (t) => {
      const { h } = await github(t, { ...octocat(c.emails), id: 1000 + i })
      const { jar, done } = await signIn(h)
      t.equal(done.statusCode, 302, done.body.slice(0, 300))
      t.match(await users(h), [{ provider: 'github', subject: String(1000 + i), email: c.email, email_verified: c.verified }])
      t.equal(await isAdmin(h, jar), c.admin)
    })
  }
})

t.test('Google: an admin email makes an admin only when Google says it is verified', async (t) => {
  for (const verified of [false, true]) {
    await t.test(`email_verified ${verified}`, async (t) => {
      const { fake, h } = await google(t, { sub: '10769150350006150715113082367', email: ADMIN_EMAIL, email_verified: verified, name: 'Ada' })
      const { jar, start, done } = await signIn(h)
      const authorize = new URL(start.headers.location as string)
      t.equal(authorize.origin + authorize.pathname, `${fake.url}/o/oauth2/v2/auth`)
      t.equal(done.statusCode, 302, done.body.slice(0, 300))
      t.equal(fake.tokensIssued, 1)
      t.match(await users(h), [{ provider: 'google', subject: '10769150350006150715113082367', email: ADMIN_EMAIL, email_verified: verified ? 1 : 0, name: 'Ada' }])
      t.equal(await isAdmin(h, jar), verified)
    })
  }
})

t.test('a provider whose user API answers 500: a 502 page, nobody signed in', async (t) => {
  const accounts = {
    github: octocat([{ email: ADMIN_EMAIL, primary: true, verified: true }]),
    google: { sub: 'g-1', email: ADMIN_EMAIL, email_verified: true, name: 'Ada' }
  }
  for (const provider of ['github', 'google'] as const) {
    await t.test(provider, async (t) => {
      const { fake, h } = provider === 'github' ? await github(t, accounts.github) : await google(t, accounts.google)
      fake.userApiStatus = 500
      const { jar, done } = await signIn(h, '/library')
      t.equal(done.statusCode, 502)
      t.match(done.headers['content-type'], /text\/html/)
      t.match(done.body, /did not tell us who you are/)
      t.equal((await users(h)).length, 0)
      const after = await h.request(jar, { url: '/library' })
      t.equal(after.statusCode, 302, 'still signed out')
    })
  }
})
