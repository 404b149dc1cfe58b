import fp from 'fastify-plugin'
import { createEmailSignIn, type EmailSignIn } from './email-sign-in.js'
import { createUsers, type Users } from './users.js'

export { LINKS_PER_ADDRESS, LINKS_PER_CLIENT, SIGN_IN_MINUTES } from './email-sign-in.js'
export type { EmailSignIn } from './email-sign-in.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
    /** Sign-in links sent by email (the outbox composes the mail from a token's id). */
    emailSignIn: EmailSignIn
  }
}

/** Accounts and their sign-ins. */
export default fp(async function users (app) {
  const { config, database } = app
  app.decorate('users', createUsers({ db: database.db, runner: database.runner, adminEmails: config.adminEmails, sessionDays: config.sessionDays, changeStamp: database.changeStamp }))
  app.decorate('emailSignIn', createEmailSignIn({ db: database.db, runner: database.runner, secret: config.sessionSecret, publicUrl: config.publicUrl }))
}, { name: 'users', dependencies: ['database'] })
