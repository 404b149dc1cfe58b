// HTML for the Stripe emulator's human-facing pages (hosted checkout and the
// little payments dashboard). The emulator runs on its own origin, so every
// page carries its own inline CSS instead of relying on the app's stylesheet.
// Amounts go through the app's money module, so the two never disagree about a currency's decimals.
import { formatAmount } from '../services/money.js';

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1f36;background:#fff}
a{color:#4b44d6}
:focus-visible{outline:3px solid #635bff;outline-offset:2px}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;background:#ffd66b;color:#4a2500;font-size:12px;font-weight:700;letter-spacing:.04em}
.wrap{display:flex;flex-wrap:wrap;min-height:100vh}
.summary{flex:1 1 340px;background:#f6f8fa;padding:32px 24px;border-right:1px solid #e3e8ee}
.pay{flex:1 1 340px;padding:32px 24px}
.inner{max-width:400px;margin:0 auto}
.back{display:inline-block;margin-bottom:24px;text-decoration:none;font-weight:600}
.back:hover{text-decoration:underline}
.product{color:#4f566b;margin:24px 0 4px}
.price{font-size:36px;font-weight:700;margin:0}
h1{font-size:20px;margin:0 0 16px}
label{display:block;font-size:14px;font-weight:600;color:#30313d;margin:14px 0 4px}
input[type=text],input[type=email]{width:100%;padding:10px 12px;font:inherit;color:#1a1f36;border:1px solid #8792a2;border-radius:6px;background:#fff}
input[readonly]{background:#f6f8fa}
.row{display:flex;gap:12px}.row>div{flex:1}
fieldset{border:0;padding:0;margin:16px 0 0}
legend{font-size:14px;font-weight:600;color:#30313d;padding:0}
.method{display:flex;align-items:center;gap:8px;border:1px solid #8792a2;border-radius:6px;padding:10px 12px;margin-top:8px;font-weight:500;font-size:15px;cursor:pointer}
.method input{margin:0;width:18px;height:18px}
.method:has(input:checked){border-color:#635bff;box-shadow:0 0 0 1px #635bff}
form:has(#method-bank:checked) .card-fields{display:none}
.bank-note{display:none;color:#4f566b;font-size:14px;margin:12px 0 0}
form:has(#method-bank:checked) .bank-note{display:block}
button{font:inherit;cursor:pointer}
.primary{display:block;width:100%;margin-top:24px;padding:12px;border:0;border-radius:6px;background:#635bff;color:#fff;font-weight:600;font-size:16px}
.primary:hover{background:#4b44d6}
.hint{color:#4f566b;font-size:13px;margin-top:16px}
.error{background:#fff0f0;border:1px solid #df1b41;color:#a4102c;border-radius:6px;padding:10px 12px;margin:0 0 8px;font-weight:500}
.center{max-width:520px;margin:0 auto;padding:48px 24px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:8px;border-bottom:1px solid #e3e8ee;vertical-align:top}
th{color:#4f566b;font-weight:600}
.scroll{overflow-x:auto}
.inline{display:flex;gap:6px;align-items:center;flex-wrap:wrap;margin:0}
.inline label{margin:0;font-weight:500;font-size:13px}
.inline input{width:80px;padding:4px 6px;font:inherit;font-size:13px;border:1px solid #8792a2;border-radius:4px}
.small{padding:4px 10px;border:1px solid #8792a2;border-radius:4px;background:#fff;color:#1a1f36;font-size:13px}
.small:hover{background:#f6f8fa}
code{font-size:13px;word-break:break-all}
td code{display:inline-block;max-width:18ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}td small{white-space:nowrap}td:nth-child(2){min-width:10ch}table{min-width:640px}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#ebeef1;color:#414552}
.pill-complete,.pill-paid{background:#d7f7c2;color:#05690d}.pill-open,.pill-unpaid{background:#fcedb9;color:#7a3a00}.pill-expired{background:#ebeef1;color:#545969}.pill-refunded{background:#e3e8ff;color:#3d2fb0}
@media (max-width:700px){.summary{border-right:0;border-bottom:1px solid #e3e8ee;padding:20px 24px}.product{margin-top:12px}.price{font-size:30px}.pay{padding-top:24px}}
`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>`;
}

export interface CheckoutPageView {
  sessionId: string;
  productName: string;
  amountTotal: number;
  currency: string;
  cancelUrl: string;
  lockedEmail: string | null;
  error?: string;
  values?: { method?: string; email?: string; cardNumber?: string; expiry?: string; cvc?: string; name?: string };
}

export function checkoutPage(view: CheckoutPageView): string {
  const v = view.values ?? {};
  const price = formatAmount(view.amountTotal, view.currency);
  const bank = v.method === 'bank_transfer';
  const email = view.lockedEmail ?? v.email ?? '';
  const attr = (s: string | undefined): string => escapeHtml(s ?? '');
  return layout(
    `Pay ${price}`,
    `<div class="wrap">
<section class="summary" aria-label="Order summary">
<div class="inner">
<a class="back" href="${escapeHtml(view.cancelUrl)}">← Back</a> <span class="badge">TEST MODE</span>
<p class="product">${escapeHtml(view.productName)}</p>
<p class="price">${escapeHtml(price)}</p>
</div>
</section>
<main class="pay">
<div class="inner">
<h1>Pay with card or bank transfer</h1>
${view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : ''}
<form method="post" action="/pay/${encodeURIComponent(view.sessionId)}">
<label for="email">Email</label>
<input type="email" id="email" name="email" autocomplete="email" required value="${attr(email)}"${view.lockedEmail ? ' readonly' : ''}>
<fieldset>
<legend>Payment method</legend>
<label class="method" for="method-card"><input type="radio" id="method-card" name="method" value="card"${bank ? '' : ' checked'}> Card</label>
<label class="method" for="method-bank"><input type="radio" id="method-bank" name="method" value="bank_transfer"${bank ? ' checked' : ''}> Bank transfer (settles in a few seconds)</label>
</fieldset>
<p class="bank-note">Your order is confirmed now; the payment is marked as received once the transfer settles.</p>
<div class="card-fields">
<label for="card_number">Card number</label>
<input type="text" id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" value="${attr(v.cardNumber)}">
<div class="row">
<div><label for="expiry">Expiry (MM / YY)</label>
<input type="text" id="expiry" name="expiry" inputmode="numeric" autocomplete="cc-exp" placeholder="MM / YY" value="${attr(v.expiry)}"></div>
<div><label for="cvc">CVC</label>
<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" value="${attr(v.cvc)}"></div>
</div>
<label for="name">Name on card</label>
<input type="text" id="name" name="name" autocomplete="cc-name" value="${attr(v.name)}">
</div>
<button class="primary" type="submit">Pay ${escapeHtml(price)}</button>
</form>
<p class="hint">Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 9995 is declined. Any future expiry and any CVC.</p>
</div>
</main>
</div>`,
  );
}

export function messagePage(title: string, message: string, links: { href: string; label: string }[] = []): string {
  const linkHtml = links.map((l) => `<p><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a></p>`).join('\n');
  return layout(
    title,
    `<main class="center">
<span class="badge">TEST MODE</span>
<h1 style="margin-top:16px">${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
${linkHtml}
</main>`,
  );
}

export interface DashboardRow {
  id: string;
  productName: string;
  amountTotal: number;
  currency: string;
  status: string;
  paymentStatus: string;
  amountRefunded: number;
  awaitingSettlement: boolean;
  created: number;
}

export function dashboardPage(rows: DashboardRow[], error?: string): string {
  const body = rows
    .map((r) => {
      const id = escapeHtml(r.id);
      const action = (verb: string): string => `/payments/${encodeURIComponent(r.id)}/${verb}`;
      const actions: string[] = [];
      if (r.status === 'open') {
        actions.push(`<a href="/pay/${encodeURIComponent(r.id)}">Open checkout</a>`);
        actions.push(
          `<form class="inline" method="post" action="${action('expire')}"><button class="small" type="submit">Expire</button></form>`,
        );
      }
      if (r.awaitingSettlement) {
        actions.push(
          `<form class="inline" method="post" action="${action('settle')}"><input type="hidden" name="outcome" value="succeeded"><button class="small" type="submit">Settle now</button></form>`,
          `<form class="inline" method="post" action="${action('settle')}"><input type="hidden" name="outcome" value="failed"><button class="small" type="submit">Fail transfer</button></form>`,
        );
      }
      if (r.paymentStatus === 'paid' && r.amountRefunded < r.amountTotal) {
        actions.push(`<form class="inline" method="post" action="${action('refund')}">
<label for="amount-${id}">Amount</label>
<input type="text" id="amount-${id}" name="amount" inputmode="decimal" placeholder="all">
<button class="small" type="submit">Refund</button></form>`);
      }
      return `<tr>
<td><code title="${id}">${id}</code><br><small>${escapeHtml(new Date(r.created * 1000).toLocaleString('en-US'))}</small></td>
<td>${escapeHtml(r.productName)}</td>
<td>${escapeHtml(formatAmount(r.amountTotal, r.currency))}</td>
<td><span class="pill pill-${escapeHtml(r.status)}">${escapeHtml(r.status)}</span></td>
<td><span class="pill pill-${escapeHtml(r.amountRefunded >= r.amountTotal && r.amountTotal > 0 ? 'refunded' : r.paymentStatus)}">${escapeHtml(r.amountRefunded >= r.amountTotal && r.amountTotal > 0 ? 'refunded' : r.paymentStatus)}</span>${r.awaitingSettlement ? ' <small>(transfer pending)</small>' : ''}</td>
<td>${r.amountRefunded > 0 ? escapeHtml(formatAmount(r.amountRefunded, r.currency)) : '—'}</td>
<td>${actions.join('\n')}</td>
</tr>`;
    })
    .join('\n');
  return layout(
    'Payments (Stripe emulator)',
    `<main style="padding:24px;max-width:1100px;margin:0 auto">
<span class="badge">TEST MODE</span>
<h1 style="margin-top:16px">Payments</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
${
  rows.length === 0
    ? '<p>No checkout sessions yet.</p>'
    : `<div class="scroll"><table>
<thead><tr><th scope="col">Session</th><th scope="col">Product</th><th scope="col">Amount</th><th scope="col">Status</th><th scope="col">Payment</th><th scope="col">Refunded</th><th scope="col">Actions</th></tr></thead>
<tbody>
${body}
</tbody>
</table></div>
<p class="hint">Refund amount is optional (e.g. 1.50); leave it empty to refund the rest.</p>`
}
</main>`,
  );
}
