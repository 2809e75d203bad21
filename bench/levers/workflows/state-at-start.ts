import type { OnboardUserInput } from '../../../workflows/onboard-user';
import { markProcessing, threeSteps, withState } from './shared';

/** The service's three steps; PROCESSING comes with the start (typedSearchAttributes), one upsert at the end. */
export const onboardUser = (input: OnboardUserInput) => withState(() => threeSteps(input), markProcessing);
