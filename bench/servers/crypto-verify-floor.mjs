// Not a peer: the floor of any guard that really verifies a token. It fetches the JWKS once at
// start and keeps one KeyObject per kid; per request it splits the token, decodes header and
// payload, checks alg, iss, aud and exp, and calls crypto.verify. No cache, no challenge, no
// refetch, no typ/nbf/iat/crit or encoding checks: what is left is the cost no verifier can
// avoid. A refusal throws UnauthorizedException, as servers/nest-exception-floor.mjs does.
import { UnauthorizedException, UseGuards } from '@nestjs/common';
import { createPublicKey, verify } from 'node:crypto';
import { createAppModule, readAuthEnv, serve } from './common.mjs';

const { issuer, audience, jwksUri } = readAuthEnv();

const response = await fetch(jwksUri);
if (response.status !== 200) {
  throw new Error(`JWKS fetch failed: HTTP ${response.status}`);
}
const { keys: jwks } = await response.json();
/** kid -> KeyObject, built once. */
const keys = new Map(
  jwks
    .filter((jwk) => jwk.kty === 'RSA' && typeof jwk.kid === 'string')
    .map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]),
);

function deny() {
  return new UnauthorizedException({
    statusCode: 401,
    error: 'invalid_token',
    error_description: 'The access token is invalid.',
  });
}

function decodeJson(segment) {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

class CryptoVerifyGuard {
  canActivate(context) {
    const request = context.switchToHttp().getRequest();
    const authorization = request.headers.authorization;
    if (
      typeof authorization !== 'string' ||
      !authorization.startsWith('Bearer ')
    ) {
      throw deny();
    }
    const token = authorization.slice(7);
    const first = token.indexOf('.');
    const second = token.indexOf('.', first + 1);
    if (first < 1 || second < 0 || token.indexOf('.', second + 1) !== -1) {
      throw deny();
    }
    const header = decodeJson(token.slice(0, first));
    if (header?.alg !== 'RS256') throw deny();
    const key = keys.get(header.kid);
    if (key === undefined) throw deny();
    const claims = decodeJson(token.slice(first + 1, second));
    if (
      claims === undefined ||
      claims === null ||
      claims.iss !== issuer ||
      !(Array.isArray(claims.aud)
        ? claims.aud.includes(audience)
        : claims.aud === audience) ||
      typeof claims.exp !== 'number' ||
      Date.now() / 1000 >= claims.exp
    ) {
      throw deny();
    }
    const valid = verify(
      'sha256',
      Buffer.from(token.slice(0, second), 'latin1'),
      key,
      Buffer.from(token.slice(second + 1), 'base64url'),
    );
    if (!valid) throw deny();
    request.user = claims;
    return true;
  }
}

await serve(
  createAppModule({ controllerDecorators: [UseGuards(CryptoVerifyGuard)] }),
);
