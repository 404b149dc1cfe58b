import oauth2, { type FastifyOAuth2Options, type OAuth2Namespace, type ProviderConfiguration } from '@fastify/oauth2'
import fp from 'fastify-plugin'
import type { OAuthConfig } from '../../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuth2Namespace
  }
}

// The presets exist on the plugin function at run time; its type declaration does not show them.
const presets = oauth2 as unknown as Record<'GITHUB_CONFIGURATION' | 'GOOGLE_CONFIGURATION', ProviderConfiguration>

/** The preset's hosts and paths, or the ones a test set on the config (see OAuthConfig.endpoints). */
function endpointsOf (oauth: OAuthConfig, preset: ProviderConfiguration): ProviderConfiguration {
  const own = oauth.endpoints
  if (own === undefined) return preset
  // Only simple-oauth2's keys: it rejects unknown ones such as apiBaseUrl.
  return {
    authorizeHost: own.authorizeHost,
    authorizePath: own.authorizePath ?? preset.authorizePath,
    tokenHost: own.tokenHost,
    tokenPath: own.tokenPath ?? preset.tokenPath
  }
}

function providerOptions (oauth: OAuthConfig): Partial<FastifyOAuth2Options> {
  const client = { id: oauth.clientId, secret: oauth.clientSecret }
  switch (oauth.provider) {
    case 'github':
      return { scope: ['read:user', 'user:email'], pkce: 'S256', credentials: { client, auth: endpointsOf(oauth, presets.GITHUB_CONFIGURATION) } }
    case 'google':
      return { scope: ['openid', 'email', 'profile'], pkce: 'S256', credentials: { client, auth: endpointsOf(oauth, presets.GOOGLE_CONFIGURATION) } }
    case 'oidc':
      // Discovery fills in the endpoints and picks PKCE S256 when the provider advertises it.
      return { scope: ['openid', 'email', 'profile'], discovery: { issuer: oauth.issuer! }, credentials: { client } }
  }
}

/** Sign-in with the configured provider: state, PKCE, and the provider's endpoints. */
export default fp(async function oauth2Plugin (app) {
  const { config } = app
  // Email sign-in alone (no OAUTH_PROVIDER): there is no provider to talk to.
  if (config.oauth === null) return
  const secureOrigin = config.publicUrl.startsWith('https:')
  await app.register(oauth2, {
    name: 'oauth',
    ...providerOptions(config.oauth),
    callbackUri: `${config.publicUrl}/login/callback`,
    // __Host- cookies cannot be planted by a sibling subdomain; they need HTTPS in the browser.
    hostPrefixedCookies: secureOrigin,
    cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: secureOrigin || config.production }
  } as FastifyOAuth2Options)
}, { name: 'oauth2' })
