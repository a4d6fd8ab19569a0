import { SetMetadata } from '@nestjs/common';
import { STEP_UP_KEY } from '../auth.constants.js';
import type { AuthenticationRequirement } from '../bearer.errors.js';
import { readOwnClaim, type JwtClaims } from '../claims.js';

/**
 * Requires a strong or recent enough user authentication (RFC 9470 step-up): the token's
 * `acr` must be one of `acrValues`, and/or its `auth_time` no older than `maxAge` seconds.
 * Otherwise the answer is 401 `insufficient_user_authentication` with `acr_values` and/or
 * `max_age` in the challenge. A handler's requirement replaces its controller's.
 *
 * @example
 * @StepUp({ acrValues: ['urn:example:mfa'], maxAge: 300 })
 */
export const StepUp = (
  requirement: AuthenticationRequirement,
): MethodDecorator & ClassDecorator => {
  const { acrValues, maxAge } = requirement;
  if (acrValues === undefined && maxAge === undefined) {
    throw new TypeError('@StepUp(): give acrValues, maxAge or both.');
  }
  if (
    acrValues !== undefined &&
    (acrValues.length === 0 ||
      acrValues.some(
        (acr) =>
          typeof acr !== 'string' ||
          !/^[\x21-\x7E]+$/.test(acr) ||
          acr.includes('"') ||
          acr.includes('\\'),
      ))
  ) {
    throw new TypeError(
      '@StepUp(): acrValues must be non-empty strings of visible ASCII without quotes.',
    );
  }
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 0)) {
    throw new TypeError(
      '@StepUp(): maxAge must be a whole number of seconds (0 or more).',
    );
  }
  return SetMetadata(STEP_UP_KEY, Object.freeze({ ...requirement }));
};

/**
 * Whether the claims meet a step-up requirement: `acr` one of `acrValues`, and `auth_time`
 * (a number) no older than `maxAge` seconds, give or take `clockTolerance` (RFC 9470
 * section 3, OpenID Connect Core section 2).
 *
 * With `maxAge`, an `auth_time` in the future, or later than the token's own `iat`, is
 * refused: the user cannot have authenticated after the token was issued, and such a
 * time would otherwise look fresh for as long as the token lives.
 */
export function meetsAuthenticationRequirement(
  claims: JwtClaims,
  requirement: AuthenticationRequirement,
  clockTolerance: number,
  nowSeconds: number = Date.now() / 1000,
): boolean {
  const { acrValues, maxAge } = requirement;
  if (acrValues !== undefined) {
    const acr = readOwnClaim(claims, 'acr');
    if (typeof acr !== 'string' || !acrValues.includes(acr)) return false;
  }
  if (maxAge !== undefined) {
    const authTime = readOwnClaim(claims, 'auth_time');
    if (typeof authTime !== 'number' || !Number.isFinite(authTime))
      return false;
    if (authTime > nowSeconds + clockTolerance) return false;
    const iat = readOwnClaim(claims, 'iat');
    if (
      typeof iat === 'number' &&
      Number.isFinite(iat) &&
      authTime > iat + clockTolerance
    ) {
      return false;
    }
    if (nowSeconds - authTime > maxAge + clockTolerance) return false;
  }
  return true;
}
