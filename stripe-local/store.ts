import type { JsonObject } from './json.ts'
import { newId, nowSeconds, randomAlnum } from './ids.ts'

export type Mode = 'test' | 'live'
export type Metadata = Record<string, string>

interface Base { id: string; seq: number; created: number; livemode: boolean }

export interface CustomerRec extends Base {
  kind: 'customer'
  email: string | null; name: string | null; description: string | null; phone: string | null
  metadata: Metadata; invoicePrefix: string; nextInvoiceSequence: number
  defaultPaymentMethod: string | null; currency: string | null; delinquent: boolean
}
export interface ProductRec extends Base {
  kind: 'product'
  name: string; description: string | null; active: boolean; metadata: Metadata
  defaultPrice: string | null; updated: number; images: string[]; url: string | null; unitLabel: string | null
}
/** `trialPeriodDays`: reported on the price only (Stripe applies it to subscriptions created without Checkout, which stripe-local does not). */
export interface Recurring { interval: 'day' | 'week' | 'month' | 'year'; intervalCount: number; trialPeriodDays?: number | null }
export interface PriceRec extends Base {
  kind: 'price'
  product: string; unitAmount: number; currency: string; recurring: Recurring | null; active: boolean
  nickname: string | null; lookupKey: string | null; metadata: Metadata
}
export interface CheckoutLine { id: string; price: string; quantity: number }
export interface CheckoutSessionRec extends Base {
  kind: 'checkout.session'
  mode: 'payment' | 'subscription'; status: 'open' | 'complete' | 'expired'
  paymentStatus: 'paid' | 'unpaid' | 'no_payment_required'
  lines: CheckoutLine[]; currency: string
  customer: string | null; customerEmail: string | null; customerCreation: 'always' | 'if_required' | null
  customerDetails: { email: string | null; name: string | null } | null
  clientReferenceId: string | null; metadata: Metadata
  successUrl: string | null; cancelUrl: string | null; returnUrl: string | null; uiMode: string | null; locale: string | null
  expiresAt: number; allowPromotionCodes: boolean | null
  trialPeriodDays: number | null; subscriptionMetadata: Metadata; subscriptionDescription: string | null
  paymentIntentMetadata: Metadata; paymentIntentDescription: string | null
  subscription: string | null; invoice: string | null; paymentIntent: string | null
}
export interface SubscriptionItemRec {
  id: string; created: number; price: string; quantity: number; metadata: Metadata
  periodStart: number; periodEnd: number
}
export type SubscriptionStatus = 'active' | 'trialing' | 'past_due' | 'canceled' | 'unpaid' | 'incomplete' | 'incomplete_expired' | 'paused'
export interface SubscriptionRec extends Base {
  kind: 'subscription'
  customer: string; status: SubscriptionStatus; items: SubscriptionItemRec[]; currency: string
  metadata: Metadata; description: string | null; defaultPaymentMethod: string | null; latestInvoice: string | null
  cancelAtPeriodEnd: boolean; cancelAt: number | null; canceledAt: number | null; endedAt: number | null
  cancellationReason: 'cancellation_requested' | 'payment_disputed' | 'payment_failed' | null
  trialStart: number | null; trialEnd: number | null; startDate: number; billingCycleAnchor: number
}
export interface InvoiceLineRec {
  id: string; amount: number; description: string; price: string; product: string; quantity: number
  periodStart: number; periodEnd: number; subscriptionItem: string | null; proration: boolean
}
export interface InvoicePaymentRec { id: string; created: number; paymentIntent: string; amount: number; status: 'open' | 'paid' | 'canceled'; paidAt: number | null }
export interface InvoiceRec extends Base {
  kind: 'invoice'
  customer: string; subscription: string | null
  billingReason: 'subscription_create' | 'subscription_cycle' | 'subscription_update' | 'manual'
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible'
  lines: InvoiceLineRec[]; currency: string; number: string | null
  attemptCount: number; attempted: boolean; nextPaymentAttempt: number | null
  periodStart: number; periodEnd: number; finalizedAt: number | null; paidAt: number | null
  payments: InvoicePaymentRec[]; metadata: Metadata; subscriptionMetadata: Metadata
  customerEmail: string | null; customerName: string | null; autoAdvance: boolean
}
export interface CardError { code: string; declineCode: string; message: string; charge: string | null; paymentMethod: string }
export interface PaymentIntentRec extends Base {
  kind: 'payment_intent'
  amount: number; amountReceived: number; currency: string; customer: string | null
  description: string | null; metadata: Metadata; receiptEmail: string | null
  status: 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'requires_capture' | 'canceled' | 'succeeded'
  paymentMethod: string | null; latestCharge: string | null; canceledAt: number | null
  cancellationReason: string | null; lastError: CardError | null; clientSecret: string
  paymentMethodTypes: string[]; shipping: JsonObject | null
}
export interface ChargeRec extends Base {
  kind: 'charge'
  amount: number; amountRefunded: number; currency: string; customer: string | null
  description: string | null; metadata: Metadata; paymentIntent: string; paymentMethod: string
  status: 'succeeded' | 'failed'; failure: CardError | null; receiptEmail: string | null
  balanceTransaction: string | null; billingName: string | null; billingEmail: string | null
}
export interface RefundRec extends Base {
  kind: 'refund'
  amount: number; charge: string; paymentIntent: string; currency: string
  reason: string | null; metadata: Metadata; paymentMethod: string; balanceTransaction: string
}
export interface Card { brand: string; last4: string; funding: string; declineCode: string | null }
export interface PaymentMethodRec extends Base {
  kind: 'payment_method'
  customer: string | null; card: Card; billingEmail: string | null; billingName: string | null
}
export interface WebhookEndpointRec extends Base {
  kind: 'webhook_endpoint'
  url: string; enabledEvents: string[]; secret: string; description: string | null
  metadata: Metadata; apiVersion: string | null; status: 'enabled' | 'disabled'
  /** Local only (never rendered): every delivery to this endpoint is dropped and marked failed, as an endpoint that is down. */
  dropDeliveries?: boolean
}
export interface PortalSessionRec extends Base {
  kind: 'billing_portal.session'
  customer: string; returnUrl: string | null; locale: string | null; configuration: string
}
export interface EventRec extends Base {
  kind: 'event'
  type: string; data: JsonObject; request: { id: string | null; idempotency_key: string | null }
  pendingWebhooks: number
}

export type Rec = CustomerRec | ProductRec | PriceRec | CheckoutSessionRec | SubscriptionRec | InvoiceRec
  | PaymentIntentRec | ChargeRec | RefundRec | PaymentMethodRec | WebhookEndpointRec | PortalSessionRec | EventRec
export type Kind = Rec['kind']
export type RecOf<K extends Kind> = Extract<Rec, { kind: K }>
export type NewRec<R extends Rec> = Omit<R, 'seq'>

export interface StoredResponse { fingerprint: string; status: number; body: string; requestId: string }

/** One account's objects in one mode; ids are unique, creation order is kept for lists. */
export class ModeState {
  readonly objects = new Map<string, Rec>()
  readonly idempotency = new Map<string, StoredResponse>()
  private seq = 0

  constructor (readonly livemode: boolean) {}

  put<R extends Rec> (rec: NewRec<R>): R {
    const stored = { ...rec, seq: ++this.seq } as R
    this.objects.set(rec.id, stored)
    return stored
  }

  get<K extends Kind> (kind: K, id: string): RecOf<K> | undefined {
    const rec = this.objects.get(id)
    return rec?.kind === kind ? rec as RecOf<K> : undefined
  }

  /** Newest first, as Stripe lists. */
  all<K extends Kind> (kind: K): Array<RecOf<K>> {
    const out: Array<RecOf<K>> = []
    for (const rec of this.objects.values()) if (rec.kind === kind) out.push(rec as RecOf<K>)
    return out.reverse()
  }

  remove (id: string): void {
    this.objects.delete(id)
  }
}

export interface ModeKeys { secret_key: string; publishable_key: string; restricted_key: string }
export interface DeliveryOptions { duplicate: number; shuffle: boolean; delay_ms: number }

export interface Account {
  id: string; created: number; clockOffset: number; portalConfiguration: string
  keys: Record<Mode, ModeKeys>; modes: Record<Mode, ModeState>; delivery: DeliveryOptions
  /** Local only: the next `remaining` API requests of this account answer 429 with `Retry-After: retryAfter`. */
  rateLimit: { remaining: number; retryAfter: number }
}

type AccountKeys = { secret_key: string; publishable_key: string; restricted_key: string }
// a type alias (not an interface) so that it is also a plain JSON object
export type LocalAccount = { account_id: string; test: AccountKeys; live: AccountKeys }

export class Store {
  readonly accounts = new Map<string, Account>()
  private readonly keys = new Map<string, { account: Account; mode: Mode }>()

  createAccount (): Account {
    const keysFor = (mode: Mode): ModeKeys => ({
      secret_key: `sk_${mode}_${randomAlnum(40)}`,
      publishable_key: `pk_${mode}_${randomAlnum(40)}`,
      restricted_key: `rk_${mode}_${randomAlnum(40)}`,
    })
    const account: Account = {
      id: newId('acct', 16),
      created: nowSeconds(),
      clockOffset: 0,
      portalConfiguration: newId('bpc'),
      keys: { test: keysFor('test'), live: keysFor('live') },
      modes: { test: new ModeState(false), live: new ModeState(true) },
      delivery: { duplicate: 0, shuffle: false, delay_ms: 0 },
      rateLimit: { remaining: 0, retryAfter: 1 },
    }
    this.accounts.set(account.id, account)
    for (const mode of ['test', 'live'] as const) {
      this.keys.set(account.keys[mode].secret_key, { account, mode })
      this.keys.set(account.keys[mode].restricted_key, { account, mode })
    }
    return account
  }

  bySecretKey (key: string): { account: Account; mode: Mode } | undefined {
    return this.keys.get(key)
  }
}

export const accountView = (a: Account): LocalAccount => ({ account_id: a.id, test: { ...a.keys.test }, live: { ...a.keys.live } })

export const accountNow = (a: Account): number => nowSeconds() + a.clockOffset
