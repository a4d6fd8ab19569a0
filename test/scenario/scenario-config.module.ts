import {
  Inject,
  Injectable,
  Module,
  type ConfigurableModuleOptionsFactory,
  type DynamicModule,
} from '@nestjs/common';
import type { AuthModuleOptions } from '../../lib/index.js';

const SCENARIO_SETTINGS = Symbol('scenario-settings');

/** A stand-in for `@nestjs/config`'s `ConfigService`: typed settings by key. */
@Injectable()
export class ScenarioConfigService {
  constructor(
    @Inject(SCENARIO_SETTINGS) private readonly settings: AuthModuleOptions,
  ) {}

  get<K extends keyof AuthModuleOptions>(name: K): AuthModuleOptions[K] {
    return this.settings[name];
  }
}

/** An options factory for `forRootAsync({ useClass })` and `{ useExisting }`. */
@Injectable()
export class ScenarioAuthOptionsFactory implements ConfigurableModuleOptionsFactory<
  AuthModuleOptions,
  'create'
> {
  constructor(private readonly config: ScenarioConfigService) {}

  create(): AuthModuleOptions {
    return {
      issuer: this.config.get('issuer'),
      audience: this.config.get('audience'),
      jwksUri: this.config.get('jwksUri'),
      realm: this.config.get('realm'),
    };
  }
}

/** A ConfigModule-like provider module: settings in, a config service (and a factory) out. */
@Module({})
export class ScenarioConfigModule {
  static register(settings: AuthModuleOptions): DynamicModule {
    return {
      module: ScenarioConfigModule,
      providers: [
        { provide: SCENARIO_SETTINGS, useValue: settings },
        ScenarioConfigService,
        ScenarioAuthOptionsFactory,
      ],
      exports: [ScenarioConfigService, ScenarioAuthOptionsFactory],
    };
  }
}
