/**
 * Points an app's `AuthModule` at other options inside `Test.createTestingModule()`.
 */
import type { AuthModuleOptions } from '../auth-options.js';

/**
 * The value of `AUTH_MODULE_OPTIONS`, the provider `forRoot()` and `forRootAsync()` fill.
 *
 * Written out rather than imported: the provider is made by `ConfigurableModuleBuilder`
 * in a file that loads `@nestjs/common`, and the kit loads no Nest code of its own. A spec
 * checks that the two stay equal.
 */
export const AUTH_MODULE_OPTIONS_TOKEN = 'BEARER_AUTH_MODULE_OPTIONS';

/**
 * What {@link overrideAuthModuleOptions} needs of a builder: the `overrideProvider()` of
 * `@nestjs/testing`'s `TestingModuleBuilder`.
 */
export interface ProviderOverridingBuilder<Builder> {
  overrideProvider(token: string): { useValue(value: unknown): Builder };
}

/**
 * Replaces the options of the app's `AuthModule.forRoot()` or `forRootAsync()` with
 * `options`, and returns the builder for more chaining. The module validates them at
 * `compile()`, as it does its own.
 *
 * @example
 * const moduleRef = await overrideAuthModuleOptions(
 *   Test.createTestingModule({ imports: [AppModule] }),
 *   issuer.authModuleOptions(),
 * ).compile();
 */
export function overrideAuthModuleOptions<
  Builder extends ProviderOverridingBuilder<Builder>,
>(builder: Builder, options: AuthModuleOptions): Builder {
  return builder.overrideProvider(AUTH_MODULE_OPTIONS_TOKEN).useValue(options);
}
