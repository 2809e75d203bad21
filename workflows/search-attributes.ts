import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Lets operators filter onboarding runs in the Web UI: `OnboardingState = "FAILED"`. */
export const OnboardingStateKey = defineSearchAttributeKey('OnboardingState', SearchAttributeType.KEYWORD);
