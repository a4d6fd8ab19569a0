/**
 * README "Roles from your IdP": the example exactly as printed there, but for the import of
 * the package from the sources. test/roles-readme.e2e-spec.ts checks that the two agree and
 * runs it against a loopback issuer (AUTH_ISSUER).
 */
import { Controller, Delete, Get, Module, Param, Post } from '@nestjs/common';
import { AppRoles, AuthModule, Roles, Scopes } from '../../lib/index.js';

@Controller('reports')
export class ReportsController {
  // A signed-in user whose token grants the scope.
  @Scopes('reports.read')
  @Get()
  list() {
    return [{ id: 1, title: 'Q3' }];
  }

  // A client-credentials token that carries the role, never a user's.
  @AppRoles('reports.export')
  @Post('export')
  exportAll() {
    return { exported: 1 };
  }

  // The role, whoever holds it.
  @Roles('reports-admin')
  @Delete(':id')
  remove(@Param('id') id: string) {
    return { removed: id };
  }
}

@Module({
  imports: [
    AuthModule.forRoot({
      issuer: process.env.AUTH_ISSUER ?? 'https://sso.example.com/realms/acme',
      audience: 'reports-api',
      roleClaim: 'realm_access.roles', // Keycloak realm roles; see the table below
    }),
  ],
  controllers: [ReportsController],
})
export class ReportsModule {}
