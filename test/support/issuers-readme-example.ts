/**
 * README "Several issuers and tenants": the example exactly as printed there, but for the
 * import of the package from the sources. test/issuers.e2e-spec.ts checks that the two agree
 * and runs it against loopback issuers (KEYCLOAK_ISSUER, AUTH0_ISSUER).
 */
import { Controller, Get, Module } from '@nestjs/common';
import {
  AuthModule,
  Principal,
  Roles,
  type BearerPrincipal,
  type IssuerConfig,
} from '../../lib/index.js';

@Controller('reports')
export class ReportsController {
  @Roles('reports-admin')
  @Get()
  list(@Principal() caller: BearerPrincipal) {
    return { sub: caller.sub, roles: caller.roles, scopes: caller.scopes };
  }
}

// Two identity providers at once, each with its own audience, keys and claim map.
@Module({
  imports: [
    AuthModule.forRoot({
      issuers: [
        {
          issuer:
            process.env.KEYCLOAK_ISSUER ??
            'https://sso.example.com/realms/acme',
          audience: 'reports-api',
          roleClaim: 'realm_access.roles',
        },
        {
          issuer: process.env.AUTH0_ISSUER ?? 'https://acme.eu.auth0.com/',
          audience: 'https://reports.acme.com',
          roleClaim: 'permissions',
        },
      ],
    }),
  ],
  controllers: [ReportsController],
})
export class ReportsModule {}

// Tenants known only at run time (rows of a table, say). Each issuer is asked about once
// per cacheMaxAge; an issuer it does not know is refused before anything is fetched.
export const tenants = new Map<string, IssuerConfig>();

@Module({
  imports: [
    AuthModule.forRoot({
      issuers: {
        resolve: (issuer) => tenants.get(issuer),
        maxIssuers: 1000,
        cacheMaxAge: 300,
      },
      // The defaults of every tenant's configuration.
      audience: 'reports-api',
      roleClaim: 'realm_access.roles',
    }),
  ],
  controllers: [ReportsController],
})
export class TenantReportsModule {}
