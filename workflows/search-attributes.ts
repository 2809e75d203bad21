import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ONBOARDING_STATE_SEARCH_ATTRIBUTE, VERIFICATION_STATE_SEARCH_ATTRIBUTE } from '../src/onboarding-policy';

/** Lets operators filter onboarding runs in the Web UI: `OnboardingState = "FAILED"`. */
export const OnboardingStateKey = defineSearchAttributeKey(ONBOARDING_STATE_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);

/** Lets operators list verification runs by state: `VerificationState = "PENDING"` (waiting), "VERIFIED", "EXPIRED". */
export const VerificationStateKey = defineSearchAttributeKey(VERIFICATION_STATE_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
