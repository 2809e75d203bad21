import type { OnboardUserInput } from '../../../workflows/onboard-user';
import { oneStep, setState, withState } from './shared';

/** One local activity instead of three; PROCESSING and COMPLETED upserts as in the service. */
export const onboardUser = (input: OnboardUserInput) => withState(() => oneStep(input), () => setState('PROCESSING'));
