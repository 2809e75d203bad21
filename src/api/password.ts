import { type Algorithm, hash, type Options } from '@node-rs/argon2';

/** OWASP's first argon2id setting: 19 MiB, 2 passes, 1 lane. */
export const ARGON2ID_OPTIONS: Options = {
  algorithm: 2 as Algorithm, // Argon2id; a const enum cannot be read across isolated modules
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/** The only form in which a password leaves the API process: an argon2id PHC string. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2ID_OPTIONS);
}
