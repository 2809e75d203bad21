import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ONBOARDING_STATE_SEARCH_ATTRIBUTE, VERIFICATION_STATE_SEARCH_ATTRIBUTE } from '../onboarding-policy';

const GRPC_ALREADY_EXISTS = 6;

/**
 * Registers the search attributes the workflow sets; an unregistered one would fail every
 * workflow task. Idempotent. Temporal Cloud registers them through its own control plane, so
 * there a permission error is reported and the caller decides.
 */
export async function ensureSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<void> {
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: {
        [ONBOARDING_STATE_SEARCH_ATTRIBUTE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        [VERIFICATION_STATE_SEARCH_ATTRIBUTE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_ALREADY_EXISTS) return;
    throw err;
  }
}
