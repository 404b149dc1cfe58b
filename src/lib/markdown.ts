import MarkdownIt from 'markdown-it'

// Descriptions and the refund policy are written by the store's admins, but a page must stay
// inert whatever they paste: raw HTML is off (it is shown as text), and markdown-it's own
// validateLink refuses javascript:, vbscript:, file: and data: URLs (data: images of common
// types excepted). `breaks`: a line break typed in the form stays a line break, as descriptions
// were shown before they were Markdown.
const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false })

// Links lead away from the store to pages it does not vouch for: no ranking credit for them, and
// no window.opener for the page opened.
const defaultLinkOpen = md.renderer.rules.link_open ?? ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options))
md.renderer.rules.link_open = (tokens, index, options, env, self) => {
  tokens[index]!.attrSet('rel', 'nofollow noopener')
  return defaultLinkOpen(tokens, index, options, env, self)
}

// The same few descriptions are shown over and over: keep their HTML (bounded; the oldest goes
// first). Rendering costs ~15 µs a description, a tenth of a content page's whole budget.
const rendered = new Map<string, string>()
const MAX_KEPT = 500

/** Markdown to HTML that is safe to put in a page as it is. */
export function renderMarkdown (text: string): string {
  let html = rendered.get(text)
  if (html === undefined) {
    html = md.render(text)
    if (rendered.size >= MAX_KEPT) rendered.delete(rendered.keys().next().value!)
    rendered.set(text, html)
  }
  return html
}
