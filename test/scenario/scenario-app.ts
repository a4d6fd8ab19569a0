import { Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AuthModule, type AuthModuleOptions } from '../../lib/index.js';
import {
  CombinedScopesController,
  ScenarioController,
} from './scenario.controllers.js';

/** Starts the scenario app in-process on 127.0.0.1 with `AuthModule.forRoot(options)`. */
export async function startScenarioApp(
  options: AuthModuleOptions,
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    imports: [AuthModule.forRoot(options)],
    controllers: [ScenarioController, CombinedScopesController],
  })
  class ScenarioModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [ScenarioModule],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}
