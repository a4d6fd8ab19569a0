import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AUTH_MODULE_OPTIONS } from '../auth.module-definition.js';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import { AuthModule } from '../auth.module.js';
import {
  AUTH_MODULE_OPTIONS_TOKEN,
  overrideAuthModuleOptions,
  type ProviderOverridingBuilder,
} from './override-auth-module.js';

const PRODUCTION = {
  issuer: 'https://login.example.com/',
  audience: 'api://production',
};
const TEST = { issuer: 'http://127.0.0.1:1', audience: 'api://test' };

describe('overrideAuthModuleOptions', () => {
  it('overrides the very provider the module definition makes', () => {
    expect(AUTH_MODULE_OPTIONS_TOKEN).toBe(AUTH_MODULE_OPTIONS);
  });

  it('asks the builder to override that provider with the options, and returns what it returns', () => {
    const calls: unknown[] = [];
    class FakeBuilder implements ProviderOverridingBuilder<FakeBuilder> {
      overrideProvider(token: string): {
        useValue(value: unknown): FakeBuilder;
      } {
        return {
          useValue: (value: unknown) => {
            calls.push([token, value]);
            return this;
          },
        };
      }
    }
    const builder = new FakeBuilder();
    expect(overrideAuthModuleOptions(builder, TEST)).toBe(builder);
    expect(calls).toEqual([[AUTH_MODULE_OPTIONS, TEST]]);
  });

  it.each([
    ['forRoot', AuthModule.forRoot(PRODUCTION)],
    [
      'forRootAsync',
      AuthModule.forRootAsync({
        useFactory: () => Promise.resolve(PRODUCTION),
      }),
    ],
  ])(
    'replaces the options of AuthModule.%s in a testing module',
    async (_name, auth) => {
      @Module({ imports: [auth] })
      class AppModule {}
      const moduleRef = await overrideAuthModuleOptions(
        Test.createTestingModule({ imports: [AppModule] }),
        TEST,
      ).compile();
      try {
        const resolved = moduleRef.get<ResolvedAuthOptions>(
          RESOLVED_AUTH_OPTIONS,
        );
        expect(resolved.issuers).toEqual([TEST.issuer]);
        expect(resolved.audiences).toEqual([TEST.audience]);
      } finally {
        await moduleRef.close();
      }
    },
  );

  it('lets the module validate the options at compile()', async () => {
    @Module({ imports: [AuthModule.forRoot(PRODUCTION)] })
    class AppModule {}
    await expect(
      overrideAuthModuleOptions(
        Test.createTestingModule({ imports: [AppModule] }),
        { issuer: TEST.issuer, audience: '' },
      ).compile(),
    ).rejects.toThrow(/option "audience"/);
  });
});
