import { createHash, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type Stripe from 'stripe'
import type { Db } from '../../platform/db/client.ts'
import { AppError, badRequest, conflict } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { StripeResolver } from '../stripe-accounts/resolver.ts'
import { attachStripeCustomer, claimCustomer, findCustomer } from './customer-repository.ts'
import { BLOCKING_STATUSES, findSubscriptionIn, insertPendingTransaction } from './end-user-repository.ts'
import type { CheckoutBody, CheckoutMode } from './schemas.ts'
import { callStripe, idempotencyKey, stripeFor } from '../stripe-accounts/access.ts'
import { purchaseMetadata } from '../credits/model.ts'
import { packageForPurchase, topUpTerms } from '../credits/repository.ts'
import { unixToIso } from '../../platform/time.ts'

export interface CheckoutDeps {
  db: Db
  resolver: StripeResolver
  log: FastifyBaseLogger
}

export interface EndUserRef { projectId: string, endUserId: string, mode: Mode }

export interface CheckoutResult { session_id: string, url: string, mode: CheckoutMode, expires_at: string }

const priceProblem = (code: string, detail: string, priceId: string): AppError => badRequest(code, detail, { price_id: priceId })

/** What checkout and plan changes accept: an active price of the right type with a fixed unit amount. */
export async function retrievePrice (stripe: Stripe, priceId: string): Promise<Stripe.Price> {
  let price: Stripe.Price
  try {
    price = await callStripe(() => stripe.prices.retrieve(priceId, { expand: ['product'] }))
  } catch (err) {
    if (err instanceof AppError && err.extra.stripe_code === 'resource_missing') {
      throw badRequest('price_not_found', `Stripe has no price ${priceId} in this project's account and mode`, { price_id: priceId, ...err.extra })
    }
    throw err
  }
  if (!price.active) throw priceProblem('price_inactive', `The price ${priceId} is not active`, priceId)
  if (price.unit_amount === null) throw priceProblem('price_unsupported', `The price ${priceId} has no fixed unit amount (tiered or custom prices are not supported)`, priceId)
  return price
}

export const productName = (price: Stripe.Price): string | null =>
  typeof price.product === 'object' && !('deleted' in price.product && price.product.deleted) && 'name' in price.product ? price.product.name : null

/**
 * The id of a checkout's pending transaction, chosen before the Stripe call so the payment's metadata
 * names it. With the client's Idempotency-Key it is derived from it: a repeated request sends Stripe
 * the same parameters (Stripe answers with the same session) and finds the same row.
 */
function transactionIdFor (ref: EndUserRef, clientKey: string | undefined): string {
  if (!clientKey) return randomUUID()
  const h = createHash('sha256').update(['checkout-transaction', ref.projectId, ref.mode, ref.endUserId, clientKey].join('\u0000')).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Absolute http(s) URLs only: the schema checks the shape, this checks that it parses as one. */
function assertHttpUrl (field: string, value: string): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw badRequest('invalid_url', `${field} must be an absolute http(s) URL`, { field })
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw badRequest('invalid_url', `${field} must be an absolute http(s) URL`, { field })
}

export function createCheckoutService ({ db, resolver, log }: CheckoutDeps) {
  /**
   * The one Stripe customer of (project, mode, end user). The row is claimed first (the unique
   * index admits one); every racer then creates the customer at Stripe with the same idempotency
   * key and the same parameters, so Stripe answers all of them with the one customer, and the
   * first to store its id wins (the others store nothing and read it back).
   */
  async function customerFor (stripe: Stripe, ref: EndUserRef): Promise<{ id: string, created: boolean }> {
    const claimed = await claimCustomer(db, ref.projectId, ref.mode, ref.endUserId)
    if (claimed.stripeCustomerId) return { id: claimed.stripeCustomerId, created: false }
    const metadata = { project_id: ref.projectId, end_user_id: ref.endUserId, mode: ref.mode }
    const customer = await callStripe(() => stripe.customers.create({ metadata }, {
      idempotencyKey: idempotencyKey('customer', ref.projectId, ref.mode, ref.endUserId),
    }))
    const stored = await attachStripeCustomer(db, claimed.id, customer.id)
    if (!stored?.stripeCustomerId) throw new Error('customer row lost its claim')
    if (stored.stripeCustomerId !== customer.id) log.warn({ kept: stored.stripeCustomerId, dropped: customer.id }, 'two Stripe customers for one end user; kept the first')
    return { id: stored.stripeCustomerId, created: true }
  }

  /** Refuses a second subscription; asks Stripe too, because the webhook of a just-finished checkout may not have arrived. */
  async function assertNoSubscription (stripe: Stripe, ref: EndUserRef, customerId: string, newCustomer: boolean): Promise<void> {
    const local = await findSubscriptionIn(db, ref.projectId, ref.mode, ref.endUserId, BLOCKING_STATUSES, customerId)
    let existing = local?.stripeSubscriptionId
    if (!existing && !newCustomer) {
      const list = await callStripe(() => stripe.subscriptions.list({ customer: customerId, status: 'all', limit: 20 }))
      existing = list.data.find((s) => (BLOCKING_STATUSES as readonly string[]).includes(s.status))?.id
    }
    if (existing) {
      throw conflict('subscription_exists', 'You already have a subscription in this mode; change its plan with POST /api/v1/payments/stripe/update-subscription', {
        stripe_subscription_id: existing, update_url: '/api/v1/payments/stripe/update-subscription',
      })
    }
  }

  /** The customer's open subscription-mode checkout sessions at Stripe. */
  async function openSubscriptionCheckouts (stripe: Stripe, customerId: string): Promise<Stripe.Checkout.Session[]> {
    const open = await callStripe(() => stripe.checkout.sessions.list({ customer: customerId, status: 'open', limit: 100 }))
    return open.data.filter((s) => s.mode === 'subscription')
  }

  /**
   * At most one open subscription-mode checkout per end user and mode: the earlier ones are expired
   * at Stripe before a new one is made (a request repeated with its Idempotency-Key keeps its own
   * session, named by `checkout_request` in the metadata). A session that completed meanwhile cannot
   * be expired; the subscription check that follows then finds its subscription (409).
   */
  async function expireCheckouts (stripe: Stripe, sessions: Stripe.Checkout.Session[], keep: (s: Stripe.Checkout.Session) => boolean): Promise<void> {
    for (const s of sessions) {
      if (keep(s)) continue
      await callStripe(() => stripe.checkout.sessions.expire(s.id)).catch((err: unknown) => {
        // Completed or expired in the meantime: nothing left open to expire.
        if (err instanceof AppError && err.status < 500) { log.info({ session: s.id }, 'an earlier checkout session was no longer open'); return }
        throw err
      })
    }
  }

  /** The pending transaction of a payment-mode session; no session may take money without one, so a failed insert expires it. */
  async function recordPending (stripe: Stripe, session: Stripe.Checkout.Session, row: Parameters<typeof insertPendingTransaction>[1]): Promise<void> {
    try {
      await insertPendingTransaction(db, row)
    } catch (err) {
      await stripe.checkout.sessions.expire(session.id).catch((expireErr: unknown) => log.error({ err: expireErr, session: session.id }, 'could not expire an unrecorded checkout session'))
      throw err
    }
  }

  const sessionResult = (session: Stripe.Checkout.Session, mode: CheckoutMode): CheckoutResult => {
    if (!session.url) throw new AppError(502, 'stripe_api_error', 'Bad gateway', 'Stripe returned a checkout session without a URL')
    return { session_id: session.id, url: session.url, mode, expires_at: unixToIso(session.expires_at) }
  }

  /**
   * A custom amount of credits: the amount within the project's top-up bounds, the price built here
   * (price_data), never taken from the client; amount × credits_per_unit credits once it is paid.
   */
  async function topUpSession (stripe: Stripe, developerId: string, ref: EndUserRef, body: CheckoutBody, clientKey: string | undefined): Promise<CheckoutResult> {
    const amount = body.top_up_amount ?? 0
    if (body.price_id !== undefined) throw badRequest('price_or_top_up', 'Give price_id or top_up_amount, not both')
    if (body.mode === 'subscription' || body.trial_period_days !== undefined || (body.quantity ?? 1) !== 1) {
      throw badRequest('top_up_one_time', 'A top-up is one payment of one amount: no subscription mode, trial or quantity')
    }
    const terms = await topUpTerms(db, ref)
    if (!terms) throw badRequest('top_up_not_offered', `The project offers no top-up in ${ref.mode} mode`)
    if (amount < terms.minAmount || amount > terms.maxAmount) {
      throw badRequest('top_up_out_of_bounds', `top_up_amount must be between ${terms.minAmount} and ${terms.maxAmount} (${terms.currency} minor units)`, { min_amount: terms.minAmount, max_amount: terms.maxAmount, currency: terms.currency })
    }
    const customer = await customerFor(stripe, ref)
    const transactionId = transactionIdFor(ref, clientKey)
    const credits = amount * terms.creditsPerUnit
    const metadata = { project_id: ref.projectId, end_user_id: ref.endUserId, mode: ref.mode, ...purchaseMetadata(transactionId, credits, terms.expiresInDays) }
    const session = await callStripe(() => stripe.checkout.sessions.create({
      mode: 'payment',
      customer: customer.id,
      client_reference_id: ref.endUserId,
      line_items: [{ quantity: 1, price_data: { currency: terms.currency, unit_amount: amount, product_data: { name: `${credits} credits` } } }],
      success_url: body.success_url,
      cancel_url: body.cancel_url,
      metadata,
      payment_intent_data: { metadata },
    }, clientKey ? { idempotencyKey: idempotencyKey('checkout', ref.projectId, ref.mode, ref.endUserId, clientKey) } : {}))
    await recordPending(stripe, session, {
      id: transactionId, developerId, projectId: ref.projectId, mode: ref.mode, endUserId: ref.endUserId, amount, currency: terms.currency,
      description: `${credits} credits`, stripeCustomerId: customer.id, stripeCheckoutSessionId: session.id,
    })
    return sessionResult(session, 'payment')
  }

  return {
    async createSession (ref: EndUserRef, body: CheckoutBody, clientKey: string | undefined): Promise<CheckoutResult> {
      assertHttpUrl('success_url', body.success_url)
      assertHttpUrl('cancel_url', body.cancel_url)
      const quantity = body.quantity ?? 1
      const { stripe, developerId } = await stripeFor(resolver, ref.projectId, ref.mode, true)
      if (body.top_up_amount !== undefined) return topUpSession(stripe, developerId, ref, body, clientKey)
      if (body.price_id === undefined) throw badRequest('price_required', 'Give price_id, or top_up_amount for a custom amount of credits')

      const price = await retrievePrice(stripe, body.price_id)
      const recurring = price.type === 'recurring'
      const checkoutMode: CheckoutMode = body.mode ?? (recurring ? 'subscription' : 'payment')
      if (checkoutMode === 'subscription' && !recurring) throw priceProblem('price_mode_mismatch', `The price ${price.id} is one-time; subscription mode needs a recurring price`, price.id)
      if (checkoutMode === 'payment' && recurring) throw priceProblem('price_mode_mismatch', `The price ${price.id} is recurring; payment mode needs a one-time price`, price.id)
      if (body.trial_period_days !== undefined && checkoutMode !== 'subscription') throw badRequest('trial_requires_subscription', 'trial_period_days applies to subscription mode only')

      const customer = await customerFor(stripe, ref)
      const request = clientKey ? createHash('sha256').update(`checkout-request\u0000${clientKey}`).digest('hex').slice(0, 32) : undefined
      if (checkoutMode === 'subscription') {
        if (!customer.created) await expireCheckouts(stripe, await openSubscriptionCheckouts(stripe, customer.id), (s) => request !== undefined && s.metadata?.checkout_request === request)
        await assertNoSubscription(stripe, ref, customer.id, customer.created)
      }

      const transactionId = transactionIdFor(ref, clientKey)
      const pkg = checkoutMode === 'payment' ? await packageForPurchase(db, ref, price.id) : null
      if (pkg && !pkg.active) throw conflict('package_retired', `The credits package ${price.id} is retired: it sells no more credits`, { price_id: price.id })
      const metadata = {
        project_id: ref.projectId, end_user_id: ref.endUserId, mode: ref.mode,
        ...(checkoutMode === 'payment' ? { transaction_id: transactionId } : {}),
        ...(pkg ? purchaseMetadata(transactionId, pkg.credits * quantity, pkg.expiresInDays) : {}),
      }
      const params: Stripe.Checkout.SessionCreateParams = {
        mode: checkoutMode,
        customer: customer.id,
        client_reference_id: ref.endUserId,
        line_items: [{ price: price.id, quantity }],
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        metadata: checkoutMode === 'subscription' && request ? { ...metadata, checkout_request: request } : metadata,
        ...(body.allow_promotion_codes !== undefined ? { allow_promotion_codes: body.allow_promotion_codes } : {}),
        ...(checkoutMode === 'subscription'
          ? { subscription_data: { metadata, ...(body.trial_period_days ? { trial_period_days: body.trial_period_days } : {}) } }
          : { payment_intent_data: { metadata } }),
      }
      // Without a client key the SDK's own retry key applies; with one, a repeated request returns the same session.
      const session = await callStripe(() => stripe.checkout.sessions.create(params,
        clientKey ? { idempotencyKey: idempotencyKey('checkout', ref.projectId, ref.mode, ref.endUserId, clientKey) } : {}))
      if (!session.url) throw new AppError(502, 'stripe_api_error', 'Bad gateway', 'Stripe returned a checkout session without a URL')

      if (checkoutMode === 'subscription') {
        // Two requests at once both passed the check above: the newest session (created, then id) stays open.
        const newest = (a: Stripe.Checkout.Session, b: Stripe.Checkout.Session) => (a.created !== b.created ? a.created > b.created : a.id > b.id)
        let winner: Stripe.Checkout.Session = session
        const open = await openSubscriptionCheckouts(stripe, customer.id)
        for (const s of open) if (newest(s, winner)) winner = s
        await expireCheckouts(stripe, open, (s) => s.id === winner.id)
        if (winner.id !== session.id) {
          throw conflict('checkout_superseded', 'Another subscription checkout for you started at the same moment; use that one (this one is expired)', { session_id: winner.id })
        }
      }

      if (checkoutMode === 'payment') {
        await recordPending(stripe, session, {
          id: transactionId,
          developerId,
            projectId: ref.projectId,
            mode: ref.mode,
            endUserId: ref.endUserId,
          amount: (price.unit_amount ?? 0) * quantity,
          currency: price.currency,
          description: productName(price) ?? price.nickname ?? null,
          stripeCustomerId: customer.id,
          stripeCheckoutSessionId: session.id,
        })
      }
      return sessionResult(session, checkoutMode)
    },

    async portal (ref: EndUserRef, returnUrl: string): Promise<{ url: string }> {
      assertHttpUrl('return_url', returnUrl)
      const { stripe } = await stripeFor(resolver, ref.projectId, ref.mode, true)
      const customer = await findCustomer(db, ref.projectId, ref.mode, ref.endUserId)
      if (!customer?.stripeCustomerId) throw new AppError(404, 'no_customer', 'Not found', 'No Stripe customer yet: start a checkout first')
      const customerId = customer.stripeCustomerId
      const session = await callStripe(() => stripe.billingPortal.sessions.create({ customer: customerId, return_url: returnUrl }))
      return { url: session.url }
    },
  }
}
