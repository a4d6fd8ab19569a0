import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { KeyObject } from 'node:crypto';
import { Strategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import {
  BEARER_STATE,
  BEARER_STRATEGY,
  RESOLVED_AUTH_OPTIONS,
} from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import type { JwtClaims } from './claims.js';
import { TENANT_PLACEHOLDER, type InspectedToken } from './token-policy.js';

/** What `BearerGuard` leaves on the request for the strategy. */
export interface BearerRequestState {
  readonly token: string;
  readonly inspected: InspectedToken;
  /** The issuer's key for the token's `kid`, looked up by the guard before passport runs. */
  readonly key: KeyObject;
}

type StatefulRequest = { [BEARER_STATE]?: BearerRequestState };

/** The guard's per-request state, or `undefined` outside `BearerGuard`. */
export function readBearerState(
  request: unknown,
): BearerRequestState | undefined {
  return (request as StatefulRequest)[BEARER_STATE];
}

/** Leaves the guard's per-request state on the request. */
export function writeBearerState(
  request: unknown,
  state: BearerRequestState,
): void {
  Object.defineProperty(request, BEARER_STATE, {
    value: state,
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

/**
 * passport-jwt verifies the signature and the registered claims with jsonwebtoken; keys
 * come from the issuer's JWKS through jwks-rsa, as `KeyObject`s cached per `kid`.
 *
 * `algorithms`, `issuer` and `audience` sit at the top level of the options: passport-jwt
 * overwrites those three inside `jsonWebTokenOptions` with its top-level values, so a
 * check placed there would be silently dropped.
 */
@Injectable()
export class JwtBearerStrategy extends PassportStrategy(
  Strategy,
  BEARER_STRATEGY,
) {
  constructor(@Inject(RESOLVED_AUTH_OPTIONS) options: ResolvedAuthOptions) {
    const strategyOptions: StrategyOptionsWithoutRequest = {
      // BearerGuard has already extracted the token (RFC 6750 section 2) and checked it.
      jwtFromRequest: (request: unknown) =>
        readBearerState(request)?.token ?? null,
      secretOrKeyProvider: (request: unknown, _rawJwt: string, done) => {
        const state = readBearerState(request);
        if (state === undefined) {
          done(new Error('BearerGuard state is missing'));
          return;
        }
        // jsonwebtoken takes a KeyObject; passport-jwt's typings predate that.
        done(null, state.key as unknown as string);
      },
      algorithms: [...options.algorithms],
      // A `{tenantid}` issuer has no fixed value for jsonwebtoken; the token policy then
      // checks `iss` against the token's own signed `tid` before any key is looked up.
      issuer: options.issuers.some((issuer) =>
        issuer.includes(TENANT_PLACEHOLDER),
      )
        ? undefined
        : [...options.issuers],
      audience: [...options.audiences],
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: options.clockTolerance },
    };
    super(strategyOptions);
  }

  /** The verified payload becomes passport's user; the guard turns it into a principal. */
  validate(payload: JwtClaims): JwtClaims {
    return payload;
  }
}
