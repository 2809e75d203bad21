import type { OnboardUserInput } from '../../../workflows/onboard-user';
import { markProcessing, oneStep, withState } from './shared';

/** Both: one local activity, PROCESSING set at start, one upsert at the end. */
export const onboardUser = (input: OnboardUserInput) => withState(() => oneStep(input), markProcessing);
