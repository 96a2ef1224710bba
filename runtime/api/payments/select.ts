import type { ApiConfig } from '../config.ts';
import { createSimulatedProvider, type PaymentProvider } from './provider.ts';
import { createStripeProvider } from './stripe.ts';

/** The provider PAYMENT_PROVIDER names (the config has refused a stripe setting without its key). */
export function createProvider(
  config: Pick<
    ApiConfig,
    | 'PAYMENT_PROVIDER'
    | 'STRIPE_SECRET_KEY'
    | 'STRIPE_API_BASE'
    | 'STRIPE_API_VERSION'
    | 'STRIPE_TIMEOUT_MS'
    | 'STRIPE_MAX_RETRIES'
  >,
): PaymentProvider {
  if (config.PAYMENT_PROVIDER === 'simulated') return createSimulatedProvider();
  return createStripeProvider({
    apiKey: config.STRIPE_SECRET_KEY ?? '',
    apiBase: config.STRIPE_API_BASE,
    apiVersion: config.STRIPE_API_VERSION,
    timeoutMs: config.STRIPE_TIMEOUT_MS,
    maxRetries: config.STRIPE_MAX_RETRIES,
  });
}
