import type { OutboxRow } from '../../db/types.js'
import { renderMarkdown } from '../../lib/markdown.js'
import { isFree } from '../../lib/pricing.js'
import type { Broadcasts } from './broadcasts.js'
import type { Composed, LinkMaker, StoreFacts } from './composed.js'

/** A short mail's content (views/mail/notice.eta and notice-text.eta). */
export interface NoticeData {
  subject: string
  store: StoreFacts
  heading: string
  paragraphs: string[]
  button: { label: string, url: string } | null
  /** Markdown rendered without raw HTML (lib/markdown.ts), and its source for the text part. */
  bodyHtml: string | null
  bodyText: string | null
  footnote: string | null
  unsubscribeUrl: string | null
}

export interface BuyerMailDeps {
  publicUrl: string
  links: LinkMaker
  broadcasts: Broadcasts
  /** The sign-in link of a token id, or null when used or expired (accounts/email-sign-in.ts). */
  signInLink(id: string, now: Date): Promise<{ url: string, expiresAt: string } | null>
  audience: { unsubscribeUrl(email: string): string, isUnsubscribed(email: string): Promise<boolean> }
  receiptFacts(orderId: string): Promise<{ status: string, title: string } | undefined>
}

type Render = (template: string, data: Record<string, unknown>) => Composed
type Store = NoticeData['store']

/** The mails of issue 24: sign-in links, free items by email, updates and messages to buyers. */
export function createBuyerMail (deps: BuyerMailDeps, render: Render) {
  const { publicUrl, links, broadcasts, audience } = deps
  const notice = (data: Omit<NoticeData, 'bodyHtml' | 'bodyText' | 'footnote' | 'unsubscribeUrl'> & Partial<NoticeData>): Composed =>
    render('notice', { bodyHtml: null, bodyText: null, footnote: null, unsubscribeUrl: null, ...data })

  async function signIn (row: OutboxRow, now: Date, store: Store): Promise<Composed | string> {
    const link = row.ref === null ? null : await deps.signInLink(row.ref, now)
    if (link === null) return 'the sign-in link was used or has expired'
    // The token is in the mail: only its subject is kept in the outbox once sent.
    return {
      ...notice({
        subject: `Sign in to ${store.name}`,
        store,
        heading: `Sign in to ${store.name}`,
        paragraphs: [`Press the button to sign in as ${row.to_address}. The link works once, for 15 minutes, in any browser.`],
        button: { label: 'Sign in', url: link.url },
        footnote: 'If you did not ask for this, ignore it: nobody can sign in without this message.'
      }),
      secret: true
    }
  }

  async function free (row: OutboxRow, now: Date, store: Store): Promise<Composed | string> {
    const order = row.order_id === null ? undefined : await deps.receiptFacts(row.order_id)
    if (order === undefined) return 'the item no longer exists'
    if (order.status !== 'paid') return `the order is ${order.status}`
    const link = links.create(row.order_id!, now)
    return notice({
      subject: `Your free PDF from ${store.name}: ${order.title}`,
      store,
      heading: order.title,
      paragraphs: [`Here is the PDF you asked for. The link works for ${links.days} day${links.days === 1 ? '' : 's'}, with no sign-in; sign in with this address any time to find it in your library.`],
      button: { label: 'Download the PDF', url: link.url },
      footnote: 'If you did not ask for this, you can ignore it.'
    })
  }

  /** An update (a new version) or a message: to a buyer who still is one and did not unsubscribe. */
  async function broadcast (row: OutboxRow, now: Date, store: Store): Promise<Composed | string> {
    const facts = row.broadcast_id === null ? undefined : await broadcasts.facts(row.broadcast_id)
    if (facts === undefined) return 'the item no longer exists'
    if (await audience.isUnsubscribed(row.to_address)) return 'the address unsubscribed'
    const orderId = await broadcasts.paidOrderOf(row.to_address, facts.content_id)
    if (orderId === null && !isFree(facts)) return 'no paid order of the item any more (refunded)'
    const itemUrl = `${publicUrl}/content/${encodeURIComponent(facts.slug)}`
    // ?item= picks the item when the order is a bundle's (the link of an order of the item itself ignores it).
    const download = orderId === null ? `${itemUrl}` : `${links.create(orderId, now).url}?item=${encodeURIComponent(facts.slug)}`
    const unsubscribeUrl = audience.unsubscribeUrl(row.to_address)
    const headers = { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
    if (facts.kind === 'update') {
      return {
        ...notice({
          subject: facts.subject,
          store,
          heading: `A new version of ${facts.title}`,
          paragraphs: [`Version ${facts.version ?? ''} of “${facts.title}” is out.${facts.body.trim() === '' ? '' : ' What changed:'}`],
          bodyHtml: facts.body.trim() === '' ? null : renderMarkdown(facts.body),
          bodyText: facts.body.trim() === '' ? null : facts.body,
          button: { label: 'Download the new version', url: download },
          footnote: orderId === null ? null : `The link works for ${links.days} day${links.days === 1 ? '' : 's'}, with no sign-in.`,
          unsubscribeUrl
        }),
        headers
      }
    }
    return {
      ...notice({ subject: facts.subject, store, heading: facts.subject, paragraphs: [], bodyHtml: renderMarkdown(facts.body), bodyText: facts.body, button: { label: facts.title, url: itemUrl }, unsubscribeUrl }),
      headers
    }
  }

  return { signIn, free, broadcast }
}
