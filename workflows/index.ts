// Everything exported here runs inside Temporal's deterministic sandbox.
export { onboardUser } from './onboard-user';
export { verifyEmail } from './verify-email';
