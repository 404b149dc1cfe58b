import { formatAmount } from '../../lib/money.js'
import type { Dashboard } from './sales.js'

/** The chart's geometry: 30 bars in a 300 x 100 box (stretched to the width it gets), tallest at the top. */
export interface SalesChart {
  bars: Array<{ x: number, y: number, height: number, label: string }>
  max: string
  total: string
  summary: string
  days: Array<{ day: string, amount: string, sales: number }>
  first: string
  last: string
}

const dayLabel = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' })
const dayOf = (day: string): string => dayLabel.format(new Date(`${day}T00:00:00Z`))

export function salesChart (dashboard: Dashboard): SalesChart {
  const { daily, currency } = dashboard
  const top = Math.max(0, ...daily.map((d) => d.amount))
  const total = daily.reduce((sum, d) => sum + d.amount, 0)
  const sales = daily.reduce((sum, d) => sum + d.sales, 0)
  const best = daily.reduce((a, b) => (b.amount > a.amount ? b : a), daily[0]!)
  const bars = daily.map((d, i) => {
    // A day without sales keeps a sliver, so the 30 days read as a row.
    const height = top === 0 ? 0.8 : Math.max(0.8, (d.amount / top) * 96)
    return { x: i * 10 + 1.5, y: 100 - height, height, label: `${dayOf(d.day)}: ${formatAmount(d.amount, currency)} (${d.sales} ${d.sales === 1 ? 'sale' : 'sales'})` }
  })
  const summary = sales === 0
    ? 'No sales in the last 30 days.'
    : `${formatAmount(total, currency)} from ${sales} ${sales === 1 ? 'sale' : 'sales'} in the last 30 days; the best day was ${dayOf(best.day)} with ${formatAmount(best.amount, currency)}.`
  return {
    bars,
    max: formatAmount(top, currency),
    total: formatAmount(total, currency),
    summary,
    days: daily.map((d) => ({ day: dayOf(d.day), amount: formatAmount(d.amount, currency), sales: d.sales })),
    first: dayOf(daily[0]!.day),
    last: dayOf(daily[daily.length - 1]!.day)
  }
}
