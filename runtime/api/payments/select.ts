import type { ApiConfig } from '../config.ts';
import { createSimulatedProvider, type PaymentProvider } from './provider.ts';
import { createStripeProvider } from './stripe.ts';

/** The provider PAYMENT_PROVIDER names (the config has refused a stripe setting without its key). */
export function createProvider(
  config: Pick<
    ApiConfig,
    | 'paymentProvider'
    | 'stripeSecretKey'
    | 'stripeApiBase'
    | 'stripeApiVersion'
    | 'stripeTimeoutMs'
    | 'stripeMaxRetries'
  >,
): PaymentProvider {
  if (config.paymentProvider === 'simulated') return createSimulatedProvider();
  return createStripeProvider({
    apiKey: config.stripeSecretKey ?? '',
    apiBase: config.stripeApiBase,
    apiVersion: config.stripeApiVersion,
    timeoutMs: config.stripeTimeoutMs,
    maxRetries: config.stripeMaxRetries,
  });
}
