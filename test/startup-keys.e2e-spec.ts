/** `jwks.requireAtStartup`: the start fails when the keys cannot be had, and waits for them. */
import { Test } from '@nestjs/testing';
import { AuthModule } from '../lib/index.js';
import { createScenarioModule } from './scenario/scenario-app.js';
import { CapturingLogger } from './support/capturing-logger.js';
import { JwksServer } from './support/jwks-server.js';

const AUDIENCE = 'api://startup';

async function start(
  jwks: JwksServer,
  requireAtStartup: boolean,
  logger = new CapturingLogger(),
): Promise<{ error: unknown; fetchedBeforeInit: number }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      createScenarioModule(
        AuthModule.forRoot({
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          jwks: { requireAtStartup, timeout: 500 },
        }),
      ),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  let error: unknown;
  try {
    await app.init();
  } catch (e) {
    error = e;
  }
  const fetchedBeforeInit = jwks.jwksRequests;
  await app.close();
  return { error, fetchedBeforeInit };
}

describe('jwks.requireAtStartup', () => {
  let jwks: JwksServer;
  beforeEach(async () => {
    jwks = await JwksServer.start();
  });
  afterEach(() => jwks.close());

  it('stops the start with a clear message when the JWKS is down', async () => {
    jwks.setMode('down');
    const { error } = await start(jwks, true);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^nestjs-bearer: the issuer's keys could not be loaded at start \(.+\); jwks\.requireAtStartup is on\.$/,
    );
  });

  it('has the keys before the app starts when the JWKS answers', async () => {
    const { error, fetchedBeforeInit } = await start(jwks, true);
    expect(error).toBeUndefined();
    expect(fetchedBeforeInit).toBe(1);
  });

  it('by default, starts anyway (keys are fetched in the background once listening)', async () => {
    jwks.setMode('down');
    const logger = new CapturingLogger();
    const { error } = await start(jwks, false, logger);
    expect(error).toBeUndefined();
  });
});
