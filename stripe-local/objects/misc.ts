import type { JsonObject } from '../json.ts'
import type { Account, EventRec, PortalSessionRec, WebhookEndpointRec } from '../store.ts'
import { emptyAddress, type RenderCtx } from './context.ts'

const requirements = () => ({
  alternatives: [], current_deadline: null, currently_due: [], disabled_reason: null,
  errors: [], eventually_due: [], past_due: [], pending_verification: [],
})

export function renderAccount (a: Account): JsonObject {
  return {
    id: a.id,
    object: 'account',
    business_profile: {
      annual_revenue: null, estimated_worker_count: null, mcc: null, minority_owned_business_designation: null,
      name: 'Stripe local', product_description: null, support_address: emptyAddress(), support_email: null,
      support_phone: null, support_url: null, url: null,
    },
    business_type: 'company',
    capabilities: { card_payments: 'active', transfers: 'active' },
    charges_enabled: true,
    controller: { type: 'account' },
    country: 'US',
    created: a.created,
    default_currency: 'usd',
    details_submitted: true,
    email: `${a.id.toLowerCase()}@stripe-local.invalid`,
    external_accounts: { object: 'list', data: [], has_more: false, url: `/v1/accounts/${a.id}/external_accounts` },
    future_requirements: requirements(),
    metadata: {},
    payouts_enabled: true,
    requirements: requirements(),
    settings: {
      bacs_debit_payments: { display_name: null, service_user_number: null },
      branding: { icon: null, logo: null, primary_color: null, secondary_color: null },
      card_issuing: { tos_acceptance: { date: null, ip: null } },
      card_payments: { decline_on: { avs_failure: false, cvc_failure: false }, statement_descriptor_prefix: null, statement_descriptor_prefix_kana: null, statement_descriptor_prefix_kanji: null },
      dashboard: { display_name: 'Stripe local', timezone: 'Etc/UTC' },
      invoices: { default_account_tax_ids: null, hosted_payment_method_save: 'offer' },
      payments: { statement_descriptor: 'STRIPE LOCAL', statement_descriptor_kana: null, statement_descriptor_kanji: null, statement_descriptor_prefix_kana: null, statement_descriptor_prefix_kanji: null },
      payouts: { debit_negative_balances: true, schedule: { delay_days: 2, interval: 'daily' }, statement_descriptor: null },
      sepa_debit_payments: {},
    },
    tos_acceptance: { date: a.created, ip: '127.0.0.1', user_agent: null },
    type: 'standard',
  }
}

/** Available funds are what the mode's charges took in, less refunds, per currency. */
export function renderBalance (ctx: RenderCtx): JsonObject {
  const net = new Map<string, number>([['usd', 0]])
  for (const ch of ctx.st.all('charge')) {
    if (ch.status === 'succeeded') net.set(ch.currency, (net.get(ch.currency) ?? 0) + ch.amount - ch.amountRefunded)
  }
  const entries = [...net]
  return {
    object: 'balance',
    available: entries.map(([currency, amount]) => ({ amount, currency, source_types: { card: amount } })),
    connect_reserved: entries.map(([currency]) => ({ amount: 0, currency })),
    livemode: ctx.st.livemode,
    pending: entries.map(([currency]) => ({ amount: 0, currency, source_types: { card: 0 } })),
  }
}

export const renderWebhookEndpoint = (w: WebhookEndpointRec): JsonObject => ({
  id: w.id,
  object: 'webhook_endpoint',
  api_version: w.apiVersion,
  application: null,
  created: w.created,
  description: w.description,
  enabled_events: [...w.enabledEvents],
  livemode: w.livemode,
  metadata: { ...w.metadata },
  status: w.status,
  url: w.url,
})

export const renderPortalSession = (p: PortalSessionRec, ctx: RenderCtx): JsonObject => ({
  id: p.id,
  object: 'billing_portal.session',
  configuration: p.configuration,
  created: p.created,
  customer: p.customer,
  customer_account: null,
  flow: null,
  livemode: p.livemode,
  locale: p.locale,
  on_behalf_of: null,
  return_url: p.returnUrl,
  url: `${ctx.baseUrl}/_local/billing-portal/${p.id}`,
})

export const renderEvent = (e: EventRec, apiVersion: string): JsonObject => ({
  id: e.id,
  object: 'event',
  api_version: apiVersion,
  created: e.created,
  data: e.data,
  livemode: e.livemode,
  pending_webhooks: e.pendingWebhooks,
  request: { ...e.request },
  type: e.type,
})
