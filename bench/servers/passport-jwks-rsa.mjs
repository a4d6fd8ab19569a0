// Variant B: the classic Nest recipe. @nestjs/passport's AuthGuard('jwt') over a
// passport-jwt strategy whose key comes from jwks-rsa's passportJwtSecret.
import { Injectable, UseGuards } from '@nestjs/common';
import { AuthGuard, PassportModule, PassportStrategy } from '@nestjs/passport';
import { passportJwtSecret } from 'jwks-rsa';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { createAppModule, readAuthEnv, serve } from './common.mjs';

const { issuer, audience, jwksUri } = readAuthEnv();

class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor() {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: passportJwtSecret({
        cache: true,
        rateLimit: true,
        jwksRequestsPerMinute: 5,
        jwksUri,
      }),
      issuer,
      audience,
      algorithms: ['RS256'],
    });
  }

  validate(payload) {
    return payload;
  }
}
Injectable()(JwtStrategy);

await serve(
  createAppModule({
    imports: [PassportModule],
    providers: [JwtStrategy],
    controllerDecorators: [UseGuards(AuthGuard('jwt'))],
  }),
);
